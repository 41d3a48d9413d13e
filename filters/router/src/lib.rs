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
mod stats;

use std::rc::Rc;

use engine::route_properties;
use engine::router::{
    Decision, ForwardTo, RouteTable, CLUSTER_HEADER, ROUTER_CONTROL_HEADERS,
    UNKNOWN_SERVICE_DETAILS,
};
use host::health::ModuleHealth;
use host::{in_callback, FaultInjection, HeaderMap, LocalReply};
use mirror::PendingMirror;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};
use route_headers::{apply_request_operations, PendingResponseEdits};
use stats::MirrorStats;

/// The module's name: its log prefix, its stats prefix and its `root_id` in the suite build.
pub const MODULE: &str = "router";

// The module's own `.wasm`; the suite build (`filters/suite`) links this crate without it.
#[cfg(feature = "entry")]
proxy_wasm::main! {{
    host::start_module(MODULE);
    proxy_wasm::set_root_context(root);
}}

/// The module's root context for the plugin whose root context is `context_id`.
pub fn root(context_id: u32) -> Box<dyn RootContext> {
    Box::new(RouterRoot {
        root_id: context_id,
        table: None,
        faults: None,
        mirror_stats: None,
    })
}

struct RouterRoot {
    root_id: u32,
    table: Option<Rc<RouteTable>>,
    /// VirtualService `fault`s in flight; stats under `router.fault.*`.
    faults: Option<Rc<FaultInjection>>,
    mirror_stats: Option<Rc<MirrorStats>>,
}

/// Mirror answers arrive here and are ignored.
impl Context for RouterRoot {}

impl RootContext for RouterRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let _in = in_callback("on_configure");
        if !host::configure(MODULE, &mut self.table, RouteTable::from_json) {
            return false;
        }
        for warning in self.table.iter().flat_map(|table| table.warnings()) {
            log::warn!("router: {warning}");
        }
        if let Some(table) = &self.table {
            ModuleHealth::of(MODULE).set_gauge(
                "routes",
                u64::try_from(table.route_count()).unwrap_or(u64::MAX),
            );
        }
        if self.mirror_stats.is_none() {
            match MirrorStats::define() {
                Ok(stats) => self.mirror_stats = Some(Rc::new(stats)),
                Err(error) => {
                    log::error!("router: {error}");
                    return false;
                }
            }
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
        let _in = in_callback("on_tick");
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
            mirror_stats: self.mirror_stats.clone(),
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
    mirror_stats: Option<Rc<MirrorStats>>,
    mirror: Option<PendingMirror>,
    /// Set on the response once it comes back.
    cors_headers: Vec<(&'static str, String)>,
    response_edits: Option<PendingResponseEdits>,
}

impl Context for RouterStream {
    fn on_done(&mut self) -> bool {
        let _in = in_callback("on_done");
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
        let _in = in_callback("on_http_request_headers");
        // Only the VirtualService may choose the cluster or steer Envoy's router.
        // One read of the header map; only headers actually present cost a removal call.
        let mut request = host::RequestHeaders::from_all(HeaderMap::request().all());
        host::crash_switch::panic_if_asked(&request);
        let untrusted: Vec<&str> = [CLUSTER_HEADER]
            .iter()
            .chain(&ROUTER_CONTROL_HEADERS)
            .copied()
            .filter(|name| request.all().iter().any(|(present, _)| present == name))
            .collect();
        if !untrusted.is_empty() {
            let headers = HeaderMap::request();
            for header in untrusted {
                headers.remove(header);
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
                // Envoy's router applies the route's response headers to its own answers; the
                // local reply passes through this module's `on_http_response_headers`.
                self.response_edits =
                    PendingResponseEdits::new(&response.response_headers, &request);
                let headers: Vec<(&str, &str)> = response
                    .headers
                    .iter()
                    .map(|(name, value)| (*name, value.as_str()))
                    .collect();
                let reply = LocalReply {
                    status: u32::from(response.status),
                    headers: &headers,
                    body: &response.body,
                    details: "",
                    grpc_status: None,
                };
                if let Err(status) = host::send_local_reply(reply) {
                    log::warn!("router: cannot answer the request: {status:?}");
                }
                Action::Pause
            }
            Decision::NoRoute => Action::Continue,
            Decision::UnknownService {
                cluster,
                response_headers,
            } => {
                log::debug!("router: no service has {cluster}");
                self.response_edits = PendingResponseEdits::new(&response_headers, &request);
                let reply = LocalReply {
                    status: 503,
                    headers: &[],
                    body: b"",
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
        let _in = in_callback("on_http_request_body");
        if let Some(mirror) = &mut self.mirror {
            if mirror.wants_body() {
                if let Some(chunk) = host::request_body(body_size) {
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
        let _in = in_callback("on_http_response_headers");
        if let Some(edits) = &self.response_edits {
            edits.apply();
        }
        if !self.cors_headers.is_empty() {
            let response = HeaderMap::response();
            for (name, value) in &self.cors_headers {
                response.set(name, value);
            }
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let _in = in_callback("on_http_request_trailers");
        if self.mirror.is_some() {
            let trailers = host::request_trailers();
            self.send_mirror(&trailers);
        }
        self.hold_while_delayed()
    }
}

impl RouterStream {
    fn forward(&mut self, forward: &ForwardTo, request: &host::RequestHeaders) {
        apply_request_operations(&forward.headers, request);
        self.response_edits = PendingResponseEdits::new(&forward.headers, request);
        let headers = HeaderMap::request();
        if let Some(path) = &forward.path {
            headers.set(":path", path);
        }
        if let Some(authority) = forward.authority {
            headers.set(":authority", authority);
        }
        for (name, value) in forward.router_headers {
            headers.set(name, value);
        }
        if !forward.mirrors.is_empty() {
            let max_body_bytes = self
                .table
                .as_ref()
                .map_or(0, |table| table.mirror_max_body_bytes());
            self.mirror = Some(PendingMirror::new(
                forward
                    .mirrors
                    .iter()
                    .map(|cluster| cluster.to_string())
                    .collect(),
                headers.all(),
                forward.mirror_timeout,
                max_body_bytes,
            ));
        }
        self.cors_headers.clone_from(&forward.cors_headers);
        headers.set(CLUSTER_HEADER, forward.cluster);
        // Envoy matches its `cluster_header` route again; explicit where the host offers it.
        host::clear_route_cache();
        // Published for the modules after this one (the metrics module's route labels).
        host::properties::set_string(route_properties::ROUTE_NAME, forward.route_name);
        host::properties::set_string(route_properties::VIRTUAL_SERVICE, forward.virtual_service);
        host::properties::set_string(route_properties::CLUSTER, forward.cluster);
    }

    fn send_mirror(&mut self, trailers: &[(String, String)]) {
        if let (Some(mirror), Some(stats)) = (self.mirror.take(), &self.mirror_stats) {
            mirror.send(self.root_id, self.stream_id, trailers, stats);
        }
    }
}
