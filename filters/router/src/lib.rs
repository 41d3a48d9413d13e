//! The router module: applies VirtualService rules to each request.
//!
//! It picks the upstream cluster and writes it into the request header [`CLUSTER_HEADER`],
//! which Envoy's route consumes with `cluster_header`; Envoy re-selects the route after the
//! header changes. Rewrites, timeouts and retries travel as request headers Envoy's router
//! honours; redirects and direct responses are answered here. A request that matches nothing
//! leaves without the header and gets Envoy's own 404 `route_not_found`.

use std::rc::Rc;

use engine::router::{Decision, ForwardTo, RouteTable, CLUSTER_HEADER, ROUTER_CONTROL_HEADERS};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    host::init_logging();
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(RouterRoot::default()) });
}}

#[derive(Default)]
struct RouterRoot {
    table: Option<Rc<RouteTable>>,
}

impl Context for RouterRoot {}

impl RootContext for RouterRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        host::configure("router", &mut self.table, RouteTable::from_json)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(RouterStream {
            table: self.table.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct RouterStream {
    table: Option<Rc<RouteTable>>,
}

impl Context for RouterStream {}

impl HttpContext for RouterStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // Only the VirtualService may choose the cluster or steer Envoy's router.
        self.set_http_request_header(CLUSTER_HEADER, None);
        for header in ROUTER_CONTROL_HEADERS {
            self.set_http_request_header(header, None);
        }
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        match table.select(&host::RequestHeaders::new(), host::random::next_u64()) {
            Decision::Forward(forward) => {
                self.forward(&forward);
                Action::Continue
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
        }
    }
}

impl RouterStream {
    fn forward(&self, forward: &ForwardTo) {
        if let Some(path) = &forward.path {
            self.set_http_request_header(":path", Some(path));
        }
        if let Some(authority) = forward.authority {
            self.set_http_request_header(":authority", Some(authority));
        }
        for (name, value) in forward.router_headers {
            self.set_http_request_header(name, Some(value));
        }
        self.set_http_request_header(CLUSTER_HEADER, Some(forward.cluster));
    }
}
