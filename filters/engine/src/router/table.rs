//! The compiled route table and per-request route selection.

use crate::request::RequestView;
use crate::request_match::RequestMatch;
use crate::virtual_service::RouterConfig;
use crate::{ConfigError, ConfigWarning};

use std::collections::HashSet;
use std::time::Duration;

use crate::percentage::FractionalPercent;

use super::cors::{CorsOutcome, CorsPolicy};
use super::destinations::WeightedClusters;
use super::hosts::HostIndex;
use super::path_index::{PathIndex, WHOLE_ROUTE};
use super::redirect::Redirect;
use super::rewrite::Rewrite;
use super::route_headers::RouteHeaders;
use super::sticky::StickyKey;
#[cfg(doc)]
use super::DEFAULT_MIRROR_TIMEOUT;
use crate::fault::FaultPolicy;

/// Every VirtualService of a config, compiled; built once per config, shared by all requests.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub(super) hosts: HostIndex,
    pub(super) virtual_hosts: Vec<VirtualHost>,
    pub(super) routes: Vec<Route>,
    pub(super) sticky: Option<StickyKey>,
    pub(super) mirror_max_body_bytes: u64,
    /// What the config does that is accepted but reported, each with its field path: Istio's
    /// validation warnings, and destinations no service in `servicePorts` has.
    pub(super) warnings: Vec<ConfigWarning>,
    /// Route clusters of services (or ports) `servicePorts` does not list: see
    /// [`Decision::UnknownService`].
    pub(super) unknown_clusters: HashSet<String>,
}

/// The routes of one host, merged across VirtualServices in first-match order.
#[derive(Debug, Clone, Default)]
pub(super) struct VirtualHost {
    pub(super) route_ids: Vec<usize>,
    /// Present for hosts with more routes than a linear scan handles well.
    pub(super) index: Option<PathIndex>,
}

/// Up to this many routes, testing each in turn is cheaper than consulting an index.
pub(super) const LINEAR_SCAN_ROUTES: usize = 16;

/// One compiled `http` entry.
#[derive(Debug, Clone)]
pub struct Route {
    /// The `http` entry's name, for requests that match without a named block.
    pub(super) name: String,
    /// Per block, the route name Istio gives it: `<http name>.<match name>` when both are set.
    pub(super) block_names: Vec<String>,
    /// `namespace/name` of the VirtualService the route came from.
    pub(super) virtual_service: String,
    pub(super) matches: Vec<RequestMatch>,
    pub(super) action: RouteAction,
    pub(super) cors: Option<CorsPolicy>,
    /// The route's own `headers`; a destination's apply first, then these.
    pub(super) headers: RouteHeaders,
    pub(super) fault: Option<FaultPolicy>,
}

#[derive(Debug, Clone)]
pub(super) enum RouteAction {
    Forward(Forward),
    Redirect(Redirect),
    DirectResponse { status: u16, body: Vec<u8> },
}

#[derive(Debug, Clone)]
pub(super) struct Forward {
    pub(super) clusters: WeightedClusters,
    /// Mirror clusters, each with the share of requests it gets a copy of.
    pub(super) mirrors: Vec<(String, FractionalPercent)>,
    /// How long a mirrored copy may take: the route's timeout, else [`DEFAULT_MIRROR_TIMEOUT`].
    pub(super) mirror_timeout: Duration,
    pub(super) rewrite: Rewrite,
    pub(super) router_headers: Vec<(&'static str, String)>,
}

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
        cluster: &'a str,
        /// The destination's and the route's `headers`, whose response operations Envoy's
        /// router applies to its own 503 too.
        response_headers: [&'a RouteHeaders; 2],
    },
}

/// Where and how a matched request goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTo<'a> {
    pub route_name: &'a str,
    /// `namespace/name` of the VirtualService.
    pub virtual_service: &'a str,
    pub cluster: &'a str,
    /// The rewritten `:path`, when the route rewrites it.
    pub path: Option<String>,
    /// The rewritten `:authority`, when the route rewrites it.
    pub authority: Option<&'a str>,
    /// `x-envoy-*` timeout and retry headers for Envoy's router.
    pub router_headers: &'a [(&'static str, String)],
    /// Clusters that get a copy of this request; their answers are ignored.
    pub mirrors: Vec<&'a str>,
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
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// The route's `headers` whose response operations apply to this answer, as Envoy's router
    /// applies a route's response headers to its redirects and direct responses. Empty for a
    /// CORS preflight, which Envoy's CORS filter answers before the route's headers apply.
    pub response_headers: Vec<&'a RouteHeaders>,
}

