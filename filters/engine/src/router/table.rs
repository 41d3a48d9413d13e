//! The compiled route table and per-request route selection: the virtual host by
//! `:authority`, then the first matching route, by linear scan or through the path index.

use std::collections::HashSet;

use crate::stream::RequestView;
use crate::ConfigWarning;

use super::candidate::WHOLE_ROUTE;
use super::decision::Decision;
use super::explanation::{BlockMismatch, Explanation, Passed, Taken};
use super::hosts::HostIndex;
use super::path_index::PathIndex;
use super::route::Route;
use super::sticky::StickyKey;

/// Every VirtualService of a config, compiled; built once per config, shared by all requests.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub(super) hosts: HostIndex,
    pub(super) virtual_hosts: Vec<VirtualHost>,
    pub(super) routes: Vec<Route>,
    pub(super) sticky: Option<StickyKey>,
    pub(super) mirror_max_body_bytes: u64,
    /// `publishRoute`: see [`RouteTable::publishes_route`].
    pub(super) publish_route: bool,
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

impl RouteTable {
    /// The largest request body a mirror copies (`mirrorMaxBodyBytes`).
    pub fn mirror_max_body_bytes(&self) -> u64 {
        self.mirror_max_body_bytes
    }

    /// Whether a forwarded request's route is published for the modules after the router
    /// (`publishRoute`, on by default): [`crate::route_properties::ROUTE`].
    pub fn publishes_route(&self) -> bool {
        self.publish_route
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

    /// Selects the route for `request`: the virtual host by `:authority` (unread when `*` is
    /// the only host), then the first route with a matching block (a route without blocks
    /// matches everything). `random` yields uniform random numbers for weighted destinations
    /// and mirror percentages.
    pub fn select(
        &self,
        request: &impl RequestView,
        random: &mut impl FnMut() -> u64,
    ) -> Decision<'_> {
        let Some(virtual_host) = self.virtual_host(request) else {
            return Decision::NoRoute;
        };
        let found = match &virtual_host.index {
            None => self.scan(virtual_host, request),
            Some(index) => self.lookup(virtual_host, index, request),
        };
        let Some((route, block)) = found else {
            return Decision::NoRoute;
        };
        self.decide(route, block, request, random)
    }

    /// The virtual host of `request`'s `:authority`, for [`Self::select`] and
    /// [`Self::explain`] alike. With `*` the only host, every authority selects it, so
    /// `:authority` is not read (one host call fewer per request).
    fn virtual_host(&self, request: &impl RequestView) -> Option<&VirtualHost> {
        let index = self.hosts.catch_all_only().or_else(|| {
            request
                .header(":authority")
                .and_then(|authority| self.hosts.find(&authority))
        })?;
        self.virtual_hosts.get(index)
    }

    /// What `route`, matched by compiled block `block`, decides for `request`: shared by
    /// [`Self::select`] and [`Self::explain`].
    fn decide<'t>(
        &'t self,
        route: &'t Route,
        block: Option<usize>,
        request: &impl RequestView,
        random: &mut impl FnMut() -> u64,
    ) -> Decision<'t> {
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

    /// [`Self::select`] with its account: every route of the virtual host tested in order by
    /// linear scan (the path index only skips routes a scan would reject), and for each one
    /// before the taken route the condition each of its blocks failed on. Meant for tools
    /// (`gateway explain`), not the request path: it allocates.
    pub fn explain(
        &self,
        request: &impl RequestView,
        random: &mut impl FnMut() -> u64,
    ) -> Explanation<'_> {
        let mut explanation = Explanation {
            virtual_host_found: false,
            passed: Vec::new(),
            taken: None,
            decision: Decision::NoRoute,
        };
        let Some(virtual_host) = self.virtual_host(request) else {
            return explanation;
        };
        explanation.virtual_host_found = true;
        for route in virtual_host
            .route_ids
            .iter()
            .filter_map(|&id| self.routes.get(id))
        {
            let mut blocks = Vec::new();
            let mut matched = route.matches.is_empty().then_some(None);
            for (index, block) in route.matches.iter().enumerate() {
                match block.mismatch(request) {
                    None => {
                        matched = Some(Some(index));
                        break;
                    }
                    Some(mismatch) => blocks.push(BlockMismatch {
                        block: route.spec_block_index(index),
                        mismatch,
                    }),
                }
            }
            if let Some(block) = matched {
                explanation.taken = Some(Taken {
                    route,
                    block: block.map(|index| route.spec_block_index(index)),
                    earlier_blocks: blocks,
                });
                explanation.decision = self.decide(route, block, request, random);
                return explanation;
            }
            explanation.passed.push(Passed { route, blocks });
        }
        explanation
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
