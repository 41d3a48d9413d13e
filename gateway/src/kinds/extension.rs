//! `WasmPlugin` (extensions.istio.io/v1alpha1) and its successor `TrafficExtension` (Istio 1.30+),
//! as one extension of the gateway's HTTP filter chain.

use std::collections::BTreeMap;

use distribution::agent::pull_policy::PullPolicy;
use serde::Deserialize;
use serde_json::Value;

use super::parse_spec;
use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

/// Where in the chain an extension goes; Istio appends AUTHN, AUTHZ, STATS, then unspecified
/// extensions, each group in front of its own Istio filter and all before Envoy's router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Authn,
    Authz,
    Stats,
    Unspecified,
}

/// What happens when the module cannot be had (`failStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailStrategy {
    FailClose,
    FailOpen,
    FailReload,
}

#[derive(Debug, Clone)]
pub struct Extension {
    pub origin: Origin,
    /// The HTTP filter's name, as Istio names it.
    pub filter_name: String,
    /// The plugin's name (`namespace.name`), as Envoy's wasm logs show it.
    pub plugin_name: String,
    pub phase: Phase,
    /// `None` sorts after every value, as in pilot (`math.MinInt32`).
    pub priority: Option<i32>,
    pub match_labels: BTreeMap<String, String>,
    pub has_target_refs: bool,
    pub traffic_selectors: Vec<TrafficSelector>,
    pub code: Code,
}

#[derive(Debug, Clone)]
pub enum Code {
    Wasm(Box<WasmCode>),
    Lua(String),
}

#[derive(Debug, Clone)]
pub struct WasmCode {
    /// With a scheme: a URL without one is an `oci://` image, as in Istio.
    pub url: String,
    pub sha256: Option<String>,
    pub pull_policy: PullPolicy,
    /// The root id (`pluginName`).
    pub root_id: String,
    /// `pluginConfig` as JSON; `None` when absent or empty, as Istio then sends none.
    pub plugin_config: Option<Value>,
    pub fail_strategy: FailStrategy,
    /// `vmConfig.env` with `valueFrom: INLINE` (the default).
    pub env: BTreeMap<String, String>,
    /// `vmConfig.env` with `valueFrom: HOST`: passed from the gateway's own environment.
    pub host_env_keys: Vec<String>,
    /// `type: NETWORK`: a network filter, which the gateway's HTTP chain does not take.
    pub network: bool,
}