impl RouteTable {
    /// Parses, validates and compiles a router plugin config.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        super::compile::compile(&RouterConfig::from_json(bytes)?)
    }

    /// The largest request body a mirror copies (`mirrorMaxBodyBytes`).
    pub fn mirror_max_body_bytes(&self) -> u64 {
        self.mirror_max_body_bytes
    }

    /// The config's warnings, e.g. `http[0].retries.backoff: ...`: accepted, for the host to
    /// log once when it loads the config. Istio's own validation warnings are among them.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// The number of compiled routes, counting a route once even when several hosts share it.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// Selects the route for `request`: the virtual host by `:authority`, then the first route
    /// with a matching block (a route without blocks matches everything). `random` yields
    /// uniform random numbers for weighted destinations and mirror percentages.
    pub fn select(
        &self,
        request: &impl RequestView,
        random: &mut impl FnMut() -> u64,
    ) -> Decision<'_> {
        let Some(authority) = request.header(":authority") else {
            return Decision::NoRoute;
        };
        let Some(virtual_host) = self
            .hosts
            .find(&authority)
            .and_then(|index| self.virtual_hosts.get(index))
        else {
            return Decision::NoRoute;
        };
        let found = match &virtual_host.index {
            None => self.scan(virtual_host, request),
            Some(index) => self.lookup(virtual_host, index, request),
        };
        let Some((route, block)) = found else {
            return Decision::NoRoute;
        };
        let sticky_draw = self.sticky.as_ref().and_then(|key| key.draw(request));
        match route.decide(request, block, sticky_draw, random) {
            Decision::Forward(forward) if self.unknown_clusters.contains(forward.cluster) => {
                Decision::UnknownService {
                    cluster: forward.cluster,
                    response_headers: forward.headers,
                }
            }
            decision => decision,
        }
    }

    /// Tests every route in order.
    fn scan(
        &self,
        virtual_host: &VirtualHost,
        request: &impl RequestView,
    ) -> Option<(&Route, Option<usize>)> {
        virtual_host
            .route_ids
            .iter()
            .filter_map(|&id| self.routes.get(id))
            .find_map(|route| route.matching_block(request).map(|block| (route, block)))
    }

    /// Tests only the blocks whose `uri` fits the path, in order.
    fn lookup(
        &self,
        virtual_host: &VirtualHost,
        index: &PathIndex,
        request: &impl RequestView,
    ) -> Option<(&Route, Option<usize>)> {
        let path = request.header(":path");
        let mut candidates = Vec::new();
        index.candidates(path.as_deref().unwrap_or_default(), &mut candidates);
        candidates.into_iter().find_map(|candidate| {
            let route = virtual_host
                .route_ids
                .get(candidate.position as usize)
                .and_then(|&id| self.routes.get(id))?;
            if candidate.block == WHOLE_ROUTE {
                return Some((route, None));
            }
            let block = candidate.block as usize;
            let request_match = route.matches.get(block)?;
            // Without a `:path`, a `uri` condition fails whatever the index made of "".
            let matched = if candidate.uri_decided && path.is_some() {
                request_match.matches_apart_from_uri(request)
            } else {
                request_match.matches(request)
            };
            matched.then_some((route, Some(block)))
        })
    }
}

impl Route {
    /// `Some(Some(index))` for the first matching block, `Some(None)` when the route has no
    /// blocks (it matches everything), `None` when no block matches.
    fn matching_block(&self, request: &impl RequestView) -> Option<Option<usize>> {
        if self.matches.is_empty() {
            return Some(None);
        }
        self.matches
            .iter()
            .position(|block| block.matches(request))
            .map(Some)
    }

    fn decide(
        &self,
        request: &impl RequestView,
        block: Option<usize>,
        sticky_draw: Option<u64>,
        random: &mut impl FnMut() -> u64,
    ) -> Decision<'_> {
        let block_match = block.and_then(|index| self.matches.get(index));
        let route_name = block
            .and_then(|index| self.block_names.get(index))
            .unwrap_or(&self.name);
        let cors_headers = match self.cors.as_ref().map(|cors| cors.evaluate(request)) {
            Some(CorsOutcome::Answer(preflight)) => return Decision::Respond(preflight),
            Some(CorsOutcome::AddToResponse(headers)) => headers,
            Some(CorsOutcome::Untouched) | None => Vec::new(),
        };
        match &self.action {
            RouteAction::Forward(forward) => {
                let Some(destination) = forward
                    .clusters
                    .pick(sticky_draw.unwrap_or_else(&mut *random))
                else {
                    return Decision::NoRoute;
                };
                let path = forward.rewrite.path.as_ref().map(|rewrite| {
                    let path = request.header(":path").unwrap_or_default();
                    let rewritten_len = block_match
                        .map_or(usize::from(path.starts_with('/')), |block| {
                            block.rewritten_len(&path)
                        });
                    rewrite.apply(&path, rewritten_len)
                });
                Decision::Forward(ForwardTo {
                    route_name,
                    virtual_service: &self.virtual_service,
                    cluster: &destination.cluster,
                    path,
                    authority: forward.rewrite.authority.as_deref(),
                    router_headers: &forward.router_headers,
                    mirrors: forward
                        .mirrors
                        .iter()
                        .filter(|(_, percentage)| percentage.enabled(random()))
                        .map(|(cluster, _)| cluster.as_str())
                        .collect(),
                    mirror_timeout: forward.mirror_timeout,
                    cors_headers,
                    headers: [&destination.headers, &self.headers],
                    fault: self.fault.as_ref(),
                })
            }
            RouteAction::Redirect(redirect) => {
                let path = request.header(":path").unwrap_or_default();
                let matched_len = block_match.map_or(usize::from(path.starts_with('/')), |block| {
                    block.rewritten_len(&path)
                });
                let mut headers = vec![("location", redirect.location(request, matched_len))];
                headers.extend(cors_headers);
                Decision::Respond(LocalResponse {
                    status: redirect.status,
                    headers,
                    body: Vec::new(),
                    response_headers: vec![&self.headers],
                })
            }
            RouteAction::DirectResponse { status, body } => Decision::Respond(LocalResponse {
                status: *status,
                headers: cors_headers,
                body: body.clone(),
                response_headers: vec![&self.headers],
            }),
        }
    }
}

#[cfg(test)]
impl RouteTable {
    /// The same table answering by linear scan only: the reference the index is tested against.
    pub(super) fn without_indexes(mut self) -> Self {
        for virtual_host in &mut self.virtual_hosts {
            virtual_host.index = None;
        }
        self
    }
}
