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

    /// Merges `patch` into the rendered bootstrap (after any earlier patch).
    pub fn extra(mut self, patch: Value) -> Self {
        add_patch(&mut self.extra, patch);
        self
    }

    /// The bootstrap exactly as Envoy will read it (with static listeners).
    pub fn to_json(&self) -> Value {
        self.render(None)
    }

    /// The bootstrap, with the listeners in the LDS file `lds_path` when given.
    fn render(&self, lds_path: Option<&Path>) -> Value {
        let static_listeners: Vec<Value> = match lds_path {
            Some(_) => Vec::new(),
            None => self.listeners.iter().map(Listener::to_json).collect(),
        };
        let mut bootstrap = json!({
            "admin": {
                "address": socket_address("127.0.0.1", 0),
            },
            "static_resources": {
                "listeners": static_listeners,
                "clusters": self.clusters.iter().map(Cluster::to_json).collect::<Vec<_>>(),
            },
            // Istio's bootstrap flags that change what a request means.
            "layered_runtime": {
                "layers": [{
                    "name": "istio-gateway-defaults",
                    "static_layer": gateway_defaults::runtime_flags(),
                }],
            },
        });
        if let Some(lds_path) = lds_path {
            // Dynamic resources need a node identity, even from a file.
            bootstrap["node"] = json!({ "id": "envoy-test", "cluster": "envoy-test" });
            bootstrap["dynamic_resources"] = json!({
                "lds_config": {
                    "resource_api_version": "V3",
                    "path_config_source": { "path": lds_path },
                },
            });
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

    /// Writes the rendered config (and, for dynamic listeners, the LDS file) into `dir`;
    /// returns the config's path and the LDS file's.
    pub(crate) fn write_to(&self, dir: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
        let lds_path = self.dynamic_listeners.then(|| dir.join(LDS_FILE));
        if let Some(lds_path) = &lds_path {
            write_listeners(lds_path, &self.listeners)?;
        }
        let path = dir.join(CONFIG_FILE);
        let text = serde_json::to_string_pretty(&self.render(lds_path.as_deref()))
            .map_err(|e| Error::io("rendering the bootstrap", e.into()))?;
        std::fs::write(&path, text)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok((path, lds_path))
    }
}

/// File name of the LDS resources inside an Envoy's scratch directory.
const LDS_FILE: &str = "lds.json";

/// Writes `listeners` as an LDS `DiscoveryResponse` to `path`, by rename, which is the file
/// change Envoy's path config source watches for.
pub(crate) fn write_listeners(path: &Path, listeners: &[Listener]) -> Result<()> {
    let resources: Vec<Value> = listeners
        .iter()
        .map(|listener| {
            let mut resource = listener.to_json();
            resource["@type"] = json!("type.googleapis.com/envoy.config.listener.v3.Listener");
            resource
        })
        .collect();
    let text = serde_json::to_string_pretty(&json!({ "resources": resources }))
        .map_err(|e| Error::io("rendering the listeners", e.into()))?;
    let staging = path.with_extension("staging");
    std::fs::write(&staging, text)
        .map_err(|e| Error::io(format!("writing {}", staging.display()), e))?;
    std::fs::rename(&staging, path)
        .map_err(|e| Error::io(format!("moving {} into place", path.display()), e))
}
