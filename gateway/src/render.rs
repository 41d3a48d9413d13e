//! `gateway render`: the manifests that give a real cluster's ingress gateway the routing of a
//! config directory. The router's WasmPlugin and TrafficExtension (from the router entry of
//! `wasmplugins/modules.yaml`, the image pinned in `wasmplugins/wasmplugin/router.yaml`) carry
//! in `pluginConfig` the VirtualServices bound to the chosen Gateway and the registry's service
//! ports, and select that Gateway's pods; the EnvoyFilter is `wasmplugins/envoyfilter`'s, for
//! the same pods. The config is exactly the one `make gateway` gives the router for the same
//! directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distribution::istio::manifests;
use serde_json::Value;

use crate::error::{Errors, ResourceError};
use crate::kinds::gateway::Gateway;
use crate::kinds::virtual_service;
use crate::plan::{self, Resources};
use crate::service_ports;

/// The EnvoyFilter the router needs, relative to the repository.
pub const ENVOY_FILTER: &str = "wasmplugins/envoyfilter/router-cluster-header.yaml";
/// The manifest whose `url` pins the router's image, relative to the repository.
pub const PINNED_ROUTER: &str = "wasmplugins/wasmplugin/router.yaml";

/// The pods `wasmplugins/` selects, as its EnvoyFilter writes them.
const DEFAULT_SELECTOR: &str = "  workloadSelector:\n    labels:\n      istio: ingressgateway\n";

pub struct RenderOptions {
    pub config_dir: PathBuf,
    /// `namespace/name` (or a name) of the Gateway to render for; unset, the one `make gateway`
    /// serves (the first with a plain HTTP server), else the first Gateway.
    pub gateway: Option<String>,
}

/// The manifests, each with its path relative to the output directory.
pub struct Rendered {
    pub files: Vec<(PathBuf, String)>,
    /// What was left aside, and the router's warnings.
    pub notes: Vec<String>,
    /// `namespace/name` of the Gateway rendered for.
    pub gateway: String,
}

pub fn render(options: &RenderOptions, repository: &Path) -> Result<Rendered, Errors> {
    let (parsed, mut notes) = plan::load(&options.config_dir)?;
    let service_ports =
        service_ports::collect(&parsed.service_entries, &parsed.services, &mut notes);
    plan::check_virtual_services(&parsed, &service_ports)?;
    let gateway = chosen_gateway(&parsed, options, &mut notes)?;
    for extension in &parsed.extensions {
        notes.push(format!(
            "{}: {}: not rendered (render writes the router's manifests only; apply it as it is)",
            extension.origin.file.display(),
            extension.origin
        ));
    }
    let config = virtual_service::router_config(
        &parsed.virtual_services,
        Some(&gateway.origin.qualified_name()),
        &service_ports,
    );
    let origin = parsed
        .virtual_services
        .first()
        .map_or_else(|| gateway.origin.clone(), |vs| vs.origin.clone());
    notes.extend(virtual_service::check_router_config(
        &config,
        &parsed.virtual_services,
        &origin,
        "spec",
    )?);
    let files = manifests_for(&config, &gateway.selector, &options.config_dir, repository)?;
    Ok(Rendered {
        files,
        notes,
        gateway: gateway.origin.qualified_name(),
    })
}

/// Writes `rendered` under `output`, returning the paths written.
pub fn write(rendered: &Rendered, output: &Path) -> Result<Vec<PathBuf>, ResourceError> {
    let mut written = Vec::new();
    for (relative, text) in &rendered.files {
        let path = output.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| ResourceError::in_file(parent, error))?;
        }
        std::fs::write(&path, text).map_err(|error| ResourceError::in_file(&path, error))?;
        written.push(path);
    }
    Ok(written)
}

