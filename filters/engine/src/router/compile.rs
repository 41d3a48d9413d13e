//! Compilation of a validated router config into a [`RouteTable`]: the VirtualServices bound to
//! the gateway, their hosts and routes (delegates merged in), catch-alls ordered as Istio orders
//! them, and a path index for large virtual hosts.

use std::collections::HashMap;

use base64::Engine as _;

use crate::error::FieldPath;
use crate::fault::{FaultPolicy, HeaderControl};
use crate::interner::Interner;
use crate::request_match::RequestMatch;
use crate::virtual_service::{HttpDirectResponse, HttpRoute, NamedVirtualService, RouterConfig};
use crate::ConfigError;

use super::cluster::fully_qualified_host;
use super::cors::CorsPolicy;
use super::delegate::{delegate_targets, delegated_routes, qualified};
use super::destinations::compile_destinations;
use super::gateway_binding;
use super::mirrors::compile_mirrors;
use super::path_index::PathIndex;
use super::redirect::Redirect;
use super::rewrite::Rewrite;
use super::route::{Forward, Route, RouteAction};
use super::route_headers::{CompactHeaders, RouteHeaders};
use super::route_origin::RouteOrigin;
use super::service_ports::ServicePorts;
use super::spec_path::spec_path;
use super::sticky::StickyKey;
use super::table::{RouteTable, VirtualHost, LINEAR_SCAN_ROUTES};
use super::upstream_policy;
use super::validation::validate;
use super::DEFAULT_MIRROR_TIMEOUT;

