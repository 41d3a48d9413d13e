//! The extensions of the gateway's HTTP chain: which apply, in which order, and what each
//! becomes: the wasm filter with its module fetched, Envoy's Lua filter, or, when the module
//! cannot be had, the RBAC filter istio-agent puts in its place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distribution::agent::cache::{ModuleCache, ModuleRequest};
use distribution::oci::image::check_wasm_binary;
use envoy_runner::{FailurePolicy, HttpFilter, WasmFilter};
use serde_json::json;

use crate::kinds::extension::{Code, Extension, FailStrategy, Phase, WasmCode};

/// The namespace of istio-ingressgateway's pods, which is also Istio's root namespace:
/// extensions elsewhere do not reach the gateway.
pub const GATEWAY_NAMESPACE: &str = "istio-system";

/// The listener an extension is matched against (Istio's `ListenerInfo` for a gateway).
pub struct Listener<'a> {
    /// The gateway pods' labels (the Gateway's `selector`).
    pub labels: &'a BTreeMap<String, String>,
    /// The Gateway server's port number.
    pub port: u32,
}

/// The extensions that apply to the gateway, in the order of its HTTP chain: by phase (AUTHN,
/// AUTHZ, STATS, unspecified), within a phase by descending `priority` (unset last), ties in
/// pilot's order of creation, here name then namespace (local files carry no creation time).
pub fn applicable(
    extensions: Vec<Extension>,
    listener: &Listener<'_>,
    notes: &mut Vec<String>,
) -> Vec<Extension> {
    let mut chosen: Vec<Extension> = extensions
        .into_iter()
        .filter(|extension| match skip_reason(extension, listener) {
            None => true,
            Some(reason) => {
                notes.push(format!(
                    "{}: {}: not applied: {reason}",
                    extension.origin.file.display(),
                    extension.origin
                ));
                false
            }
        })
        .collect();
    chosen.sort_by(|a, b| {
        (&a.origin.name, &a.origin.namespace).cmp(&(&b.origin.name, &b.origin.namespace))
    });
    // Stable: equal priorities keep the order above.
    chosen.sort_by_key(|extension| {
        (
            extension.phase,
            std::cmp::Reverse(extension.priority.unwrap_or(i32::MIN)),
        )
    });
    chosen
}

fn skip_reason(extension: &Extension, listener: &Listener<'_>) -> Option<String> {
    if extension.origin.namespace != GATEWAY_NAMESPACE {
        return Some(format!(
            "the gateway runs in {GATEWAY_NAMESPACE}, which is also the root namespace"
        ));
    }
    if extension.has_target_refs {
        return Some(
            "targetRef(s) select Gateway API gateways, not an Istio Gateway's pods".into(),
        );
    }
    if let Some((key, value)) = extension
        .match_labels
        .iter()
        .find(|(key, value)| listener.labels.get(*key) != Some(*value))
    {
        return Some(format!(
            "selector {key}={value} does not match the gateway's labels {:?}",
            listener.labels
        ));
    }
    let matches_traffic = extension.traffic_selectors.is_empty()
        || extension.traffic_selectors.iter().any(|selector| {
            selector.mode != "SERVER"
                && (selector.ports.is_empty() || selector.ports.contains(&listener.port))
        });
    if !matches_traffic {
        return Some(format!(
            "no match entry selects a gateway (CLIENT) listener on port {}",
            listener.port
        ));
    }
    if let Code::Wasm(wasm) = &extension.code {
        if wasm.network {
            return Some("type NETWORK: the gateway's listener is an HTTP filter chain".into());
        }
    }
    None
}

/// The module of `wasm` as a local file: `file://` paths as they are (as pilot hands them to
/// Envoy), remote ones through the cache.
pub fn module(wasm: &WasmCode, cache: &ModuleCache) -> Result<(PathBuf, String), String> {
    if let Some(path) = wasm.url.strip_prefix("file://") {
        let bytes = std::fs::read(path).map_err(|error| format!("reading {path}: {error}"))?;
        check_wasm_binary(&bytes).map_err(|error| format!("{path}: {error}"))?;
        return Ok((PathBuf::from(path), "local file".to_string()));
    }
    let cached = cache
        .get(ModuleRequest {
            url: &wasm.url,
            sha256: wasm.sha256.as_deref(),
            pull_policy: wasm.pull_policy,
        })
        .map_err(|error| error.to_string())?;
    let how = if cached.pulled { "pulled" } else { "cached" };
    Ok((cached.path, format!("{how}, sha256 {}", cached.checksum)))
}

/// The wasm filter running `module` with `config` (JSON; empty for none).
pub fn wasm_filter(
    extension: &Extension,
    wasm: &WasmCode,
    module: &Path,
    config: String,
) -> HttpFilter {
    let mut filter = WasmFilter::new(&extension.filter_name, module, config)
        .plugin_name(&extension.plugin_name)
        .root_id(&wasm.root_id)
        .failure_policy(match wasm.fail_strategy {
            FailStrategy::FailClose => FailurePolicy::FailClosed,
            FailStrategy::FailOpen => FailurePolicy::FailOpen,
            FailStrategy::FailReload => FailurePolicy::FailReload,
        });
    for (name, value) in &wasm.env {
        filter = filter.env(name, value);
    }
    for name in &wasm.host_env_keys {
        filter = filter.host_env_key(name);
    }
    filter.into()
}

/// What istio-agent installs instead of a module it could not fetch: an RBAC filter that
/// denies every request (403) or, for `FAIL_OPEN`, allows every request.
pub fn unavailable_filter(extension: &Extension, fail_open: bool) -> HttpFilter {
    let mut rbac = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules_stat_prefix": if fail_open { "wasm-default-allow" } else { "wasm-default-deny" },
    });
    if !fail_open {
        // Rules without policies match nothing: every request is denied.
        rbac["rules"] = json!({});
    }
    HttpFilter::Raw(json!({ "name": extension.filter_name, "typed_config": rbac }))
}

/// Envoy's Lua filter running a TrafficExtension's inline code, as pilot renders it.
pub fn lua_filter(extension: &Extension, code: &str) -> HttpFilter {
    HttpFilter::Raw(json!({
        "name": extension.filter_name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": { "inline_string": code },
        },
    }))
}

/// Whether requests pass when the module cannot be had (istio-agent's `failOpen`).
pub fn fails_open(wasm: &WasmCode) -> bool {
    wasm.fail_strategy == FailStrategy::FailOpen
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Authn => "AUTHN",
            Phase::Authz => "AUTHZ",
            Phase::Stats => "STATS",
            Phase::Unspecified => "unspecified",
        }
    }
}
