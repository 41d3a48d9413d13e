//! The router module: applies VirtualService rules to each request.
//!
//! It picks the upstream cluster and writes it into the request header [`CLUSTER_HEADER`],
//! which Envoy's route consumes with `cluster_header`; Envoy re-selects the route after the
//! header changes. Rewrites, timeouts and retries travel as request headers Envoy's router
//! honours; redirects and direct responses are answered here; mirrors are HTTP calls. A request
//! that matches nothing leaves without the header and gets Envoy's own 404 `route_not_found`.
//! The chosen route is also published, as one property ([`route_properties::ROUTE`]), for later
//! modules, unless the config's `publishRoute` is off.

mod mirror;
mod route_headers;
mod stats;

use std::rc::Rc;

use engine::fault::FaultPolicy;
use engine::headers::HeaderMutator;
use engine::route_properties::{self, RouteProperty};
use engine::router::{
    Decision, ForwardTo, RouteTable, AUTHORITY_HEADER, CLUSTER_HEADER, UNKNOWN_SERVICE_DETAILS,
};
use engine::{ConfigError, RequestView};
use host::health::ModuleHealth;
use host::{
    in_callback, FaultInjection, HeaderMapKind, LocalReply, Module, ProxyWasm, StreamHost, VmHost,
};
use mirror::PendingMirror;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use route_headers::{apply_request_operations, PendingResponseEdits};
use stats::MirrorStats;

/// The module's name: its log prefix, its stats prefix and its `root_id` in the suite build.
pub const MODULE: &str = "router";

/// The router module: the compiled VirtualServices, and for the whole VM the runtime of
/// VirtualService `fault`s (stats under `router.fault.*`) and the mirror counters.
struct Router;

/// What every stream of a VM shares besides the route table. The fault runtime owns the VM's
/// host, which the mirrors use too.
struct RouterShared<V: VmHost = ProxyWasm> {
    faults: Rc<FaultInjection<V>>,
    mirror_stats: Rc<MirrorStats>,
}

impl Module for Router {
    const NAME: &'static str = MODULE;
    type Config = RouteTable;
    type Shared = RouterShared;
    type Stream = RouterStream;

    fn compile(bytes: &[u8]) -> Result<RouteTable, ConfigError> {
        RouteTable::from_json(bytes)
    }

    fn configured(table: &RouteTable, _shared: &RouterShared) {
        for warning in table.warnings() {
            log::warn!("router: {warning}");
        }
        ModuleHealth::of(Self::NAME).set_gauge(
            "routes",
            u64::try_from(table.route_count()).unwrap_or(u64::MAX),
        );
    }

    fn start() -> Result<RouterShared, String> {
        let faults = Rc::new(FaultInjection::start("router.fault", ProxyWasm)?);
        let mirror_stats = Rc::new(MirrorStats::define(faults.host())?);
        Ok(RouterShared {
            faults,
            mirror_stats,
        })
    }

    fn on_tick(shared: &RouterShared) {
        shared.faults.on_tick();
    }

    fn stream(
        table: Option<Rc<RouteTable>>,
        shared: Option<Rc<RouterShared>>,
        root_id: u32,
        stream_id: u32,
    ) -> RouterStream {
        RouterStream {
            root_id,
            stream_id,
            table,
            faults: shared.as_ref().map(|shared| shared.faults.clone()),
            mirror_stats: shared.as_ref().map(|shared| shared.mirror_stats.clone()),
            mirror: None,
            cors_headers: Vec::new(),
            response_edits: None,
        }
    }
}

host::module_main!(Router);

struct RouterStream<V: VmHost = ProxyWasm> {
    root_id: u32,
    stream_id: u32,
    table: Option<Rc<RouteTable>>,
    faults: Option<Rc<FaultInjection<V>>>,
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

impl HttpContext for RouterStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let _in = in_callback("on_http_request_headers");
        self.on_request_headers_event(&mut ProxyWasm, end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let _in = in_callback("on_http_request_body");
        self.on_request_body(&ProxyWasm, body_size, end_of_stream)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let _in = in_callback("on_http_response_headers");
        self.on_response_headers(&mut ProxyWasm);
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let _in = in_callback("on_http_request_trailers");
        self.on_request_trailers(&ProxyWasm)
    }
}

/// What routing did with a request.
#[derive(Debug)]
enum Routed {
    /// Sent on to Envoy's router, with the route's fault to inject, if any.
    Forwarded { fault: Option<FaultPolicy> },
    /// Answered here (`Pause`), or left to Envoy's 404 (`Continue`).
    NotForwarded(Action),
}

/// The stream logic, over any host (Envoy's, or the fakes in the tests).
impl<V: VmHost> RouterStream<V> {
    /// The request headers: routed, then mirrored when the request has no body, then held
    /// for the route's fault.
    fn on_request_headers_event(
        &mut self,
        host: &mut impl StreamHost,
        end_of_stream: bool,
    ) -> Action {
        match self.on_request_headers(host) {
            Routed::NotForwarded(action) => action,
            Routed::Forwarded { fault } => {
                if end_of_stream {
                    self.send_mirror(&[]);
                }
                match (fault, self.faults.clone()) {
                    (Some(fault), Some(faults)) => {
                        let request = host.sparse_request();
                        faults.inject(self.stream_id, &fault, &request, host, u64::MAX)
                    }
                    _ => Action::Continue,
                }
            }
        }
    }

