//! The typed description of an Envoy, rendered into a v3 bootstrap.
//!
//! Envoy reads the bootstrap as YAML, and JSON is YAML, so the rendering is plain
//! `serde_json`: no YAML library, and the file Envoy reads is exactly what
//! [`Bootstrap::to_json`] shows.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::envoy_json::{add_patch, merge_json, socket_address};
use crate::error::{Error, Result};
use crate::gateway_defaults;
use crate::listener::Listener;

/// File name of the rendered config inside an Envoy's scratch directory.
const CONFIG_FILE: &str = "envoy.json";

/// Everything one Envoy runs: listeners, clusters, stats tags, plus raw JSON for the
/// rest of the bootstrap.
///
/// The admin interface always listens on `127.0.0.1:0`; the harness learns its port
/// from `--admin-address-path`, so no port is ever guessed. The runtime carries Istio's
/// bootstrap flags ([`gateway_defaults::runtime_flags`]).
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// `static_resources.listeners`.
    pub listeners: Vec<Listener>,
    /// `static_resources.clusters`.
    pub clusters: Vec<Cluster>,
    /// `stats_config.stats_tags`; Envoy's default tags stay on.
    pub stats_tags: Vec<StatsTag>,
    /// Serve `listeners` through LDS from a file the harness writes, so a test can update them
    /// while Envoy runs ([`crate::Envoy::update_listeners`]).
    pub dynamic_listeners: bool,
    /// Serve `clusters` through CDS from a file the harness writes, so they can be updated
    /// while Envoy runs ([`crate::Envoy::update_clusters`]). Clusters that an
    /// [`Bootstrap::extra`] patch adds stay static.
    pub dynamic_clusters: bool,
    /// Raw JSON merged into the rendered bootstrap last, for anything the typed fields
    /// do not cover: objects merge key by key, arrays are appended (so a patch can add
    /// a cluster), `null` changes nothing, anything else replaces what was there.
    pub extra: Option<Value>,
}

/// A custom stats tag. Envoy cuts `regex`'s first capture group out of the stat name
/// and uses the second (or else the first) as the value of the tag `tag_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsTag {
    /// The tag's name, e.g. `filter_name`.
    pub tag_name: String,
    /// Envoy's `stats_tags[].regex`.
    pub regex: String,
}

impl Bootstrap {
    /// An empty bootstrap: an admin interface and nothing else.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: Listener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Adds a cluster.
    pub fn cluster(mut self, cluster: Cluster) -> Self {
        self.clusters.push(cluster);
        self
    }

    /// Adds a custom stats tag.
    pub fn stats_tag(mut self, tag_name: impl Into<String>, regex: impl Into<String>) -> Self {
        self.stats_tags.push(StatsTag {
            tag_name: tag_name.into(),
            regex: regex.into(),
        });
        self
    }

    /// The stats tags that turn the metrics module's `name=.=value;.;` tags into Prometheus
    /// labels: one per built-in label and one per user dimension in `dimensions`, with the
    /// regex Istio's bootstrap installs for each of its `extraStatTags`.
    pub fn metrics_stats_tags<S: AsRef<str>>(mut self, dimensions: &[S]) -> Self {
        let builtin = engine::metrics::labels::BUILTIN_LABELS.iter().copied();
        for label in builtin.chain(dimensions.iter().map(AsRef::as_ref)) {
            self = self.stats_tag(label, engine::metrics::names::stats_tag_regex(label));
        }
        self
    }

    /// Like [`Bootstrap::metrics_stats_tags`], for the labels of every naming mode (gateway,
    /// istio, istioRoutes), so one Envoy can run the module in all of them.
    pub fn metrics_stats_tags_every_mode<S: AsRef<str>>(mut self, dimensions: &[S]) -> Self {
        let labels = engine::metrics::naming::all_labels();
        for label in labels
            .into_iter()
            .chain(dimensions.iter().map(AsRef::as_ref))
        {
            self = self.stats_tag(label, engine::metrics::names::stats_tag_regex(label));
        }
        self
    }

