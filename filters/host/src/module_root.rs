//! The root context every module repeats, written once: the logger and panic hook at VM start,
//! the plugin configuration loaded, compiled and kept for the streams, module-wide state (stats,
//! the fault runtime) made once per VM, the root's timer, and a stream context per request.
//! A module declares what differs ([`Module`]); [`Root`] and [`module_main!`](crate::module_main)
//! do the rest.

use std::rc::Rc;

use engine::ConfigError;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use crate::logging::in_callback;
use crate::plugin_config::configure;

/// What makes a module itself; [`Root`] does the rest.
pub trait Module: 'static {
    /// The module's name: the prefix of its logs and health stats.
    const NAME: &'static str;
    /// The compiled plugin configuration.
    type Config: 'static;
    /// What the module keeps for the whole VM besides the config (stats, the fault runtime).
    type Shared: 'static;
    /// The per-request context.
    type Stream: HttpContext + 'static;

    /// Parses and compiles the plugin configuration.
    fn compile(bytes: &[u8]) -> Result<Self::Config, ConfigError>;

    /// Makes the module-wide state, once, on the first configuration loaded; an error refuses
    /// that configuration.
    fn start() -> Result<Self::Shared, String>;

    /// After each configuration is loaded (and after [`Module::start`] on the first): warnings
    /// to log, gauges to set, and what the module-wide state derives from the configuration
    /// (the metrics module's series cache).
    fn configured(_config: &Self::Config, _shared: &Self::Shared) {}

    /// On each tick of the root's timer (set by whoever needs it, e.g. the fault runtime).
    fn on_tick(_shared: &Self::Shared) {}

    /// The context of a new stream: the current config and shared state, `None` until configured.
    fn stream(
        config: Option<Rc<Self::Config>>,
        shared: Option<Rc<Self::Shared>>,
        root_id: u32,
        stream_id: u32,
    ) -> Self::Stream;
}

/// The root context of module `M`.
pub struct Root<M: Module> {
    root_id: u32,
    config: Option<Rc<M::Config>>,
    shared: Option<Rc<M::Shared>>,
}

impl<M: Module> Root<M> {
    /// The root context Envoy creates with `root_id`, not configured yet.
    pub fn new(root_id: u32) -> Self {
        Self {
            root_id,
            config: None,
            shared: None,
        }
    }
}

/// HTTP call answers (mirrors) arrive here and are ignored.
impl<M: Module> Context for Root<M> {}

impl<M: Module> RootContext for Root<M> {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let _in = in_callback("on_configure");
        if !configure(M::NAME, &mut self.config, M::compile) {
            return false;
        }
        if self.shared.is_none() {
            match M::start() {
                Ok(shared) => self.shared = Some(Rc::new(shared)),
                Err(error) => {
                    log::error!("{}: {error}", M::NAME);
                    return false;
                }
            }
        }
        if let (Some(config), Some(shared)) = (&self.config, &self.shared) {
            M::configured(config, shared);
        }
        true
    }

    fn on_tick(&mut self) {
        let _in = in_callback("on_tick");
        if let Some(shared) = &self.shared {
            M::on_tick(shared);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(M::stream(
            self.config.clone(),
            self.shared.clone(),
            self.root_id,
            context_id,
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// The module's entry points: `pub fn root(context_id)`, its root context (a [`Root`] of
/// `$module`), which the suite build (`filters/suite`) links; and, with the caller's `entry`
/// feature, the module's own `.wasm` start (logger, panic hook, that root for every plugin).
/// The crate must depend on `proxy-wasm`.
#[macro_export]
macro_rules! module_main {
    ($module:ty) => {
        /// The module's root context for the plugin whose root context is `context_id`.
        pub fn root(context_id: u32) -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new($crate::Root::<$module>::new(context_id))
        }

        // The module's own `.wasm`; the suite build links this crate without it.
        #[cfg(feature = "entry")]
        proxy_wasm::main! {{
            $crate::start_module(<$module as $crate::Module>::NAME);
            proxy_wasm::set_root_context(root);
        }}
    };
}
