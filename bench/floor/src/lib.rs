//! The floor of any proxy-wasm filter, for `make bench` only (never shipped).
//!
//! With an empty plugin config it does nothing: every callback returns `Continue`, so what it
//! costs is what Envoy and V8 charge for a wasm filter at all (a stream context, one VM entry
//! per stream event). Its config can switch on, one by one, the host calls the router makes on
//! each request, so the benchmark can attribute the router's cost to them:
//!
//! - `read_headers`: read the request header map once (the router's one read);
//! - `read_each`: instead, look up one by one the headers the router reads on the benchmark's
//!   tables: `:path` alone (their one host is `*`, so the router does not read `:authority`);
//! - `set_header`: write `x-route-cluster` and clear Envoy's route cache, so Envoy selects the
//!   route again (the router's one write on a plain forward);
//! - `properties`: publish the filter-state property of the route (route, VirtualService and
//!   cluster in one value, `engine::route_properties::ROUTE`);
//!
//! The config is a comma-separated list of those words, e.g. `read_headers,set_header`;
//! `none` (or any other word) switches nothing on.

use engine::route_properties::{self, RouteProperty};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(FloorRoot::default()) });
}}

/// A cluster of the benchmark's synthetic route tables (`envoy_test::table_clusters`).
const CLUSTER: &str = "outbound|80||svc0.default.svc.cluster.local";

/// Which of the router's per-request host calls this filter repeats.
#[derive(Debug, Clone, Copy, Default)]
struct Steps {
    read_headers: bool,
    read_each: bool,
    set_header: bool,
    properties: bool,
}

impl Steps {
    fn parse(config: &str) -> Self {
        let mut steps = Steps::default();
        for word in config.split(',').map(str::trim) {
            match word {
                "read_headers" => steps.read_headers = true,
                "read_each" => steps.read_each = true,
                "set_header" => steps.set_header = true,
                "properties" => steps.properties = true,
                _ => {}
            }
        }
        steps
    }
}

#[derive(Default)]
struct FloorRoot {
    steps: Steps,
}

impl Context for FloorRoot {}

impl RootContext for FloorRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let mut steps = None;
        let loaded = host::configure("floor", &mut steps, |bytes| {
            Ok::<_, engine::ConfigError>(Steps::parse(&String::from_utf8_lossy(bytes)))
        });
        if let Some(steps) = steps {
            self.steps = *steps;
        }
        loaded
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(FloorStream { steps: self.steps }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct FloorStream {
    steps: Steps,
}

impl Context for FloorStream {}

impl HttpContext for FloorStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let steps = self.steps;
        if steps.read_headers {
            let headers = host::HeaderMap::request().all();
            // Keep the read from being optimised away.
            if headers.is_empty() {
                return Action::Continue;
            }
        }
        if steps.read_each && host::HeaderMap::request().first(":path").is_none() {
            return Action::Continue;
        }
        if steps.set_header {
            host::HeaderMap::request().set("x-route-cluster", CLUSTER);
            host::clear_route_cache();
        }
        if steps.properties {
            // The router's one, with values of the same size as the synthetic table's.
            let route = RouteProperty {
                route_name: "route-0",
                virtual_service: "default/bench",
                cluster: CLUSTER,
            };
            host::properties::set_string(route_properties::ROUTE, &route.encode());
        }
        Action::Continue
    }
}