    /// A body chunk: copied for the mirror (within its limit), which goes out with the last.
    fn on_request_body(
        &mut self,
        host: &impl StreamHost,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        if let Some(mirror) = &mut self.mirror {
            if mirror.wants_body() {
                if let Some(chunk) = host.request_body(body_size) {
                    mirror.add_body(&chunk);
                }
            }
            if end_of_stream {
                self.send_mirror(&[]);
            }
        }
        self.hold_while_delayed()
    }

    /// The trailers end the request: the mirror goes out with them.
    fn on_request_trailers(&mut self, host: &impl StreamHost) -> Action {
        if self.mirror.is_some() {
            let trailers = host.request_trailers();
            self.send_mirror(&trailers);
        }
        self.hold_while_delayed()
    }

    fn hold_while_delayed(&self) -> Action {
        self.faults.as_ref().map_or(Action::Continue, |faults| {
            faults.hold_while_delayed(self.stream_id)
        })
    }

    /// Routes the request: names its cluster and edits it, or answers it. Mirrors and faults,
    /// which need the host's timers and HTTP calls, are the caller's.
    fn on_request_headers(&mut self, host: &mut impl StreamHost) -> Routed {
        // A client's own route contract and router-control headers are gone already: Envoy's
        // early header mutation removes them before routing (`strip-route-headers.yaml`, with
        // the router's EnvoyFilter), and Envoy's edge sanitising the `x-envoy-*` ones. Looking
        // for them here would cost a host call each, or a read of the whole map; what the
        // module guards itself is `x-route-cluster`: set on a forward, removed on no route.
        // The view looks up only what the table asks for, one host call each.
        let request = host.sparse_request();
        host::crash_switch::panic_if_asked(&request);
        let Some(table) = self.table.clone() else {
            return Routed::NotForwarded(Action::Continue);
        };
        match table.select(&request, &mut host::random::next_u64) {
            Decision::Forward(forward) => {
                self.forward(host, &forward, &request);
                Routed::Forwarded {
                    fault: forward.fault.cloned(),
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
                if let Err(status) = host.send_local_reply(reply) {
                    log::warn!("router: cannot answer the request: {status:?}");
                }
                Routed::NotForwarded(Action::Pause)
            }
            Decision::NoRoute => {
                // Left to Envoy's 404; a client's cluster header must not route it instead.
                host.header_map(HeaderMapKind::Request)
                    .remove_header(CLUSTER_HEADER);
                Routed::NotForwarded(Action::Continue)
            }
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
                if let Err(status) = host.send_local_reply(reply) {
                    log::warn!("router: cannot answer 503 for {cluster}: {status:?}");
                }
                Routed::NotForwarded(Action::Pause)
            }
        }
    }

    fn forward(
        &mut self,
        host: &mut impl StreamHost,
        forward: &ForwardTo,
        request: &impl RequestView,
    ) {
        apply_request_operations(host, &forward.headers, request);
        self.response_edits = PendingResponseEdits::new(&forward.headers, request);
        let mut headers = host.header_map(HeaderMapKind::Request);
        if let Some(path) = &forward.path {
            headers.set_header(":path", path);
        }
        if let Some(authority) = forward.authority {
            headers.set_header(AUTHORITY_HEADER, authority);
        }
        for (name, value) in forward.router_headers {
            headers.set_header(name, value);
        }
        drop(headers);
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
                host.request_headers(),
                forward.mirror_timeout,
                max_body_bytes,
            ));
        }
        self.cors_headers.clone_from(&forward.cors_headers);
        host.header_map(HeaderMapKind::Request)
            .set_header(CLUSTER_HEADER, forward.cluster);
        // Envoy matches its `cluster_header` route again; explicit where the host offers it.
        host.clear_route_cache();
        // Published for the modules after this one (the metrics module's route labels), in one
        // host call: each property is a call and a filter-state object of its own.
        if self
            .table
            .as_ref()
            .is_some_and(|table| table.publishes_route())
        {
            let route = RouteProperty {
                route_name: forward.route_name,
                virtual_service: forward.virtual_service,
                cluster: forward.cluster,
            };
            host.set_property(route_properties::ROUTE, &route.encode());
        }
    }

    /// The route's response headers, then its CORS headers.
    fn on_response_headers(&mut self, host: &mut impl StreamHost) {
        if let Some(edits) = &self.response_edits {
            edits.apply(host);
        }
        if !self.cors_headers.is_empty() {
            let mut response = host.header_map(HeaderMapKind::Response);
            for (name, value) in &self.cors_headers {
                response.set_header(name, value);
            }
        }
    }

    fn send_mirror(&mut self, trailers: &[(String, String)]) {
        if let (Some(mirror), Some(stats), Some(faults)) =
            (self.mirror.take(), &self.mirror_stats, &self.faults)
        {
            mirror.send(faults.host(), self.root_id, self.stream_id, trailers, stats);
        }
    }
}

#[cfg(test)]
mod tests;
