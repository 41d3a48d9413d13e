//! A plugin whose `root_id` names no module of the suite: its configuration is refused with
//! the reason, so Envoy rejects the filter (or the update) instead of running a filter that
//! does nothing.

use proxy_wasm::traits::{Context, RootContext};

use crate::{module_names, SUITE};

pub struct UnknownRoot {
    root_id: String,
}

impl UnknownRoot {
    pub fn new(root_id: String) -> Self {
        UnknownRoot { root_id }
    }
}

impl Context for UnknownRoot {}

impl RootContext for UnknownRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        log::error!(
            "{SUITE}: root_id {:?} names no module of the suite; it must be one of: {}",
            self.root_id,
            module_names()
        );
        host::health::ModuleHealth::of(SUITE).config_rejected();
        false
    }
}
