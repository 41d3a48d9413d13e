//! What route selection decides for a request: forward it upstream, answer it from the gateway,
//! or leave it to Envoy's 404. The module shell turns a decision into host calls.

use std::time::Duration;

use super::route_headers::RouteHeaders;
use crate::fault::FaultPolicy;

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Send it upstream through Envoy's router.
    Forward(ForwardTo<'a>),
    /// Answer it from the gateway (redirect, direct response, CORS preflight).
    Respond(LocalResponse<'a>),
    /// Nothing matched: Envoy answers 404 `route_not_found`.
    NoRoute,
    /// The picked destination is a service (or port) that `servicePorts` does not list, so
    /// Envoy has no cluster for it: the module answers 503 with details
    /// [`UNKNOWN_SERVICE_DETAILS`](super::UNKNOWN_SERVICE_DETAILS), where an Istio gateway
    /// answers 503 `cluster_not_found`.
    UnknownService {
        /// The route's cluster, which Envoy does not have.
        cluster: &'a str,
        /// The destination's and the route's `headers`, whose response operations Envoy's
        /// router applies to its own 503 too.
        response_headers: [&'a RouteHeaders; 2],
    },
}

/// Where and how a matched request goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTo<'a> {
    /// The route name Istio gives the matched route.
    pub route_name: &'a str,
    /// `namespace/name` of the VirtualService.
    pub virtual_service: &'a str,
    /// The Envoy cluster for `x-route-cluster`.
    pub cluster: &'a str,
    /// The rewritten `:path`, when the route rewrites it.
    pub path: Option<String>,
    /// The rewritten `:authority`, when the route rewrites it.
    pub authority: Option<&'a str>,
    /// `x-envoy-*` timeout and retry headers for Envoy's router.
    pub router_headers: &'a [(&'static str, String)],
    /// Clusters that get a copy of this request; their answers are ignored.
    pub mirrors: Vec<&'a str>,
    /// How long a mirrored copy may take.
    pub mirror_timeout: Duration,
    /// CORS headers for the response.
    pub cors_headers: Vec<(&'static str, String)>,
    /// The header operations in the order they apply: a weighted destination's `headers`,
    /// then the route's (a single destination's are merged into the route's when compiled).
    pub headers: [&'a RouteHeaders; 2],
    /// The route's `fault`, injected before the request goes upstream.
    pub fault: Option<&'a FaultPolicy>,
}

/// A response the gateway sends itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse<'a> {
    /// The HTTP status.
    pub status: u16,
    /// Headers of the answer (`location`, CORS headers).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The route's `headers` whose response operations apply to this answer, as Envoy's router
    /// applies a route's response headers to its redirects and direct responses. Empty for a
    /// CORS preflight, which Envoy's CORS filter answers before the route's headers apply.
    pub response_headers: Vec<&'a RouteHeaders>,
}
