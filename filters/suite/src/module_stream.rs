//! One module's HTTP stream context inside the suite: every callback is passed on to the
//! module, inside [`host::in_module`].

use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;

pub struct ModuleStream {
    module: &'static str,
    inner: Box<dyn HttpContext>,
}

impl ModuleStream {
    pub fn new(module: &'static str, inner: Box<dyn HttpContext>) -> Self {
        ModuleStream { module, inner }
    }
}

delegate_context!(ModuleStream);

impl HttpContext for ModuleStream {
    fn on_http_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        let _module = host::in_module(self.module);
        self.inner
            .on_http_request_headers(num_headers, end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let _module = host::in_module(self.module);
        self.inner.on_http_request_body(body_size, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, num_trailers: usize) -> Action {
        let _module = host::in_module(self.module);
        self.inner.on_http_request_trailers(num_trailers)
    }

    fn on_http_response_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        let _module = host::in_module(self.module);
        self.inner
            .on_http_response_headers(num_headers, end_of_stream)
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let _module = host::in_module(self.module);
        self.inner.on_http_response_body(body_size, end_of_stream)
    }

    fn on_http_response_trailers(&mut self, num_trailers: usize) -> Action {
        let _module = host::in_module(self.module);
        self.inner.on_http_response_trailers(num_trailers)
    }

    fn on_log(&mut self) {
        let _module = host::in_module(self.module);
        HttpContext::on_log(self.inner.as_mut())
    }
}