#[derive(Debug, Clone)]
pub struct TrafficSelector {
    pub mode: String,
    pub ports: Vec<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Selector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SelectorSpec {
    mode: Option<String>,
    #[serde(default)]
    ports: Vec<PortSpec>,
}

#[derive(Deserialize)]
struct PortSpec {
    number: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WasmSpec {
    #[serde(default)]
    url: String,
    sha256: Option<String>,
    image_pull_policy: Option<String>,
    image_pull_secret: Option<String>,
    plugin_config: Option<Value>,
    plugin_name: Option<String>,
    fail_strategy: Option<String>,
    vm_config: Option<VmConfigSpec>,
    #[serde(rename = "type")]
    plugin_type: Option<String>,
}

#[derive(Deserialize)]
struct VmConfigSpec {
    #[serde(default)]
    env: Vec<EnvSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvSpec {
    name: String,
    #[serde(default)]
    value: String,
    value_from: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WasmPluginSpec {
    selector: Option<Selector>,
    target_ref: Option<Value>,
    #[serde(default)]
    target_refs: Vec<Value>,
    phase: Option<String>,
    priority: Option<i32>,
    #[serde(rename = "match", default)]
    matches: Vec<SelectorSpec>,
    #[serde(flatten)]
    wasm: WasmSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrafficExtensionSpec {
    selector: Option<Selector>,
    #[serde(default)]
    target_refs: Vec<Value>,
    phase: Option<String>,
    priority: Option<i32>,
    #[serde(rename = "match", default)]
    matches: Vec<SelectorSpec>,
    wasm: Option<WasmSpec>,
    lua: Option<LuaSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LuaSpec {
    #[serde(default)]
    inline_code: String,
}

/// A `WasmPlugin` or a `TrafficExtension`; `notes` gets what the gateway leaves aside.
pub fn parse(resource: &Resource, notes: &mut Vec<String>) -> Result<Extension, ResourceError> {
    let origin = &resource.origin;
    let qualified = format!("{}.{}", origin.namespace, origin.name);
    let (selector, has_target_refs, phase, priority, matches, code, filter_name) = if origin.kind
        == "WasmPlugin"
    {
        let spec: WasmPluginSpec = parse_spec(resource)?;
        let code = wasm_code(origin, "spec", spec.wasm, notes)?;
        (
            spec.selector,
            spec.target_ref.is_some() || !spec.target_refs.is_empty(),
            phase(origin, spec.phase.as_deref(), "UNSPECIFIED_PHASE")?,
            spec.priority,
            spec.matches,
            code,
            format!("extensions.istio.io/wasmplugin/{qualified}"),
        )
    } else {
        let spec: TrafficExtensionSpec = parse_spec(resource)?;
        let code = match (spec.wasm, spec.lua) {
            (Some(wasm), None) => wasm_code(origin, "spec.wasm", wasm, notes)?,
            (None, Some(lua)) if !lua.inline_code.is_empty() => Code::Lua(lua.inline_code),
            (None, Some(_)) => return Err(origin.error("spec.lua.inlineCode", "must not be empty")),
            _ => return Err(origin.error("spec", "exactly one of wasm or lua must be set")),
        };
        (
            spec.selector,
            !spec.target_refs.is_empty(),
            phase(origin, spec.phase.as_deref(), "UNSPECIFIED")?,
            spec.priority,
            spec.matches,
            code,
            format!("extensions.istio.io/trafficextension/{qualified}"),
        )
    };
    let traffic_selectors = matches
        .into_iter()
        .enumerate()
        .map(|(index, selector)| {
            let mode = selector.mode.unwrap_or_else(|| "UNDEFINED".to_string());
            if !["UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER"].contains(&mode.as_str()) {
                return Err(origin.error(
                    format!("spec.match[{index}].mode"),
                    format!("unknown mode {mode:?}"),
                ));
            }
            Ok(TrafficSelector {
                mode,
                ports: selector.ports.iter().map(|port| port.number).collect(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Extension {
        origin: origin.clone(),
        filter_name,
        plugin_name: qualified,
        phase,
        priority,
        match_labels: selector.unwrap_or_default().match_labels,
        has_target_refs,
        traffic_selectors,
        code,
    })
}

fn phase(origin: &Origin, text: Option<&str>, unspecified: &str) -> Result<Phase, ResourceError> {
    match text {
        None => Ok(Phase::Unspecified),
        Some(text) if text == unspecified => Ok(Phase::Unspecified),
        Some("AUTHN") => Ok(Phase::Authn),
        Some("AUTHZ") => Ok(Phase::Authz),
        Some("STATS") => Ok(Phase::Stats),
        Some(other) => Err(origin.error(
            "spec.phase",
            format!("unknown phase {other:?} ({unspecified}, AUTHN, AUTHZ or STATS)"),
        )),
    }
}

fn wasm_code(
    origin: &Origin,
    at: &str,
    spec: WasmSpec,
    notes: &mut Vec<String>,
) -> Result<Code, ResourceError> {
    let field = |name: &str| format!("{at}.{name}");
    if spec.url.is_empty() {
        return Err(origin.error(field("url"), "required"));
    }
    let url = if spec.url.contains("://") {
        spec.url.clone()
    } else {
        format!("oci://{}", spec.url)
    };
    let scheme = url.split("://").next().unwrap_or_default();
    if !["file", "http", "https", "oci"].contains(&scheme) {
        return Err(origin.error(
            field("url"),
            format!("unsupported scheme {scheme:?} (file, http, https or oci)"),
        ));
    }
    if let Some(image) = url.strip_prefix("oci://") {
        distribution::registry::reference::Reference::parse(image)
            .map_err(|error| origin.error(field("url"), error))?;
    }
    let sha256 = spec.sha256.filter(|sha256| !sha256.is_empty());
    if let Some(sha256) = &sha256 {
        distribution::oci::digest::Digest::from_hex(sha256)
            .map_err(|error| origin.error(field("sha256"), error))?;
    }
    let pull_policy = match spec.image_pull_policy.as_deref() {
        None => PullPolicy::Unspecified,
        Some(text) => PullPolicy::parse(text)
            .map_err(|error| origin.error(field("imagePullPolicy"), error))?,
    };
    if spec
        .image_pull_secret
        .is_some_and(|secret| !secret.is_empty())
    {
        notes.push(format!(
            "{}: {origin}: {} is a Kubernetes secret, which the local gateway cannot read: \
             registry credentials come from the docker config",
            origin.file.display(),
            field("imagePullSecret")
        ));
    }
    let plugin_config = match spec.plugin_config {
        None | Some(Value::Null) => None,
        Some(Value::Object(object)) if object.is_empty() => None,
        Some(config @ Value::Object(_)) => Some(config),
        Some(_) => return Err(origin.error(field("pluginConfig"), "expected an object")),
    };
    let fail_strategy = match spec.fail_strategy.as_deref() {
        None | Some("FAIL_CLOSE") => FailStrategy::FailClose,
        Some("FAIL_OPEN") => FailStrategy::FailOpen,
        Some("FAIL_RELOAD") => FailStrategy::FailReload,
        Some(other) => {
            return Err(origin.error(
                field("failStrategy"),
                format!("unknown fail strategy {other:?} (FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD)"),
            ))
        }
    };
    let mut env = BTreeMap::new();
    let mut host_env_keys = Vec::new();
    for (index, variable) in spec
        .vm_config
        .map(|vm| vm.env)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = field(&format!("vmConfig.env[{index}]"));
        if variable.name.is_empty() {
            return Err(origin.error(format!("{at}.name"), "required"));
        }
        match variable.value_from.as_deref() {
            None | Some("INLINE") => {
                env.insert(variable.name, variable.value);
            }
            Some("HOST") if variable.value.is_empty() => host_env_keys.push(variable.name),
            Some("HOST") => {
                return Err(origin.error(
                    format!("{at}.value"),
                    "value may only be set when valueFrom is INLINE",
                ))
            }
            Some(other) => {
                return Err(origin.error(
                    format!("{at}.valueFrom"),
                    format!("unknown value source {other:?} (INLINE or HOST)"),
                ))
            }
        }
    }
    let network = match spec.plugin_type.as_deref() {
        None | Some("UNSPECIFIED_PLUGIN_TYPE") | Some("HTTP") => false,
        Some("NETWORK") => true,
        Some(other) => {
            return Err(origin.error(
                field("type"),
                format!("unknown plugin type {other:?} (HTTP or NETWORK)"),
            ))
        }
    };
    Ok(Code::Wasm(Box::new(WasmCode {
        url,
        sha256,
        pull_policy,
        root_id: spec.plugin_name.unwrap_or_default(),
        plugin_config,
        fail_strategy,
        env,
        host_env_keys,
        network,
    })))
}