fn chosen_gateway<'a>(
    parsed: &'a Resources,
    options: &RenderOptions,
    notes: &mut Vec<String>,
) -> Result<&'a Gateway, ResourceError> {
    let dir = &options.config_dir;
    if options.gateway.as_deref() == Some(plan::MESH) {
        return Err(ResourceError::in_file(
            dir,
            "--gateway mesh: render writes manifests for a gateway's pods, not for sidecars",
        ));
    }
    if let Some(wanted) = &options.gateway {
        return parsed
            .gateways
            .iter()
            .find(|gateway| {
                gateway.origin.qualified_name() == *wanted || gateway.origin.name == *wanted
            })
            .ok_or_else(|| {
                ResourceError::in_file(dir, format!("--gateway {wanted}: no such Gateway"))
            });
    }
    // The same choice as `make gateway` when it has one.
    if let Ok((gateway, _, _)) = plan::served_gateway(&parsed.gateways, dir, None) {
        return Ok(gateway);
    }
    let first = parsed.gateways.first().ok_or_else(|| {
        ResourceError::in_file(
            dir,
            "no Gateway: render needs the Gateway whose VirtualServices the router serves",
        )
    })?;
    notes.push(format!(
        "rendering for {} (no Gateway has a plain HTTP server; choose with --gateway)",
        first.origin
    ));
    Ok(first)
}

fn manifests_for(
    config: &Value,
    selector: &BTreeMap<String, String>,
    config_dir: &Path,
    repository: &Path,
) -> Result<Vec<(PathBuf, String)>, ResourceError> {
    let template_path = repository.join(manifests::TEMPLATE);
    let in_template = |error: &dyn std::fmt::Display| ResourceError::in_file(&template_path, error);
    let mut template = manifests::load_template(repository).map_err(|e| in_template(&e))?;
    let mut router = template
        .modules
        .iter()
        .position(|module| module.module == "router")
        .map(|index| template.modules.swap_remove(index))
        .ok_or_else(|| in_template(&"no module `router`"))?;
    router.plugin_config = serde_yaml_ng::to_value(config).map_err(|e| in_template(&e))?;
    template.match_labels = selector
        .iter()
        .map(|(key, value)| (key.clone().into(), value.clone().into()))
        .collect();

    let pinned_path = repository.join(PINNED_ROUTER);
    let pinned_text = std::fs::read_to_string(&pinned_path)
        .map_err(|error| ResourceError::in_file(&pinned_path, error))?;
    let (registry, digest) = manifests::pinned(&pinned_text, "router").ok_or_else(|| {
        ResourceError::in_file(&pinned_path, "no `url: oci://…/router@sha256:…` line")
    })?;
    let header = format!(
        "# Generated by `make render CONFIG={}`\n# from the Istio resources there and {}: render \
         again after editing them.",
        config_dir.display(),
        manifests::TEMPLATE
    );
    let mut files = Vec::new();
    for rendered in
        manifests::render(&template, &router, &registry, &digest).map_err(|e| in_template(&e))?
    {
        let text = match rendered.text.split_once('\n') {
            Some((_generated_by, rest)) => format!("{header}\n{rest}"),
            None => rendered.text,
        };
        let relative = rendered
            .path
            .strip_prefix("wasmplugins")
            .map_or_else(|_| rendered.path.clone(), Path::to_path_buf);
        files.push((relative, text));
    }

    let filter_path = repository.join(ENVOY_FILTER);
    let filter = std::fs::read_to_string(&filter_path)
        .map_err(|error| ResourceError::in_file(&filter_path, error))?;
    let labels: String = selector
        .iter()
        .map(|(key, value)| {
            format!(
                "      {}: {}\n",
                serde_json::Value::from(key.as_str()),
                serde_json::Value::from(value.as_str())
            )
        })
        .collect();
    if !filter.contains(DEFAULT_SELECTOR) {
        return Err(ResourceError::in_file(
            &filter_path,
            "its workloadSelector is no longer `istio: ingressgateway`: update render.rs",
        ));
    }
    let filter = filter.replacen(
        DEFAULT_SELECTOR,
        &format!("  workloadSelector:\n    labels:\n{labels}"),
        1,
    );
    if selector.is_empty() {
        return Err(ResourceError::in_file(
            config_dir,
            "the Gateway has no selector: the manifests would select no pods",
        ));
    }
    files.push((
        PathBuf::from("envoyfilter/router-cluster-header.yaml"),
        format!("{header}\n{filter}"),
    ));
    Ok(files)
}