    /// Serves the listeners through LDS from a file, so they can be updated while Envoy runs.
    pub fn with_dynamic_listeners(mut self) -> Self {
        self.dynamic_listeners = true;
        self
    }

    /// Serves the clusters through CDS from a file, so they can be updated while Envoy runs.
    pub fn with_dynamic_clusters(mut self) -> Self {
        self.dynamic_clusters = true;
        self
    }

    /// Merges `patch` into the rendered bootstrap (after any earlier patch).
    pub fn extra(mut self, patch: Value) -> Self {
        add_patch(&mut self.extra, patch);
        self
    }

    /// The bootstrap exactly as Envoy will read it, with static listeners and clusters.
    pub fn to_json(&self) -> Value {
        self.render(&DynamicFiles::default())
    }

    /// The bootstrap, with the listeners and clusters in the LDS and CDS files of `files`,
    /// where given.
    fn render(&self, files: &DynamicFiles) -> Value {
        let static_listeners: Vec<Value> = match files.lds {
            Some(_) => Vec::new(),
            None => self.listeners.iter().map(Listener::to_json).collect(),
        };
        let static_clusters: Vec<Value> = match files.cds {
            Some(_) => Vec::new(),
            None => self.clusters.iter().map(Cluster::to_json).collect(),
        };
        let mut bootstrap = json!({
            "admin": {
                "address": socket_address("127.0.0.1", 0),
            },
            "static_resources": {
                "listeners": static_listeners,
                "clusters": static_clusters,
            },
            // Istio's bootstrap flags that change what a request means.
            "layered_runtime": {
                "layers": [{
                    "name": "istio-gateway-defaults",
                    "static_layer": gateway_defaults::runtime_flags(),
                }],
            },
        });
        if files.lds.is_some() || files.cds.is_some() {
            // Dynamic resources need a node identity, even from a file.
            bootstrap["node"] = json!({ "id": "envoy-test", "cluster": "envoy-test" });
            let source = |path: &Path| {
                json!({
                    "resource_api_version": "V3",
                    "path_config_source": { "path": path },
                })
            };
            let mut dynamic = json!({});
            if let Some(lds) = &files.lds {
                dynamic["lds_config"] = source(lds);
            }
            if let Some(cds) = &files.cds {
                dynamic["cds_config"] = source(cds);
            }
            bootstrap["dynamic_resources"] = dynamic;
        }
        if !self.stats_tags.is_empty() {
            let tags: Vec<Value> = self
                .stats_tags
                .iter()
                .map(|tag| json!({ "tag_name": tag.tag_name, "regex": tag.regex }))
                .collect();
            merge_json(
                &mut bootstrap,
                json!({ "stats_config": { "stats_tags": tags } }),
            );
        }
        if let Some(extra) = &self.extra {
            merge_json(&mut bootstrap, extra.clone());
        }
        bootstrap
    }

    /// Writes the rendered config (and, for dynamic listeners and clusters, the LDS and CDS
    /// files) into `dir`; returns the config's path and the dynamic files'.
    pub(crate) fn write_to(&self, dir: &Path) -> Result<(PathBuf, DynamicFiles)> {
        let files = DynamicFiles {
            lds: self.dynamic_listeners.then(|| dir.join(LDS_FILE)),
            cds: self.dynamic_clusters.then(|| dir.join(CDS_FILE)),
        };
        if let Some(lds) = &files.lds {
            write_listeners(lds, &self.listeners)?;
        }
        if let Some(cds) = &files.cds {
            write_clusters(cds, &self.clusters)?;
        }
        let path = dir.join(CONFIG_FILE);
        let text = serde_json::to_string_pretty(&self.render(&files))
            .map_err(|e| Error::io("rendering the bootstrap", e.into()))?;
        std::fs::write(&path, text)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok((path, files))
    }
}