/// What the routes of one table share rather than copy.
#[derive(Default)]
struct Shared {
    /// VirtualService and cluster names.
    strings: Interner<str>,
    /// The `x-envoy-*` lists of routes with the same timeout and retries.
    router_headers: Interner<[(&'static str, String)]>,
}

impl RouteTable {
    /// Parses, validates and compiles a router plugin config.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        compile(RouterConfig::from_json(bytes)?)
    }
}

/// Validates `config` with Istio's rules, then compiles it. The routes of each VirtualService
/// are consumed as they are compiled: a large config is then never held twice, as spec and as
/// table, and wasm's linear memory (which never shrinks) stays near the larger of the two.
fn compile(mut config: RouterConfig) -> Result<RouteTable, ConfigError> {
    let mut warnings = Vec::new();
    validate(&config, &mut warnings)?;
    let mut table = RouteTable {
        sticky: config
            .sticky_weights
            .as_ref()
            .map(|spec| StickyKey::compile(spec, &FieldPath::root().field("stickyWeights")))
            .transpose()?,
        mirror_max_body_bytes: config.mirror_max_body_bytes,
        publish_route: config.publish_route,
        ..RouteTable::default()
    };
    let mut service_ports = ServicePorts::compile(
        config.service_ports.as_ref(),
        &FieldPath::root().field("servicePorts"),
    )?;
    let mut virtual_host_of: HashMap<String, usize> = HashMap::new();
    // Per virtual host, the catch-all routes, which come after every other route.
    let mut catch_alls: Vec<Vec<usize>> = Vec::new();
    let delegates = delegate_targets(&config);
    let mut shared = Shared::default();
    for index in 0..config.virtual_services.len() {
        let Some(virtual_service) = config.virtual_services.get(index) else {
            continue;
        };
        let path = spec_path(&config, index);
        // A delegate is routed only through the roots that name it, as in Istio; its own
        // routes are compiled too, for their errors. A VirtualService bound to other gateways
        // (or the mesh) had Istio's validation but is not compiled: sidecar-only fields the
        // module refuses are no error there.
        if delegates.contains(&qualified(virtual_service)) {
            check_routes(virtual_service, &config, &path)?;
            continue;
        }
        if !gateway_binding::virtual_service_applies(virtual_service, config.gateway.as_deref()) {
            continue;
        }
        if virtual_service.spec.hosts.is_empty() {
            warnings.push(path.field("hosts").warning(
                "no hosts: a delegate VirtualService, routed only through a root whose route delegates to it, and none in this config does",
            ));
            check_routes(virtual_service, &config, &path)?;
            continue;
        }
        let hosts = compile_hosts(virtual_service, &config, &path)?;
        // Delegate targets, the only VirtualServices whose routes another one reads, were
        // skipped above, so this one's routes can go.
        let http_routes = config
            .virtual_services
            .get_mut(index)
            .map(|virtual_service| std::mem::take(&mut virtual_service.spec.http))
            .unwrap_or_default();
        let Some(virtual_service) = config.virtual_services.get(index) else {
            continue;
        };
        let config = &config;
        let mut routes = Vec::with_capacity(http_routes.len());
        for (route_index, http) in http_routes.into_iter().enumerate() {
            let route_path = path.field("http").index(route_index);
            match &http.delegate {
                None => routes.extend(compile_route(
                    &http,
                    virtual_service,
                    config,
                    &mut service_ports,
                    &mut shared,
                    &route_path,
                )?),
                Some(delegate) => {
                    for (leaf, leaf_owner, leaf_path) in
                        delegated_routes(&http, delegate, virtual_service, config, &route_path)?
                    {
                        routes.extend(compile_route(
                            &leaf,
                            leaf_owner,
                            config,
                            &mut service_ports,
                            &mut shared,
                            &leaf_path,
                        )?);
                    }
                }
            }
        }
        let (routes, catch_all) = split_at_catch_all(routes);
        let first_route = table.routes.len();
        // Moved, not copied, when it is the first: one large VirtualService is the large case.
        if table.routes.is_empty() {
            table.routes = routes;
        } else {
            table.routes.extend(routes);
        }
        let route_ids = first_route..table.routes.len();
        let catch_all_id = catch_all.map(|route| {
            table.routes.push(route);
            table.routes.len() - 1
        });
        for host in hosts {
            let next_index = table.virtual_hosts.len();
            let virtual_host = *virtual_host_of.entry(host.clone()).or_insert(next_index);
            if virtual_host == next_index {
                table.virtual_hosts.push(VirtualHost::default());
                table.hosts.insert(&host, virtual_host);
                catch_alls.push(Vec::new());
            }
            if let Some(virtual_host) = table.virtual_hosts.get_mut(virtual_host) {
                virtual_host.route_ids.extend(route_ids.clone());
            }
            if let Some(host_catch_alls) = catch_alls.get_mut(virtual_host) {
                host_catch_alls.extend(catch_all_id);
            }
        }
    }
    drop(config);
    // Istio's `SortVHostRoutes`: the catch-alls of all VirtualServices sharing a host go last.
    for (virtual_host, host_catch_alls) in table.virtual_hosts.iter_mut().zip(catch_alls) {
        virtual_host.route_ids.extend(host_catch_alls);
    }
    for virtual_host in &mut table.virtual_hosts {
        if virtual_host.route_ids.len() > LINEAR_SCAN_ROUTES {
            let routes = virtual_host
                .route_ids
                .iter()
                .filter_map(|&id| table.routes.get(id))
                .map(|route| route.matches.as_slice());
            virtual_host.index = Some(PathIndex::new(routes));
        }
    }
    table.warnings = warnings;
    table.warnings.extend(service_ports.warnings);
    table.unknown_clusters = service_ports.unknown_clusters;
    Ok(table)
}

/// Compiles the routes of a VirtualService that is not routed as it stands, for their errors.
fn check_routes(
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    path: &FieldPath,
) -> Result<(), ConfigError> {
    for (index, http) in virtual_service.spec.http.iter().enumerate() {
        if http.delegate.is_none() {
            // Its destinations are checked, but what they would warn about is not reported:
            // the VirtualService routes nothing here.
            let mut unreported = ServicePorts::compile(
                config.service_ports.as_ref(),
                &FieldPath::root().field("servicePorts"),
            )?;
            compile_route(
                http,
                virtual_service,
                config,
                &mut unreported,
                &mut Shared::default(),
                &path.field("http").index(index),
            )?;
        }
    }
    Ok(())
}

/// Istio's `BuildHTTPRoutesForVirtualService` ends a VirtualService's routes at its first
/// catch-all block (later blocks and rules can never match), and the catch-all is then sorted
/// after the other VirtualServices' routes on a shared host. Returns the routes before it, the
/// catch-all's own route cut just before its catch-all block, and that block as a route.
fn split_at_catch_all(mut routes: Vec<Route>) -> (Vec<Route>, Option<Route>) {
    let first_catch_all = routes
        .iter()
        .enumerate()
        .find_map(|(index, route)| catch_all_block(route).map(|block| (index, block)));
    let Some((index, block)) = first_catch_all else {
        return (routes, None);
    };
    routes.truncate(index + 1);
    let Some(route) = routes.pop() else {
        return (routes, None);
    };
    let Some(block) = block else {
        return (routes, Some(route));
    };
    let mut catch_all = route.clone();
    catch_all.matches = route
        .matches
        .get(block..=block)
        .unwrap_or_default()
        .to_vec();
    catch_all.block_names = route
        .block_names
        .get(block..=block)
        .unwrap_or_default()
        .to_vec();
    if block > 0 {
        let mut before = route;
        before.matches.truncate(block);
        before.block_names.truncate(block);
        routes.push(before);
    }
    (routes, Some(catch_all))
}

/// Where `route` becomes a catch-all: `Some(None)` when it has no match blocks (all of it),
/// `Some(Some(block))` at its first catch-all block, `None` when it never does.
fn catch_all_block(route: &Route) -> Option<Option<usize>> {
    if route.matches.is_empty() {
        return Some(None);
    }
    route
        .matches
        .iter()
        .position(RequestMatch::is_catch_all)
        .map(Some)
}

fn compile_hosts(
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    path: &FieldPath,
) -> Result<Vec<String>, ConfigError> {
    let hosts = &virtual_service.spec.hosts;
    if hosts.is_empty() {
        return Err(path
            .field("hosts")
            .error("virtual service must have at least one host"));
    }
    hosts
        .iter()
        .enumerate()
        .map(|(index, host)| {
            if host.is_empty() {
                return Err(path
                    .field("hosts")
                    .index(index)
                    .error("host must not be empty"));
            }
            let fqdn =
                fully_qualified_host(host, &virtual_service.namespace, &config.domain_suffix);
            Ok(fqdn.to_ascii_lowercase())
        })
        .collect()
}

fn compile_route(
    http: &HttpRoute,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &mut ServicePorts,
    shared: &mut Shared,
    path: &FieldPath,
) -> Result<Option<Route>, ConfigError> {
    let mut matches = Vec::with_capacity(http.matches.len());
    let mut kept = Vec::with_capacity(http.matches.len());
    for (index, block) in http.matches.iter().enumerate() {
        let compiled = RequestMatch::compile(
            block,
            &virtual_service.namespace,
            &path.field("match").index(index),
        )?;
        // A block bound to other gateways can never match here.
        if gateway_binding::block_applies(&compiled.gateways, config.gateway.as_deref()) {
            matches.push(compiled);
            kept.push(index);
        }
    }
    let mut action = compile_action(http, virtual_service, config, service_ports, shared, path)?;
    let cors = http
        .cors_policy
        .as_ref()
        .map(|cors| CorsPolicy::compile(cors, &path.field("corsPolicy")).map(Box::new))
        .transpose()?
        // Istio puts the policy on redirect and direct-response routes too, but Envoy's CORS
        // filter only acts on routes that forward: those answer preflights and responses
        // without CORS headers on an Istio gateway (measured by the differential test).
        .filter(|_| matches!(action, RouteAction::Forward(_)));
    let name = http.name.clone().unwrap_or_default();
    let block_names = matches
        .iter()
        .map(|block| match (&block.name, name.is_empty()) {
            (Some(block_name), false) => format!("{name}.{block_name}"),
            (Some(block_name), true) => block_name.clone(),
            (None, _) => name.clone(),
        })
        .collect();
    let mut headers = RouteHeaders::compile(
        http.headers.as_deref(),
        &path.field("headers"),
        &mut Vec::new(),
    )?;
    // Pilot merges a single destination's `headers` into the route's Envoy header lists, after
    // the route's own (`processDestination`); a weighted destination's stay on its cluster
    // weight, which Envoy applies before the route's.
    if let RouteAction::Forward(forward) = &mut action {
        if let Some(destination_headers) = forward.clusters.take_single_headers() {
            headers = headers.then(&destination_headers);
        }
    }
    let fault = http
        .fault
        .as_ref()
        .map(|fault| FaultPolicy::compile(fault, HeaderControl::Refused, &path.field("fault")))
        .transpose()?
        .map(Box::new);
    if matches.is_empty() && !http.matches.is_empty() {
        return Ok(None);
    }
    Ok(Some(Route {
        origin: RouteOrigin::new(path.last_index().unwrap_or(0), &kept, http.matches.len()),
        headers: CompactHeaders::new(headers),
        fault,
        cors,
        name,
        block_names,
        virtual_service: shared.strings.intern(&format!(
            "{}/{}",
            virtual_service.namespace, virtual_service.name
        )),
        matches,
        action,
    }))
}

/// The route's action. Validation lets one VirtualService set only one of `route`,
/// `redirect` and `directResponse`; a delegate route merged with its root can hold the root's
/// `directResponse` too, and then Istio's `translateRoute` order decides: a redirect, else a
/// direct response, else the destinations.
fn compile_action(
    http: &HttpRoute,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &mut ServicePorts,
    shared: &mut Shared,
    path: &FieldPath,
) -> Result<RouteAction, ConfigError> {
    if let Some(redirect) = &http.redirect {
        if http.rewrite.is_some() {
            return Err(path
                .field("rewrite")
                .error("rewrite cannot be set with redirect"));
        }
        return Ok(RouteAction::Redirect(Redirect::compile(
            redirect,
            &path.field("redirect"),
        )?));
    }
    if let Some(direct) = &http.direct_response {
        return compile_direct_response(direct, &path.field("directResponse"));
    }
    if http.route.is_empty() {
        return Err(path.error("HTTP route, redirect or direct_response is required"));
    }
    let rewrite = http
        .rewrite
        .as_ref()
        .map(|rewrite| Rewrite::compile(rewrite, &path.field("rewrite")))
        .transpose()?
        .unwrap_or_default();
    let policy = upstream_policy::compile(http.timeout.as_deref(), http.retries.as_deref(), path)?;
    Ok(RouteAction::Forward(Forward {
        clusters: compile_destinations(
            http,
            virtual_service,
            config,
            service_ports,
            &mut shared.strings,
            path,
        )?,
        mirrors: compile_mirrors(http, virtual_service, config, service_ports, path)?,
        mirror_timeout: policy.timeout.unwrap_or(DEFAULT_MIRROR_TIMEOUT),
        rewrite,
        router_headers: shared.router_headers.intern(&policy.router_headers),
    }))
}

fn compile_direct_response(
    direct: &HttpDirectResponse,
    path: &FieldPath,
) -> Result<RouteAction, ConfigError> {
    // Istio's `validateHTTPStatus` takes 200 to 600 (600 with a warning here).
    let status = u16::try_from(direct.status)
        .ok()
        .filter(|status| (200..=600).contains(status))
        .ok_or_else(|| {
            path.field("status").error(format!(
                "HTTP status {} is not in range 200-599",
                direct.status
            ))
        })?;
    let body_path = path.field("body");
    let body = match &direct.body {
        None => Vec::new(),
        Some(body) => match (&body.string, &body.bytes) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|error| {
                    body_path
                        .field("bytes")
                        .error(format!("invalid base64: {error}"))
                })?,
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => {
                return Err(body_path.error("only one of string or bytes may be set"))
            }
        },
    };
    Ok(RouteAction::DirectResponse { status, body })
}
