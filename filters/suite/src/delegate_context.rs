//! The `Context` callbacks every context of the suite passes on to its module's context.

/// Implements `proxy_wasm::traits::Context` for `$context`, a struct with a `module` name and
/// an `inner` context of that module: each callback runs inside [`host::in_module`].
macro_rules! delegate_context {
    ($context:ty) => {
        impl proxy_wasm::traits::Context for $context {
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

            fn on_grpc_call_response(
                &mut self,
                token_id: u32,
                status_code: u32,
                response_size: usize,
            ) {
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
    };
}
