//! The suite build: the router, headers, fault and metrics modules in one `.wasm`.
//!
//! Envoy creates one VM per worker thread (and one on the main thread) for each distinct
//! module, so four modules cost four VMs a thread: their memory, their start time and a V8
//! entry each per request event. Built into one `.wasm`, the four plugins share one VM when
//! their VM configuration is the same (same code, same `vm_id`, same environment), and each
//! plugin gets its own root context, which picks its module by the plugin's `root_id`
//! (`router`, `headers`, `fault` or `metrics`; Istio's `WasmPlugin.pluginName`).
//!
//! The modules are linked unchanged. Every callback into a module runs under
//! [`host::in_module`], so logs, panics and health stats carry the module's name, as they do
//! in the module's own build.

#[macro_use]
mod delegate_context;
mod module_root;
mod module_stream;
mod unknown_root;

use proxy_wasm::traits::RootContext;

use module_root::ModuleRoot;
use unknown_root::UnknownRoot;

/// The suite's own log and stats prefix, for what belongs to no module.
const SUITE: &str = "suite";

/// A module of the suite: its `root_id` and its root context constructor.
type Module = (&'static str, fn(u32) -> Box<dyn RootContext>);

/// The modules of the suite.
const MODULES: [Module; 4] = [
    (router::MODULE, router::root),
    (headers::MODULE, headers::root),
    (fault::MODULE, fault::root),
    (metrics::MODULE, metrics::root),
];

proxy_wasm::main! {{
    host::start_module(SUITE);
    proxy_wasm::set_root_context(root);
}}

/// The root context of the plugin that Envoy creates as `context_id`: the module its
/// `root_id` names.
fn root(context_id: u32) -> Box<dyn RootContext> {
    let root_id = host::properties::get_string(&["plugin_root_id"]).unwrap_or_default();
    match MODULES.iter().find(|(module, _)| *module == root_id) {
        Some(&(module, new_root)) => {
            let _module = host::in_module(module);
            Box::new(ModuleRoot::new(module, new_root(context_id)))
        }
        None => Box::new(UnknownRoot::new(root_id)),
    }
}

/// The `root_id`s the suite answers to, for messages.
fn module_names() -> String {
    MODULES
        .iter()
        .map(|(module, _)| *module)
        .collect::<Vec<_>>()
        .join(", ")
}