/// The files a running Envoy reads its dynamic resources from (`path_config_source`), `None`
/// for resources that are static.
#[derive(Debug, Clone, Default)]
pub(crate) struct DynamicFiles {
    /// The LDS file: the listeners.
    pub(crate) lds: Option<PathBuf>,
    /// The CDS file: the clusters.
    pub(crate) cds: Option<PathBuf>,
}

/// File name of the LDS resources inside an Envoy's scratch directory.
const LDS_FILE: &str = "lds.json";
/// File name of the CDS resources inside an Envoy's scratch directory.
const CDS_FILE: &str = "cds.json";

const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// Writes `listeners` as an LDS `DiscoveryResponse` to `path` (see [`write_resources`]).
pub(crate) fn write_listeners(path: &Path, listeners: &[Listener]) -> Result<()> {
    let resources = listeners.iter().map(Listener::to_json);
    write_resources(path, LISTENER_TYPE, resources, "listeners")
}

/// Writes `clusters` as a CDS `DiscoveryResponse` to `path` (see [`write_resources`]).
pub(crate) fn write_clusters(path: &Path, clusters: &[Cluster]) -> Result<()> {
    let resources = clusters.iter().map(Cluster::to_json);
    write_resources(path, CLUSTER_TYPE, resources, "clusters")
}

/// Writes `resources`, each tagged with `type_url`, as a `DiscoveryResponse` to `path`, by
/// rename: the file change Envoy's path config source watches for, and never a half-written
/// file for Envoy to read. `what` names them in an error.
fn write_resources(
    path: &Path,
    type_url: &str,
    resources: impl Iterator<Item = Value>,
    what: &str,
) -> Result<()> {
    let resources: Vec<Value> = resources
        .map(|mut resource| {
            resource["@type"] = json!(type_url);
            resource
        })
        .collect();
    let text = serde_json::to_string_pretty(&json!({ "resources": resources }))
        .map_err(|e| Error::io(format!("rendering the {what}"), e.into()))?;
    let staging = path.with_extension("staging");
    std::fs::write(&staging, text)
        .map_err(|e| Error::io(format!("writing {}", staging.display()), e))?;
    std::fs::rename(&staging, path)
        .map_err(|e| Error::io(format!("moving {} into place", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route_config::RouteConfig;

    #[test]
    fn dynamic_listeners_and_clusters_come_from_their_files() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let bootstrap = Bootstrap::new()
            .listener(Listener::new("main", RouteConfig::to_cluster("a")))
            .cluster(Cluster::new(
                "a",
                ["127.0.0.1:1".parse().expect("an address")],
            ))
            .with_dynamic_listeners()
            .with_dynamic_clusters();
        let (config, files) = bootstrap.write_to(dir.path()).expect("written");
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(config).expect("read")).expect("JSON");
        assert_eq!(config["static_resources"]["listeners"], json!([]));
        assert_eq!(config["static_resources"]["clusters"], json!([]));
        let (lds, cds) = (
            files.lds.expect("an LDS file"),
            files.cds.expect("a CDS file"),
        );
        let source = |path: &Path| json!({"resource_api_version": "V3", "path_config_source": {"path": path}});
        assert_eq!(config["dynamic_resources"]["lds_config"], source(&lds));
        assert_eq!(config["dynamic_resources"]["cds_config"], source(&cds));
        let read = |path: &Path| -> Value {
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
        };
        let clusters = read(&cds);
        assert_eq!(clusters["resources"][0]["@type"], json!(CLUSTER_TYPE));
        assert_eq!(clusters["resources"][0]["name"], json!("a"));
        assert_eq!(read(&lds)["resources"][0]["@type"], json!(LISTENER_TYPE));
        // Static ones stay as they were.
        let static_only = Bootstrap::new().cluster(Cluster::new("a", []));
        assert_eq!(
            static_only.to_json()["static_resources"]["clusters"][0]["name"],
            json!("a")
        );
        assert!(static_only.to_json().get("dynamic_resources").is_none());
    }
}
