//! One module's root context inside the suite: every callback is passed on to the module,
//! inside [`host::in_module`].

use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
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

impl Context for ModuleRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        num_trailers: usize,
    ) {
        let _module = host::in_module(self.module);
        self.inner
            .on_http_call_response(token_id, num_headers, body_size, num_trailers)
    }

    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        let _module = host::in_module(self.module);
        self.inner
            .on_grpc_call_response(token_id, status_code, response_size)
    }

    fn on_grpc_stream_initial_metadata(&mut self, token_id: u32, num_elements: u32) {
        let _module = host::in_module(self.module);
        self.inner
            .on_grpc_stream_initial_metadata(token_id, num_elements)
    }

    fn on_grpc_stream_message(&mut self, token_id: u32, message_size: usize) {
        let _module = host::in_module(self.module);
        self.inner.on_grpc_stream_message(token_id, message_size)
    }

    fn on_grpc_stream_trailing_metadata(&mut self, token_id: u32, num_elements: u32) {
        let _module = host::in_module(self.module);
        self.inner
            .on_grpc_stream_trailing_metadata(token_id, num_elements)
    }

    fn on_grpc_stream_close(&mut self, token_id: u32, status_code: u32) {
        let _module = host::in_module(self.module);
        self.inner.on_grpc_stream_close(token_id, status_code)
    }

    fn on_foreign_function(&mut self, function_id: u32, arguments_size: usize) {
        let _module = host::in_module(self.module);
        self.inner.on_foreign_function(function_id, arguments_size)
    }

    fn on_done(&mut self) -> bool {
        let _module = host::in_module(self.module);
        self.inner.on_done()
    }
}

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
