//! The fault module: delays and aborts requests as Istio's `HTTPFaultInjection` and Envoy's
//! fault filter do.
//!
//! A delayed request is paused (`Action::Pause`) and waits in the root context's
//! [`host::StreamTimers`]; the root's `on_tick` resumes exactly that stream, or aborts it when an
//! abort was drawn too. Nothing blocks: other requests flow while some wait.

use std::rc::Rc;

use engine::fault::FaultRules;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

use host::FaultInjection;

/// The module's name: its log prefix, its stats prefix and its `root_id` in the suite build.
pub const MODULE: &str = "fault";

// The module's own `.wasm`; the suite build (`filters/suite`) links this crate without it.
#[cfg(feature = "entry")]
proxy_wasm::main! {{
    host::start_module(MODULE);
    proxy_wasm::set_root_context(root);
}}

/// The module's root context for the plugin whose root context is `context_id`.
pub fn root(_context_id: u32) -> Box<dyn RootContext> {
    Box::new(FaultRoot::default())
}

#[derive(Default)]
struct FaultRoot {
    rules: Option<Rc<FaultRules>>,
    runtime: Option<Rc<FaultInjection>>,
}

impl Context for FaultRoot {}

impl RootContext for FaultRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let _in = host::in_callback("on_configure");
        if !host::configure(MODULE, &mut self.rules, FaultRules::from_json) {
            return false;
        }
        if self.runtime.is_none() {
            match FaultInjection::start("fault") {
                Ok(runtime) => self.runtime = Some(Rc::new(runtime)),
                Err(error) => {
                    log::error!("fault: {error}");
                    return false;
                }
            }
        }
        true
    }

    fn on_tick(&mut self) {
        let _in = host::in_callback("on_tick");
        if let Some(runtime) = &self.runtime {
            runtime.on_tick();
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(FaultStream {
            id: context_id,
            rules: self.rules.clone(),
            runtime: self.runtime.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct FaultStream {
    id: u32,
    rules: Option<Rc<FaultRules>>,
    runtime: Option<Rc<FaultInjection>>,
}

impl FaultStream {
    /// While delayed, the body and trailers wait too, so they cannot push the request on.
    fn hold_while_delayed(&self) -> Action {
        match &self.runtime {
            Some(runtime) if runtime.is_delayed(self.id) => Action::Pause,
            _ => Action::Continue,
        }
    }
}

impl Context for FaultStream {
    fn on_done(&mut self) -> bool {
        let _in = host::in_callback("on_done");
        // The stream is over (answered, or reset by the client): drop its timer and its slot.
        if let Some(runtime) = &self.runtime {
            runtime.finish(self.id);
        }
        true
    }
}

impl HttpContext for FaultStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let (Some(rules), Some(runtime)) = (&self.rules, &self.runtime) else {
            return Action::Continue;
        };
        let _in = host::in_callback("on_http_request_headers");
        let request = host::RequestHeaders::new();
        host::crash_switch::panic_if_asked(&request);
        let cluster = if rules.uses_upstream_cluster() {
            host::route_cluster(&request)
        } else {
            None
        };
        let Some(policy) = rules.select(&request, cluster.as_deref()) else {
            return Action::Continue;
        };
        let max_active = rules.max_active_faults().map_or(u64::MAX, u64::from);
        runtime.inject(self.id, policy, &request, max_active)
    }

    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.hold_while_delayed()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.hold_while_delayed()
    }
}
