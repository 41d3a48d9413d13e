//! The compiled route table and per-request route selection.

use crate::request::RequestView;
use crate::request_match::RequestMatch;
use crate::virtual_service::RouterConfig;
use crate::ConfigError;

use super::hosts::HostIndex;

/// Every VirtualService of a config, compiled; built once per config, shared by all requests.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub(super) hosts: HostIndex,
    /// Per virtual host, the ids of its routes in first-match order.
    pub(super) virtual_hosts: Vec<Vec<usize>>,
    pub(super) routes: Vec<Route>,
}

/// One compiled `http` entry.
#[derive(Debug, Clone)]
pub struct Route {
    /// The `http` entry's name, joined with the matching block's name by `.` as Istio does.
    pub name: String,
    /// `namespace/name` of the VirtualService the route came from.
    pub virtual_service: String,
    pub(super) matches: Vec<RequestMatch>,
    pub(super) cluster: String,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Send it to `cluster`.
    Forward {
        route_name: String,
        virtual_service: &'a str,
        cluster: &'a str,
    },
    /// Nothing matched: Envoy answers 404 `route_not_found`.
    NoRoute,
}

impl RouteTable {
    /// Parses, validates and compiles a router plugin config.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        super::compile::compile(&RouterConfig::from_json(bytes)?)
    }

    /// The number of compiled routes, counting a route once even when several hosts share it.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// Selects the route for `request`: the virtual host by `:authority`, then the first route
    /// with a matching block (or none, which matches everything).
    pub fn select(&self, request: &impl RequestView) -> Decision<'_> {
        let Some(authority) = request.header(":authority") else {
            return Decision::NoRoute;
        };
        let Some(route_ids) = self
            .hosts
            .find(&authority)
            .and_then(|index| self.virtual_hosts.get(index))
        else {
            return Decision::NoRoute;
        };
        for route in route_ids.iter().filter_map(|&id| self.routes.get(id)) {
            if let Some(block) = route.matching_block(request) {
                return Decision::Forward {
                    route_name: route.name_with(block),
                    virtual_service: &route.virtual_service,
                    cluster: &route.cluster,
                };
            }
        }
        Decision::NoRoute
    }
}

impl Route {
    /// `Some(Some(block))` for the first matching block, `Some(None)` when the route has no
    /// blocks (it matches everything), `None` when no block matches.
    fn matching_block(&self, request: &impl RequestView) -> Option<Option<&RequestMatch>> {
        if self.matches.is_empty() {
            return Some(None);
        }
        self.matches
            .iter()
            .find(|block| block.matches(request))
            .map(Some)
    }

    fn name_with(&self, block: Option<&RequestMatch>) -> String {
        match block.and_then(|block| block.name.as_deref()) {
            Some(match_name) if !self.name.is_empty() => format!("{}.{match_name}", self.name),
            Some(match_name) => match_name.to_owned(),
            None => self.name.clone(),
        }
    }
}
