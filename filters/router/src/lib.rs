//! The router module: applies VirtualService rules to each request.
//!
//! It picks the upstream cluster and writes it into the request header [`CLUSTER_HEADER`],
//! which Envoy's route consumes with `cluster_header`; Envoy re-selects the route after the
//! header changes. Rewrites, timeouts and retries travel as request headers Envoy's router
//! honours; redirects and direct responses are answered here; mirrors are HTTP calls. A request
//! that matches nothing leaves without the header and gets Envoy's own 404 `route_not_found`.
//! The chosen route is also published as properties ([`route_properties`]) for later modules.

mod mirror;
mod route_headers;

use std::rc::Rc;

use engine::route_properties;
use engine::router::{
    Decision, ForwardTo, RouteTable, CLUSTER_HEADER, ROUTER_CONTROL_HEADERS,
    UNKNOWN_SERVICE_DETAILS,
};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

use host::FaultInjection;
use mirror::PendingMirror;
use route_headers::{apply_request_operations, PendingResponseEdits};

proxy_wasm::main! {{
    host::init_logging();
    proxy_wasm::set_root_context(|root_id| -> Box<dyn RootContext> {
        Box::new(RouterRoot { root_id, table: None, faults: None })
    });
}}

struct RouterRoot {
    root_id: u32,
    table: Option<Rc<RouteTable>>,
    /// VirtualService `fault`s in flight; stats under `router.fault.*`.
    faults: Option<Rc<FaultInjection>>,
}

/// Mirror answers arrive here and are ignored.
impl Context for RouterRoot {}

impl RootContext for RouterRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        if !host::configure("router", &mut self.table, RouteTable::from_json) {
            return false;
        }
        for warning in self.table.iter().flat_map(|table| table.warnings()) {
            log::warn!("router: {warning}");
        }
        if self.faults.is_none() {
            match FaultInjection::start("router.fault") {
                Ok(faults) => self.faults = Some(Rc::new(faults)),
                Err(error) => {
                    log::error!("router: {error}");
                    return false;
                }
            }
        }
        true
    }

    fn on_tick(&mut self) {
        if let Some(faults) = &self.faults {
            faults.on_tick();
        }
    }

    fn create_http_context(&self, stream_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(RouterStream {
            root_id: self.root_id,
            stream_id,
            table: self.table.clone(),
            faults: self.faults.clone(),
            mirror: None,
            cors_headers: Vec::new(),
            response_edits: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct RouterStream {
    root_id: u32,
    stream_id: u32,
    table: Option<Rc<RouteTable>>,
    faults: Option<Rc<FaultInjection>>,
    mirror: Option<PendingMirror>,
    /// Set on the response once it comes back.
    cors_headers: Vec<(&'static str, String)>,
    response_edits: Option<PendingResponseEdits>,
}

impl Context for RouterStream {
    fn on_done(&mut self) -> bool {
        // Answered or reset: a delayed stream must never be resumed after this.
        if let Some(faults) = &self.faults {
            faults.finish(self.stream_id);
        }
        true
    }
}

impl RouterStream {
    /// While a fault delays the request, its body and trailers wait too.
    fn hold_while_delayed(&self) -> Action {
        match &self.faults {
            Some(faults) if faults.is_delayed(self.stream_id) => Action::Pause,
            _ => Action::Continue,
        }
    }
}

impl HttpContext for RouterStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        // Only the VirtualService may choose the cluster or steer Envoy's router.
        // One read of the header map; only headers actually present cost a removal call.
        let mut request = host::RequestHeaders::from_all(self.get_http_request_headers());
        let untrusted: Vec<&str> = [CLUSTER_HEADER]
            .iter()
            .chain(&ROUTER_CONTROL_HEADERS)
            .copied()
            .filter(|name| request.all().iter().any(|(present, _)| present == name))
            .collect();
        if !untrusted.is_empty() {
            for header in untrusted {
                self.set_http_request_header(header, None);
            }
            request = host::RequestHeaders::new();
        }
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        match table.select(&request, &mut host::random::next_u64) {
            Decision::Forward(forward) => {
                self.forward(&forward, &request);
                if end_of_stream {
                    self.send_mirror(&[]);
                }
                match (forward.fault, &self.faults) {
                    (Some(fault), Some(faults)) => {
                        faults.inject(self.stream_id, fault, &request, u64::MAX)
                    }
                    _ => Action::Continue,
                }
            }
            Decision::Respond(response) => {
                let headers: Vec<(&str, &str)> = response
                    .headers
                    .iter()
                    .map(|(name, value)| (*name, value.as_str()))
                    .collect();
                let body = (!response.body.is_empty()).then_some(response.body.as_slice());
                self.send_http_response(u32::from(response.status), headers, body);
                Action::Pause
            }
            Decision::NoRoute => Action::Continue,
            Decision::UnknownService { cluster } => {
                log::debug!("router: no service has {cluster}");
                let reply = host::LocalReply {
                    status: 503,
                    body: "",
                    details: UNKNOWN_SERVICE_DETAILS,
                    grpc_status: None,
                };
                if let Err(status) = host::send_local_reply(reply) {
                    log::warn!("router: cannot answer 503 for {cluster}: {status:?}");
                }
                Action::Pause
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.mirror.is_some() {
            if let Some(chunk) = self.get_http_request_body(0, body_size) {
                if let Some(mirror) = &mut self.mirror {
                    mirror.add_body(&chunk);
                }
            }
            if end_of_stream {
                self.send_mirror(&[]);
            }
        }
        self.hold_while_delayed()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(edits) = &self.response_edits {
            edits.apply();
        }
        for (name, value) in &self.cors_headers {
            self.set_http_response_header(name, Some(value));
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.mirror.is_some() {
            let trailers = self.get_http_request_trailers();
            self.send_mirror(&trailers);
        }
        self.hold_while_delayed()
    }
}

impl RouterStream {
    fn forward(&mut self, forward: &ForwardTo, request: &host::RequestHeaders) {
        apply_request_operations(&forward.headers, request);
        self.response_edits = PendingResponseEdits::new(&forward.headers, request);
        if let Some(path) = &forward.path {
            self.set_http_request_header(":path", Some(path));
        }
        if let Some(authority) = forward.authority {
            self.set_http_request_header(":authority", Some(authority));
        }
        for (name, value) in forward.router_headers {
            self.set_http_request_header(name, Some(value));
        }
        if !forward.mirrors.is_empty() {
            self.mirror = Some(PendingMirror::new(
                forward
                    .mirrors
                    .iter()
                    .map(|cluster| cluster.to_string())
                    .collect(),
                self.get_http_request_headers(),
                forward.mirror_timeout,
            ));
        }
        self.cors_headers.clone_from(&forward.cors_headers);
        self.set_http_request_header(CLUSTER_HEADER, Some(forward.cluster));
        // Published for the modules after this one (the metrics module's route labels).
        host::properties::set_string(route_properties::ROUTE_NAME, forward.route_name);
        host::properties::set_string(route_properties::VIRTUAL_SERVICE, forward.virtual_service);
        host::properties::set_string(route_properties::CLUSTER, forward.cluster);
    }

    fn send_mirror(&mut self, trailers: &[(String, String)]) {
        if let Some(mirror) = self.mirror.take() {
            mirror.send(self.root_id, self.stream_id, trailers);
        }
    }
}
