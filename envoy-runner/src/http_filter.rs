//! HTTP filters: our wasm modules, or any native Envoy filter as raw JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

/// One entry of a listener's `http_filters`.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFilter {
    /// A proxy-wasm module run by `envoy.filters.http.wasm` on V8.
    Wasm(WasmFilter),
    /// A complete `http_filters` entry (`{"name": …, "typed_config": …}`), for native
    /// filters such as `header_mutation` or `fault` that benchmarks compare against.
    Raw(Value),
}

/// A wasm HTTP filter.
#[derive(Debug, Clone, PartialEq)]
pub struct WasmFilter {
    /// The HTTP filter's name.
    pub name: String,
    /// The plugin's name, which Envoy's wasm log lines show; the filter's name by default.
    pub plugin_name: String,
    /// The `.wasm` file; give an absolute path, as Envoy resolves relative ones
    /// against the test's working directory.
    pub wasm_path: PathBuf,
    /// The plugin configuration, delivered to `on_configure` as a string.
    pub config_json: String,
    /// Plugins with the same `vm_id` and module share one VM; empty is a valid id.
    pub vm_id: String,
    /// Selects the root context inside the module; empty is a valid id.
    pub root_id: String,
    /// What happens to requests when the VM has failed; `FailClosed` by default.
    pub failure_policy: FailurePolicy,
    /// `vm_config.environment_variables.key_values`: the VM's environment.
    pub environment: BTreeMap<String, String>,
    /// `vm_config.environment_variables.host_env_keys`: variables passed from Envoy's own
    /// environment.
    pub host_env_keys: Vec<String>,
}

/// Envoy's `failure_policy` for a plugin whose VM has failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Requests are answered with 503.
    #[default]
    FailClosed,
    /// Requests pass as if the filter were not there.
    FailOpen,
    /// Envoy creates a new VM and retries.
    FailReload,
}

impl FailurePolicy {
    fn name(self) -> &'static str {
        match self {
            FailurePolicy::FailClosed => "FAIL_CLOSED",
            FailurePolicy::FailOpen => "FAIL_OPEN",
            FailurePolicy::FailReload => "FAIL_RELOAD",
        }
    }
}

impl WasmFilter {
    /// A fail-closed filter with empty VM and root ids.
    pub fn new(
        name: impl Into<String>,
        wasm_path: impl Into<PathBuf>,
        config_json: impl Into<String>,
    ) -> Self {
        let name = name.into();
        WasmFilter {
            plugin_name: name.clone(),
            name,
            wasm_path: wasm_path.into(),
            config_json: config_json.into(),
            vm_id: String::new(),
            root_id: String::new(),
            failure_policy: FailurePolicy::FailClosed,
            environment: BTreeMap::new(),
            host_env_keys: Vec::new(),
        }
    }

    /// Sets the plugin's name (Istio's is `namespace.name`, the filter's a longer one).
    pub fn plugin_name(mut self, plugin_name: impl Into<String>) -> Self {
        self.plugin_name = plugin_name.into();
        self
    }

    /// Sets the VM id.
    pub fn vm_id(mut self, vm_id: impl Into<String>) -> Self {
        self.vm_id = vm_id.into();
        self
    }

    /// Sets the root id.
    pub fn root_id(mut self, root_id: impl Into<String>) -> Self {
        self.root_id = root_id.into();
        self
    }

    /// Sets whether requests pass when the VM has failed.
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.failure_policy = if fail_open {
            FailurePolicy::FailOpen
        } else {
            FailurePolicy::FailClosed
        };
        self
    }

    /// Sets what happens to requests when the VM has failed.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }

    /// Sets the VM environment variable `name`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(name.into(), value.into());
        self
    }

    /// Passes Envoy's own environment variable `name` to the VM.
    pub fn host_env_key(mut self, name: impl Into<String>) -> Self {
        self.host_env_keys.push(name.into());
        self
    }
}

impl From<WasmFilter> for HttpFilter {
    fn from(filter: WasmFilter) -> Self {
        HttpFilter::Wasm(filter)
    }
}

impl HttpFilter {
    pub(crate) fn to_json(&self) -> Value {
        match self {
            HttpFilter::Raw(filter) => filter.clone(),
            HttpFilter::Wasm(wasm) => {
                let mut vm_config = json!({
                    "vm_id": wasm.vm_id,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": wasm.wasm_path.to_string_lossy() } },
                });
                if !wasm.environment.is_empty() || !wasm.host_env_keys.is_empty() {
                    vm_config["environment_variables"] = json!({
                        "key_values": wasm.environment,
                        "host_env_keys": wasm.host_env_keys,
                    });
                }
                json!({
                "name": wasm.name,
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": {
                        "name": wasm.plugin_name,
                        "root_id": wasm.root_id,
                        "vm_config": vm_config,
                        "configuration": {
                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                            "value": wasm.config_json,
                        },
                        // `failure_policy` supersedes the deprecated `fail_open` bool.
                        "failure_policy": wasm.failure_policy.name(),
                    },
                },
                })
            }
        }
    }
}
