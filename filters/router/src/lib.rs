//! The router module: picks the upstream cluster for each request from VirtualService rules.
//!
//! It writes the chosen cluster into the request header [`CLUSTER_HEADER`], which Envoy's route
//! consumes with `cluster_header`; Envoy re-selects the route after the header changes. A request
//! that matches nothing leaves without the header and gets Envoy's own 404 `route_not_found`.
//! The chosen route is also published as properties ([`route_properties`]) for later modules.

use std::rc::Rc;

use engine::route_properties;
use engine::router::{Decision, RouteTable, CLUSTER_HEADER};
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
        // A client must never pick the cluster: whatever it sent is dropped first.
        self.set_http_request_header(CLUSTER_HEADER, None);
        let Some(table) = &self.table else {
            return Action::Continue;
        };
        if let Decision::Forward {
            route_name,
            virtual_service,
            cluster,
        } = table.select(&host::RequestHeaders::new())
        {
            self.set_http_request_header(CLUSTER_HEADER, Some(cluster));
            // Published for the modules after this one (the metrics module's route labels).
            host::properties::set_string(route_properties::ROUTE_NAME, &route_name);
            host::properties::set_string(route_properties::VIRTUAL_SERVICE, virtual_service);
            host::properties::set_string(route_properties::CLUSTER, cluster);
        }
        Action::Continue
    }
}
