//! HTTP filters: our wasm modules, or any native Envoy filter as raw JSON.

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
    /// The filter's (and plugin's) name.
    pub name: String,
    /// The `.wasm` file; give an absolute path, as Envoy resolves relative ones
    /// against the test's working directory.
    pub wasm_path: PathBuf,
    /// The plugin configuration, delivered to `on_configure` as a string.
    pub config_json: String,
    /// Plugins with the same `vm_id` and module share one VM; empty is a valid id.
    pub vm_id: String,
    /// Selects the root context inside the module; empty is a valid id.
    pub root_id: String,
    /// What happens to requests when the VM has failed: `false` (the default)
    /// answers them with 503 (`FAIL_CLOSED`), `true` lets them pass (`FAIL_OPEN`).
    pub fail_open: bool,
}

impl WasmFilter {
    /// A fail-closed filter with empty VM and root ids.
    pub fn new(
        name: impl Into<String>,
        wasm_path: impl Into<PathBuf>,
        config_json: impl Into<String>,
    ) -> Self {
        WasmFilter {
            name: name.into(),
            wasm_path: wasm_path.into(),
            config_json: config_json.into(),
            vm_id: String::new(),
            root_id: String::new(),
            fail_open: false,
        }
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
        self.fail_open = fail_open;
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
            HttpFilter::Wasm(wasm) => json!({
                "name": wasm.name,
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": {
                        "name": wasm.name,
                        "root_id": wasm.root_id,
                        "vm_config": {
                            "vm_id": wasm.vm_id,
                            "runtime": "envoy.wasm.runtime.v8",
                            "code": { "local": { "filename": wasm.wasm_path.to_string_lossy() } },
                        },
                        "configuration": {
                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                            "value": wasm.config_json,
                        },
                        // `failure_policy` supersedes the deprecated `fail_open` bool.
                        "failure_policy": if wasm.fail_open { "FAIL_OPEN" } else { "FAIL_CLOSED" },
                    },
                },
            }),
        }
    }
}
