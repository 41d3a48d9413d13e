//! The header module: applies ordered header rules to requests and responses.
//!
//! On the request it evaluates every rule's `match` once, applies the request edits and
//! remembers which rules matched (and the request headers response templates read: Envoy
//! hides the request headers from a wasm filter once it has passed them on); on the response,
//! including Envoy's local replies, it applies the response edits of those rules whose status
//! condition holds.

use std::rc::Rc;

use engine::headers::{apply, HeaderRules, RememberedRequest, TemplateInput};
use host::{HeaderMapKind, ProxyWasm, StreamHost};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

const MODULE: &str = "headers";

proxy_wasm::main! {{
    host::start_module(MODULE);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(HeadersRoot::default()) });
}}

#[derive(Default)]
struct HeadersRoot {
    rules: Option<Rc<HeaderRules>>,
}

impl Context for HeadersRoot {}

impl RootContext for HeadersRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let _in = host::in_callback("on_configure");
        host::configure(MODULE, &mut self.rules, HeaderRules::from_json)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HeadersStream {
            rules: self.rules.clone(),
            remembered: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct HeadersStream {
    rules: Option<Rc<HeaderRules>>,
    /// Decided on the request; `None` if this filter never saw it (an earlier filter answered).
    remembered: Option<RememberedRequest>,
}

impl Context for HeadersStream {}

impl HttpContext for HeadersStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let _in = host::in_callback("on_http_request_headers");
        self.on_request(&mut ProxyWasm);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let _in = host::in_callback("on_http_response_headers");
        self.on_response(&mut ProxyWasm);
        Action::Continue
    }
}

/// The stream logic, over any host (Envoy's, or the fake in the tests).
impl HeadersStream {
    /// Applies the request edits and remembers what the response phase needs of the request.
    fn on_request(&mut self, host: &mut impl StreamHost) {
        let Some(rules) = &self.rules else {
            return;
        };
        let request = host.request();
        let plan = rules.on_request(&TemplateInput {
            request: &request,
            response: None,
            attributes: &host.attributes(),
        });
        apply(&plan.edits, &mut host.header_map(HeaderMapKind::Request));
        self.remembered = Some(plan.remembered);
    }

    /// Applies the response edits of the rules that matched the request and whose status
    /// condition holds; a response to a request this filter never saw (an earlier filter
    /// answered) gets the rules that need no request.
    fn on_response(&mut self, host: &mut impl StreamHost) {
        let Some(rules) = &self.rules else {
            return;
        };
        if !rules.has_response_operations() {
            return;
        }
        let remembered = self
            .remembered
            .take()
            .unwrap_or_else(|| rules.remember_unseen_request());
        let edits = rules.on_response(&remembered, &host.response(), &host.attributes());
        apply(&edits, &mut host.header_map(HeaderMapKind::Response));
    }
}

#[cfg(test)]
mod tests;
