//! Validation and compilation of VirtualServices into a [`RouteTable`], with Istio's rules.

use std::collections::{HashMap, HashSet};

use crate::error::FieldPath;
use crate::request_match::{qualify_gateway, RequestMatch};
use base64::Engine as _;

use crate::percentage::{FractionalPercent, PercentSpec};
use crate::virtual_service::{
    Delegate, Destination, HttpDirectResponse, HttpRoute, NamedVirtualService, RouterConfig,
};
use crate::ConfigError;

use super::cluster::{cluster_name, fully_qualified_host};
use super::cors::CorsPolicy;
use super::delegate::merge_route;
use super::destinations::WeightedClusters;
use super::path_index::PathIndex;
use super::redirect::Redirect;
use super::rewrite::Rewrite;
use super::route_headers::RouteHeaders;
use super::service_ports::{Resolution, ServicePorts};
use super::sticky::StickyKey;
use super::table::{Forward, Route, RouteAction, RouteTable, VirtualHost, LINEAR_SCAN_ROUTES};
use super::upstream_policy;
use super::DEFAULT_MIRROR_TIMEOUT;
use crate::fault::{FaultPolicy, HeaderControl};

pub fn compile(config: &RouterConfig) -> Result<RouteTable, ConfigError> {
    let mut warnings = Vec::new();
    super::validation::validate(config, &mut warnings)?;
    let mut table = RouteTable {
        sticky: config
            .sticky_weights
            .as_ref()
            .map(|spec| StickyKey::compile(spec, &FieldPath::root().field("stickyWeights")))
            .transpose()?,
        mirror_max_body_bytes: config.mirror_max_body_bytes,
        ..RouteTable::default()
    };
    let mut service_ports = ServicePorts::compile(
        config.service_ports.as_ref(),
        &FieldPath::root().field("servicePorts"),
    )?;
    let mut virtual_host_of: HashMap<String, usize> = HashMap::new();
    // Per virtual host, the catch-all routes, which come after every other route.
    let mut catch_alls: Vec<Vec<usize>> = Vec::new();
    let delegates = delegate_targets(config);
    for (index, virtual_service) in config.virtual_services.iter().enumerate() {
        let path = spec_path(config, index);
        // A delegate is routed only through the roots that name it, as in Istio; its own
        // routes are compiled too, for their errors. A VirtualService bound to other gateways
        // (or the mesh) had Istio's validation but is not compiled: sidecar-only fields the
        // module refuses are no error there.
        if delegates.contains(&qualified(virtual_service)) {
            check_routes(virtual_service, config, &path)?;
            continue;
        }
        if !applies_to_gateway(virtual_service, config.gateway.as_deref()) {
            continue;
        }
        if virtual_service.spec.hosts.is_empty() {
            warnings.push(path.field("hosts").warning(
                "no hosts: a delegate VirtualService, routed only through a root whose route delegates to it, and none in this config does",
            ));
            check_routes(virtual_service, config, &path)?;
            continue;
        }
        let hosts = compile_hosts(virtual_service, config, &path)?;
        let mut routes = Vec::new();
        for (route_index, http) in virtual_service.spec.http.iter().enumerate() {
            let route_path = path.field("http").index(route_index);
            match &http.delegate {
                None => routes.extend(compile_route(
                    http,
                    virtual_service,
                    config,
                    &mut service_ports,
                    &route_path,
                )?),
                Some(delegate) => {
                    for (leaf, leaf_owner, leaf_path) in
                        delegated_routes(http, delegate, virtual_service, config, &route_path)?
                    {
                        routes.extend(compile_route(
                            &leaf,
                            leaf_owner,
                            config,
                            &mut service_ports,
                            &leaf_path,
                        )?);
                    }
                }
            }
        }
        let (routes, catch_all) = split_at_catch_all(routes);
        let first_route = table.routes.len();
        table.routes.extend(routes);
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
    // Istio's `SortVHostRoutes`: the catch-alls of all VirtualServices sharing a host go last.
    for (virtual_host, host_catch_alls) in table.virtual_hosts.iter_mut().zip(catch_alls) {
        virtual_host.route_ids.extend(host_catch_alls);
    }
    for virtual_host in &mut table.virtual_hosts {
        if virtual_host.route_ids.len() > LINEAR_SCAN_ROUTES {
            let routes = virtual_host
                .route_ids
                .iter()
                .filter_map(|&id| table.routes.get(id));
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
fn split_at_catch_all(routes: Vec<Route>) -> (Vec<Route>, Option<Route>) {
    let mut kept = Vec::with_capacity(routes.len());
    for route in routes {
        let catch_all_block = if route.matches.is_empty() {
            Some(None)
        } else {
            route
                .matches
                .iter()
                .position(RequestMatch::is_catch_all)
                .map(Some)
        };
        let Some(block) = catch_all_block else {
            kept.push(route);
            continue;
        };
        let Some(block) = block else {
            return (kept, Some(route));
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
            kept.push(before);
        }
        return (kept, Some(catch_all));
    }
    (kept, None)
}

/// Where the spec of VirtualService `index` is, for error paths.
pub(super) fn spec_path(config: &RouterConfig, index: usize) -> FieldPath {
    if config.is_bare_spec() {
        FieldPath::root()
    } else {
        FieldPath::root()
            .field("virtualServices")
            .index(index)
            .field("spec")
    }
}

fn qualified(virtual_service: &NamedVirtualService) -> (String, String) {
    (
        virtual_service.namespace.clone(),
        virtual_service.name.clone(),
    )
}

/// `(namespace, name)` of every VirtualService some route delegates to.
fn delegate_targets(config: &RouterConfig) -> HashSet<(String, String)> {
    config
        .virtual_services
        .iter()
        .flat_map(|virtual_service| {
            virtual_service.spec.http.iter().filter_map(|http| {
                http.delegate.as_ref().map(|delegate| {
                    (
                        delegate
                            .namespace
                            .clone()
                            .unwrap_or_else(|| virtual_service.namespace.clone()),
                        delegate.name.clone(),
                    )
                })
            })
        })
        .collect()
}

/// The delegate's routes merged under `root`, each with the VirtualService that owns it (its
/// namespace resolves short hosts) and its path for errors.
fn delegated_routes<'a>(
    root: &HttpRoute,
    delegate: &Delegate,
    owner: &NamedVirtualService,
    config: &'a RouterConfig,
    path: &FieldPath,
) -> Result<Vec<(HttpRoute, &'a NamedVirtualService, FieldPath)>, ConfigError> {
    if !root.route.is_empty() || root.redirect.is_some() {
        return Err(path.error("a route with delegate must not set route or redirect"));
    }
    let namespace = delegate.namespace.as_deref().unwrap_or(&owner.namespace);
    let Some((index, target)) = config
        .virtual_services
        .iter()
        .enumerate()
        .find(|(_, candidate)| candidate.name == delegate.name && candidate.namespace == namespace)
    else {
        return Err(path.field("delegate").error(format!(
            "VirtualService {namespace}/{} is not in this config",
            delegate.name
        )));
    };
    if target.spec.http.iter().any(|http| http.delegate.is_some()) {
        return Err(path.field("delegate").error(format!(
            "VirtualService {namespace}/{} delegates again; Istio allows one level",
            delegate.name
        )));
    }
    let target_path = spec_path(config, index);
    Ok(target
        .spec
        .http
        .iter()
        .enumerate()
        .filter_map(|(leaf_index, leaf)| {
            merge_route(root, leaf)
                .map(|merged| (merged, target, target_path.field("http").index(leaf_index)))
        })
        .collect())
}

/// Istio binds a VirtualService to the gateways it names (`name` in its own namespace, or
/// `namespace/name`) that can see it (`exportTo`). Without a configured gateway, every
/// VirtualService applies.
fn applies_to_gateway(virtual_service: &NamedVirtualService, gateway: Option<&str>) -> bool {
    let Some(gateway) = gateway else {
        return true;
    };
    let export_to = &virtual_service.spec.export_to;
    if let Some((gateway_namespace, _)) = gateway.split_once('/') {
        let visible = export_to.is_empty()
            || export_to.iter().any(|namespace| {
                namespace == "*"
                    || namespace == gateway_namespace
                    || (namespace == "." && virtual_service.namespace == gateway_namespace)
            });
        if !visible {
            return false;
        }
    }
    // Istio binds a VirtualService without `gateways` to the sidecars: the reserved `mesh`.
    if gateway == MESH && virtual_service.spec.gateways.is_empty() {
        return true;
    }
    virtual_service
        .spec
        .gateways
        .iter()
        .any(|bound| names_gateway(&qualify_gateway(bound, &virtual_service.namespace), gateway))
}

/// Istio's name for the sidecars as a gateway.
const MESH: &str = "mesh";

/// A match block's own `gateways` narrow the VirtualService's; empty means no narrowing.
fn block_applies_to_gateway(block: &RequestMatch, gateway: Option<&str>) -> bool {
    match gateway {
        None => true,
        Some(gateway) => {
            block.gateways.is_empty()
                || block
                    .gateways
                    .iter()
                    .any(|bound| names_gateway(bound, gateway))
        }
    }
}

/// Whether the qualified `bound` (`namespace/name`) is the configured `gateway`, which may be
/// given as `namespace/name` or as a bare name.
fn names_gateway(bound: &str, gateway: &str) -> bool {
    if gateway.contains('/') {
        bound == gateway
    } else {
        bound.rsplit('/').next() == Some(gateway)
    }
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
    path: &FieldPath,
) -> Result<Option<Route>, ConfigError> {
    let mut matches = Vec::with_capacity(http.matches.len());
    for (index, block) in http.matches.iter().enumerate() {
        let compiled = RequestMatch::compile(
            block,
            &virtual_service.namespace,
            &path.field("match").index(index),
        )?;
        // A block bound to other gateways can never match here.
        if block_applies_to_gateway(&compiled, config.gateway.as_deref()) {
            matches.push(compiled);
        }
    }
    let mut action = compile_action(http, virtual_service, config, service_ports, path)?;
    let cors = http
        .cors_policy
        .as_ref()
        .map(|cors| CorsPolicy::compile(cors, &path.field("corsPolicy")))
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
        http.headers.as_ref(),
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
        .transpose()?;
    if matches.is_empty() && !http.matches.is_empty() {
        return Ok(None);
    }
    Ok(Some(Route {
        headers,
        fault,
        cors,
        name,
        block_names,
        virtual_service: format!("{}/{}", virtual_service.namespace, virtual_service.name),
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
    let policy = upstream_policy::compile(http.timeout.as_deref(), http.retries.as_ref(), path)?;
    Ok(RouteAction::Forward(Forward {
        clusters: compile_destinations(http, virtual_service, config, service_ports, path)?,
        mirrors: compile_mirrors(http, virtual_service, config, service_ports, path)?,
        mirror_timeout: policy.timeout.unwrap_or(DEFAULT_MIRROR_TIMEOUT),
        rewrite,
        router_headers: policy.router_headers,
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

fn compile_destinations(
    http: &HttpRoute,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &mut ServicePorts,
    path: &FieldPath,
) -> Result<WeightedClusters, ConfigError> {
    let route_path = path.field("route");
    let mut destinations = Vec::with_capacity(http.route.len());
    for (index, weighted) in http.route.iter().enumerate() {
        let destination_path = route_path.index(index).field("destination");
        let cluster = match destination_cluster(
            &weighted.destination,
            virtual_service,
            config,
            service_ports,
            &destination_path,
        )? {
            (cluster, None) => cluster,
            (cluster, Some(reason)) => {
                service_ports.unknown_route(&cluster, &destination_path, &reason);
                cluster
            }
        };
        destinations.push((
            cluster,
            weighted.weight,
            RouteHeaders::compile(
                weighted.headers.as_ref(),
                &route_path.index(index).field("headers"),
                &mut Vec::new(),
            )?,
        ));
    }
    WeightedClusters::new(destinations, &route_path)
}

/// `mirror` with `mirrorPercentage` (100% when unset), or `mirrors`; never both. A mirror to a
/// service the registry does not have is left out (with a warning).
fn compile_mirrors(
    http: &HttpRoute,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &mut ServicePorts,
    path: &FieldPath,
) -> Result<Vec<(String, FractionalPercent)>, ConfigError> {
    let percentage = |spec: Option<&PercentSpec>, path: &FieldPath| {
        spec.map_or(Ok(FractionalPercent::ALL), |spec| {
            FractionalPercent::from_istio_mirror(spec.value, path)
        })
    };
    let mut mirrors = Vec::new();
    let mut add = |destination: &Destination,
                   destination_path: FieldPath,
                   share: FractionalPercent|
     -> Result<(), ConfigError> {
        match destination_cluster(
            destination,
            virtual_service,
            config,
            service_ports,
            &destination_path,
        )? {
            (cluster, None) => mirrors.push((cluster, share)),
            (cluster, Some(reason)) => {
                service_ports.unknown_mirror(&cluster, &destination_path, &reason)
            }
        }
        Ok(())
    };
    match (&http.mirror, http.mirrors.is_empty()) {
        (Some(_), false) => {
            return Err(path.error("only one of mirror or mirrors may be set"));
        }
        (Some(mirror), true) => {
            let share = match (&http.mirror_percentage, http.mirror_percent) {
                (Some(spec), _) => percentage(Some(spec), &path.field("mirrorPercentage"))?,
                (None, Some(percent)) => FractionalPercent::per_hundred(
                    i32::try_from(percent).unwrap_or(i32::MAX),
                    &path.field("mirrorPercent"),
                )?,
                (None, None) => FractionalPercent::ALL,
            };
            add(mirror, path.field("mirror"), share)?;
        }
        (None, _) => {
            for (index, mirror) in http.mirrors.iter().enumerate() {
                let mirror_path = path.field("mirrors").index(index);
                let share =
                    percentage(mirror.percentage.as_ref(), &mirror_path.field("percentage"))?;
                add(&mirror.destination, mirror_path.field("destination"), share)?;
            }
        }
    }
    Ok(mirrors)
}

/// The destination's cluster, and why no service has it when the registry does not know it.
fn destination_cluster(
    destination: &Destination,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &ServicePorts,
    path: &FieldPath,
) -> Result<(String, Option<String>), ConfigError> {
    if destination.host.is_empty() {
        return Err(path.field("host").error("empty domain name not allowed"));
    }
    let port = destination
        .port
        .map(|port| path.field("port").field("number").port(port.number))
        .transpose()?;
    let fqdn = fully_qualified_host(
        &destination.host,
        &virtual_service.namespace,
        &config.domain_suffix,
    );
    let (port, unknown) = match service_ports.resolve(&fqdn, port, config.default_port, path)? {
        Resolution::Known(port) => (port, None),
        Resolution::Unknown { port, reason } => (port, Some(reason)),
    };
    Ok((
        cluster_name(port, destination.subset.as_deref(), &fqdn),
        unknown,
    ))
}
