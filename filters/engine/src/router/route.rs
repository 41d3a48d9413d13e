//! One compiled `http` entry of a VirtualService and what it decides for a request it matches.

use std::sync::Arc;
use std::time::Duration;

use crate::fault::FaultPolicy;
use crate::percentage::FractionalPercent;
use crate::request_match::RequestMatch;
use crate::stream::RequestView;

use super::cors::{CorsOutcome, CorsPolicy};
use super::decision::{Decision, ForwardTo, LocalResponse};
use super::destinations::WeightedClusters;
use super::redirect::Redirect;
use super::rewrite::Rewrite;
use super::route_headers::CompactHeaders;
use super::route_origin::RouteOrigin;
#[cfg(doc)]
use super::DEFAULT_MIRROR_TIMEOUT;

/// One compiled `http` entry.
#[derive(Debug, Clone)]
pub struct Route {
    /// The `http` entry's name, for requests that match without a named block.
    pub(super) name: String,
    /// Per block, the route name Istio gives it: `<http name>.<match name>` when both are set.
    pub(super) block_names: Vec<String>,
    /// `namespace/name` of the VirtualService the route came from, shared by its routes.
    pub(super) virtual_service: Arc<str>,
    pub(super) matches: Vec<RequestMatch>,
    pub(super) action: RouteAction,
    // Boxed, as `fault`: most routes have none, and a large table holds many routes.
    pub(super) cors: Option<Box<CorsPolicy>>,
    /// The route's own `headers`; a destination's apply first, then these.
    pub(super) headers: CompactHeaders,
    pub(super) fault: Option<Box<FaultPolicy>>,
    /// Where the route and its blocks are in the VirtualService's spec.
    pub(super) origin: RouteOrigin,
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
    pub(super) router_headers: Arc<[(&'static str, String)]>,
}

impl Route {
    /// The `http` entry's `name` (empty when it has none).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `namespace/name` of the VirtualService the route is in (for a delegated route, the
    /// delegate VirtualService that wrote it).
    pub fn virtual_service(&self) -> &str {
        &self.virtual_service
    }

    /// The route's index in its VirtualService's `http`.
    pub fn http_index(&self) -> usize {
        self.origin.http_index()
    }

    /// The index in the spec's `match` of compiled block `block`; blocks bound to other
    /// gateways are not compiled, so the two can differ.
    pub fn spec_block_index(&self, block: usize) -> usize {
        self.origin.block_index(block)
    }

    /// The name of compiled block `block` (`match[].name`), if it has one.
    pub fn block_name(&self, block: usize) -> Option<&str> {
        self.matches
            .get(block)
            .and_then(|block| block.name.as_deref())
    }

    /// The number of compiled match blocks; 0 means the route matches every request.
    pub fn block_count(&self) -> usize {
        self.matches.len()
    }

    /// `Some(Some(index))` for the first matching block, `Some(None)` when the route has no
    /// blocks (it matches everything), `None` when no block matches.
    pub(super) fn matching_block(&self, request: &impl RequestView) -> Option<Option<usize>> {
        if self.matches.is_empty() {
            return Some(None);
        }
        self.matches
            .iter()
            .position(|block| block.matches(request))
            .map(Some)
    }

    pub(super) fn decide(
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
                    headers: [destination.headers.get(), self.headers.get()],
                    fault: self.fault.as_deref(),
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
                    response_headers: vec![self.headers.get()],
                })
            }
            RouteAction::DirectResponse { status, body } => Decision::Respond(LocalResponse {
                status: *status,
                headers: cors_headers,
                body: body.clone(),
                response_headers: vec![self.headers.get()],
            }),
        }
    }
}
