//! The fault module: delays and aborts requests as Istio's `HTTPFaultInjection` and Envoy's
//! fault filter do.
//!
//! A delayed request is paused (`Action::Pause`) and waits in the fault runtime
//! ([`host::FaultInjection`]); the root's `on_tick` resumes exactly that stream, or aborts it
//! when an abort was drawn too. Nothing blocks: other requests flow while some wait.

use std::rc::Rc;

use engine::fault::FaultRules;
use engine::ConfigError;
use host::health::ModuleHealth;
use host::{FaultInjection, Module, ProxyWasm, StreamHost, VmHost};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

/// The module's name: its log prefix, its stats prefix and its `root_id` in the suite build.
pub const MODULE: &str = "fault";

/// The fault module: its rules, and the runtime that holds delayed streams and counts faults.
struct Fault;

impl Module for Fault {
    const NAME: &'static str = MODULE;
    type Config = FaultRules;
    type Shared = FaultInjection;
    type Stream = FaultStream;

    fn compile(bytes: &[u8]) -> Result<FaultRules, ConfigError> {
        FaultRules::from_json(bytes)
    }

    fn configured(rules: &FaultRules, _runtime: &FaultInjection) {
        ModuleHealth::of(Self::NAME).set_gauge(
            "rules",
            u64::try_from(rules.rule_count()).unwrap_or(u64::MAX),
        );
    }

    fn start() -> Result<FaultInjection, String> {
        FaultInjection::start("fault", ProxyWasm)
    }

    fn on_tick(runtime: &FaultInjection) {
        runtime.on_tick();
    }

    fn stream(
        rules: Option<Rc<FaultRules>>,
        runtime: Option<Rc<FaultInjection>>,
        _root_id: u32,
        stream_id: u32,
    ) -> FaultStream {
        FaultStream {
            id: stream_id,
            rules,
            runtime,
        }
    }
}

host::module_main!(Fault);

/// A stream's faults, with the fault runtime on the VM's host `V` (Envoy's, or the fake in the
/// tests).
struct FaultStream<V: VmHost = ProxyWasm> {
    id: u32,
    rules: Option<Rc<FaultRules>>,
    runtime: Option<Rc<FaultInjection<V>>>,
}

impl Context for FaultStream {
    fn on_done(&mut self) -> bool {
        let _in = host::in_callback("on_done");
        self.finish();
        true
    }
}

impl HttpContext for FaultStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let _in = host::in_callback("on_http_request_headers");
        self.on_request_headers(&mut ProxyWasm)
    }

    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.hold_while_delayed()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.hold_while_delayed()
    }
}

/// The stream logic, over any host.
impl<V: VmHost> FaultStream<V> {
    /// Selects the request's fault rule and starts its faults: `Pause` while delayed or once
    /// aborted.
    fn on_request_headers(&self, host: &mut impl StreamHost) -> Action {
        let (Some(rules), Some(runtime)) = (&self.rules, &self.runtime) else {
            return Action::Continue;
        };
        // The rules look up a few headers: each is one host call (a header the request does
        // not have is answered so), and the route's cluster is found only for a rule that
        // names one and whose request conditions held.
        let request = host.sparse_request();
        host::crash_switch::panic_if_asked(&request);
        let Some(policy) = rules.select_lazily(&request, || {
            host::route_cluster(&request, &host.attributes())
        }) else {
            return Action::Continue;
        };
        let max_active = rules.max_active_faults().map_or(u64::MAX, u64::from);
        runtime.inject(self.id, policy, &request, host, max_active)
    }

    /// What the body and trailers answer: they wait while the stream is delayed.
    fn hold_while_delayed(&self) -> Action {
        self.runtime.as_ref().map_or(Action::Continue, |runtime| {
            runtime.hold_while_delayed(self.id)
        })
    }

    /// The stream is over (answered, or reset by the client): drop its timer and its slot.
    fn finish(&self) {
        if let Some(runtime) = &self.runtime {
            runtime.finish(self.id);
        }
    }
}

#[cfg(test)]
mod tests;
