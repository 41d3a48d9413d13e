//! The header module: applies ordered header rules to requests and responses.
//!
//! On the request it evaluates every rule's `match` once, applies the request edits and
//! remembers which rules matched (and the request headers response templates read: Envoy
//! hides the request headers from a wasm filter once it has passed them on); on the response,
//! including Envoy's local replies, it applies the response edits of those rules whose status
//! condition holds.

use std::rc::Rc;

use engine::headers::{apply, HeaderRules, RememberedRequest, TemplateInput};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

/// The module's name: its log prefix, its stats prefix and its `root_id` in the suite build.
pub const MODULE: &str = "headers";

// The module's own `.wasm`; the suite build (`filters/suite`) links this crate without it.
#[cfg(feature = "entry")]
proxy_wasm::main! {{
    host::start_module(MODULE);
    proxy_wasm::set_root_context(root);
}}

/// The module's root context for the plugin whose root context is `context_id`.
pub fn root(_context_id: u32) -> Box<dyn RootContext> {
    Box::new(HeadersRoot::default())
}

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
        let Some(rules) = &self.rules else {
            return Action::Continue;
        };
        let request = host::RequestHeaders::new();
        let plan = rules.on_request(&TemplateInput {
            request: &request,
            response: None,
            attributes: &host::EnvoyAttributes::new(),
        });
        apply(&plan.edits, &mut host::HeaderMap::request());
        self.remembered = Some(plan.remembered);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let _in = host::in_callback("on_http_response_headers");
        let Some(rules) = &self.rules else {
            return Action::Continue;
        };
        if !rules.has_response_operations() {
            return Action::Continue;
        }
        let remembered = self
            .remembered
            .take()
            .unwrap_or_else(|| rules.remember_unseen_request());
        let edits = rules.on_response(
            &remembered,
            &host::ResponseHeaders::new(),
            &host::EnvoyAttributes::new(),
        );
        apply(&edits, &mut host::HeaderMap::response());
        Action::Continue
    }
}
