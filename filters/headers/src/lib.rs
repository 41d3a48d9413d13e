//! The header module: applies ordered header rules to requests and responses.
//!
//! On the request it evaluates every rule's `match` once, applies the request edits and
//! remembers which rules matched (and the request headers response templates read: Envoy
//! hides the request headers from a wasm filter once it has passed them on); on the response,
//! including Envoy's local replies, it applies the response edits of those rules whose status
//! condition holds.

use std::rc::Rc;

use engine::headers::{apply, HeaderRules, RememberedRequest, TemplateInput};
use engine::ConfigError;
use host::health::ModuleHealth;
use host::{HeaderMapKind, Module, ProxyWasm, StreamHost};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

/// The module's name: its log prefix, its stats prefix and its `root_id` in the suite build.
pub const MODULE: &str = "headers";

/// The header module: its rules are the whole configuration.
struct Headers;

impl Module for Headers {
    const NAME: &'static str = MODULE;
    type Config = HeaderRules;
    type Shared = ();
    type Stream = HeadersStream;

    fn compile(bytes: &[u8]) -> Result<HeaderRules, ConfigError> {
        HeaderRules::from_json(bytes)
    }

    fn configured(rules: &HeaderRules, _shared: &()) {
        ModuleHealth::of(Self::NAME).set_gauge(
            "rules",
            u64::try_from(rules.rule_count()).unwrap_or(u64::MAX),
        );
    }

    fn start() -> Result<(), String> {
        Ok(())
    }

    fn stream(
        rules: Option<Rc<HeaderRules>>,
        _shared: Option<Rc<()>>,
        _root_id: u32,
        _stream_id: u32,
    ) -> HeadersStream {
        HeadersStream {
            rules,
            remembered: None,
        }
    }
}

host::module_main!(Headers);

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
    /// Applies the request edits and remembers what the response phase needs of the request;
    /// no host call when the config reads nothing of the request ([`HeaderRules::reads_request`]).
    fn on_request(&mut self, host: &mut impl StreamHost) {
        let Some(rules) = &self.rules else {
            return;
        };
        if !rules.reads_request() {
            return;
        }
        // The rules look up a few headers (their matches, templates and the ones responses
        // remember), so each is one host call until that would cost more than the whole map.
        let request = host.sparse_request();
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
        // One host call per edit, in both phases, rather than one `set_header_map_pairs` of
        // the whole map: that call needs the whole map read first (about 17 µs of Envoy CPU for
        // the benchmark's short request, *Where the router's CPU goes* in docs/benchmarks.md)
        // and sent back whole, and Envoy then removes every header and adds every pair again;
        // a set, add or remove is one name looked up in Envoy's map (a single-value read costs
        // about 2 µs in the same benchmark), so a phase's few edits stay below one round trip
        // of the map.
        apply(&edits, &mut host.header_map(HeaderMapKind::Response));
    }
}

#[cfg(test)]
mod tests;
