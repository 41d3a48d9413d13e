//! One module's root context inside the suite: every callback is passed on to the module,
//! inside [`host::in_module`].

use proxy_wasm::traits::{HttpContext, RootContext, StreamContext};
use proxy_wasm::types::ContextType;

use crate::module_stream::ModuleStream;

pub struct ModuleRoot {
    module: &'static str,
    inner: Box<dyn RootContext>,
}

impl ModuleRoot {
    pub fn new(module: &'static str, inner: Box<dyn RootContext>) -> Self {
        ModuleRoot { module, inner }
    }
}

delegate_context!(ModuleRoot);

impl RootContext for ModuleRoot {
    fn on_vm_start(&mut self, vm_configuration_size: usize) -> bool {
        let _module = host::in_module(self.module);
        self.inner.on_vm_start(vm_configuration_size)
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let _module = host::in_module(self.module);
        self.inner.on_configure(plugin_configuration_size)
    }

    fn on_tick(&mut self) {
        let _module = host::in_module(self.module);
        self.inner.on_tick()
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        let _module = host::in_module(self.module);
        self.inner.on_queue_ready(queue_id)
    }

    fn on_log(&mut self) {
        let _module = host::in_module(self.module);
        RootContext::on_log(self.inner.as_mut())
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let _module = host::in_module(self.module);
        let inner = self.inner.create_http_context(context_id)?;
        Some(Box::new(ModuleStream::new(self.module, inner)))
    }

    fn create_stream_context(&self, context_id: u32) -> Option<Box<dyn StreamContext>> {
        // No module of the suite filters TCP streams.
        let _module = host::in_module(self.module);
        self.inner.create_stream_context(context_id)
    }

    fn get_type(&self) -> Option<ContextType> {
        self.inner.get_type()
    }
}
