//! VirtualServices translated into a native Envoy `RouteConfiguration` the way Istio's pilot
//! translates them for a gateway (`pilot/pkg/networking/core/route/route.go` and
//! `gateway.go`), so the router module can be compared with, and benchmarked against, what
//! Istio itself would program into Envoy.
//!
//! What Istio emits for a plain-HTTP gateway server on `listen_port`:
//! - one virtual host per VirtualService host (short hosts expanded with the namespace and
//!   domain suffix), named `host:port`, `domains: [host]`, on a route configuration with
//!   `ignore_port_in_host_matching` (older Istio listed `host` and `host:*` instead); the routes
//!   of VirtualServices sharing a host are concatenated and catch-all routes moved last;
//! - one route per match block (a rule without `match` is one `prefix: /` route); blocks whose
//!   `port` is not `listen_port`, or whose `gateways` exclude the gateway, are dropped; a VS's
//!   translation stops after its first catch-all route;
//! - matches: `uri` as `path`/`prefix`/`safe_regex` with `case_sensitive: !ignoreUriCase`,
//!   `headers` and `withoutHeaders` as header matchers sorted by name (inverted ones with
//!   `treat_missing_header_as_empty` unless they are presence matches), then `:method`,
//!   `:authority`, `:scheme`, then `queryParams`;
//! - actions: `cluster` for one destination, `weighted_clusters` without the zero weights
//!   otherwise; `timeout` (`0s` when unset), the retry policy (Istio's
//!   default when `retries` is unset, none for `attempts: 0`), `prefix_rewrite` /
//!   `regex_rewrite`, `host_rewrite_literal`, mirrors; `redirect` with Istio's port rules;
//!   `direct_response`; `corsPolicy` as `typed_per_filter_config` for
//!   `envoy.filters.http.cors` (the listener needs [`http_filters`] for it to act).
//!
//! - `headers` (`TranslateHeadersOperations`): the route's as its `request_headers_to_add`
//!   (`set` overwrites, `add` appends, each sorted by name), `request_headers_to_remove`,
//!   `response_headers_to_add` and `response_headers_to_remove`, on every route, redirects and
//!   direct responses included; a single destination's appended to the route's, a weighted
//!   destination's on its cluster weight; `host`/`:authority` in the request's `set` or `add`
//!   becomes a host rewrite (below `rewrite.authority`), pseudo-headers and `host` are
//!   otherwise dropped.
//!
//! Left out, and refused when a config uses it: `fault` (Istio renders it as the fault
//! filter's per-route config; the comparisons here do not need it yet). Also left out: consistent-hash policies and stateful sessions (DestinationRule), the HTTP/3 alt-svc
//! header (TLS/QUIC servers), and `delegate` (its merge is the engine's; a config using it is
//! refused). A destination without a port uses its service's only port from `servicePorts`, as
//! Istio does, else the router's `defaultPort`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use engine::request_match::{qualify_gateway, HttpMatchRequest};
use engine::router::{cluster_name, fully_qualified_host, gateway_binding};
use engine::string_match::StringMatchSpec;
use engine::virtual_service::{
    CorsPolicySpec, Destination, HeaderOperationsSpec, HeadersSpec, HttpRedirect, HttpRetry,
    HttpRoute, NamedVirtualService, PercentSpec, RouterConfig,
};
use serde_json::{json, Map, Value};

use envoy_runner::proto_duration;

/// Istio's default retry conditions (`retry.DefaultPolicy`).
const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// `DefaultMaxDirectResponseBodySizeBytes`: 1 MiB, as Istio's webhook allows.
const MAX_DIRECT_RESPONSE_BODY_BYTES: u32 = 1024 * 1024;

/// The `RouteConfiguration` Istio would send a gateway whose plain-HTTP server listens on
/// `listen_port`, for every VirtualService of `config` that applies to the configured gateway.
pub fn route_configuration(config: &RouterConfig, listen_port: u16) -> Result<Value, String> {
    if config.sticky_weights.is_some() {
        return Err("stickyWeights is beyond Istio: it has no native translation".to_owned());
    }
    // Hosts in order of first appearance, each with its concatenated routes.
    let mut hosts: Vec<(String, Vec<Value>)> = Vec::new();
    let mut host_index: HashMap<String, usize> = HashMap::new();
    for virtual_service in &config.virtual_services {
        if !gateway_binding::virtual_service_applies(virtual_service, config.gateway.as_deref()) {
            continue;
        }
        let routes = virtual_service_routes(virtual_service, config, listen_port)?;
        if routes.is_empty() {
            continue;
        }
        for host in &virtual_service.spec.hosts {
            let fqdn =
                fully_qualified_host(host, &virtual_service.namespace, &config.domain_suffix)
                    .to_ascii_lowercase();
            let index = *host_index.entry(fqdn.clone()).or_insert_with(|| {
                hosts.push((fqdn, Vec::new()));
                hosts.len() - 1
            });
            if let Some((_, host_routes)) = hosts.get_mut(index) {
                host_routes.extend(routes.iter().cloned());
            }
        }
    }
    let virtual_hosts: Vec<Value> = hosts
        .into_iter()
        .map(|(host, routes)| {
            // `SortVHostRoutes`: catch-alls last, the others in order.
            let (catch_alls, mut routes): (Vec<Value>, Vec<Value>) =
                routes.into_iter().partition(is_catch_all);
            routes.extend(catch_alls);
            json!({
                "name": format!("{host}:{listen_port}"),
                "domains": [host],
                "routes": routes,
                "include_request_attempt_count": true,
            })
        })
        .collect();
    let virtual_hosts = if virtual_hosts.is_empty() {
        // Istio's fallback when no VirtualService applies: a 404 for everything.
        vec![json!({"name": format!("blackhole:{listen_port}"), "domains": ["*"], "routes": []})]
    } else {
        virtual_hosts
    };
    Ok(json!({
        "name": format!("http.{listen_port}"),
        "virtual_hosts": virtual_hosts,
        "validate_clusters": false,
        "ignore_port_in_host_matching": true,
        "max_direct_response_body_size_bytes": MAX_DIRECT_RESPONSE_BODY_BYTES,
    }))
}

/// The native HTTP filters Istio's gateway runs before the router that these routes rely on:
/// CORS, configured per route.
pub fn http_filters() -> Vec<Value> {
    vec![json!({
        "name": "envoy.filters.http.cors",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"},
    })]
}

/// `BuildHTTPRoutesForVirtualService`: one route per applicable match block, stopping after
/// the first catch-all.
fn virtual_service_routes(
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    listen_port: u16,
) -> Result<Vec<Value>, String> {
    let mut routes = Vec::new();
    for http in &virtual_service.spec.http {
        if http.delegate.is_some() {
            return Err("delegate is not translated: the router merges delegates itself".into());
        }
        if http.fault.is_some() {
            return Err("fault is not translated yet".into());
        }
        if http.matches.is_empty() {
            routes.push(translate_route(
                http,
                None,
                virtual_service,
                config,
                listen_port,
            )?);
            break;
        }
        let mut catch_all = false;
        for block in &http.matches {
            let port_applies = block.port.is_none_or(|port| port == u32::from(listen_port));
            let block_gateways: Vec<String> = block
                .gateways
                .iter()
                .map(|bound| qualify_gateway(bound, &virtual_service.namespace))
                .collect();
            let gateway_applies =
                gateway_binding::block_applies(&block_gateways, config.gateway.as_deref());
            if !port_applies || !gateway_applies {
                continue;
            }
            let route = translate_route(http, Some(block), virtual_service, config, listen_port)?;
            catch_all = is_catch_all(&route);
            routes.push(route);
            if catch_all {
                break;
            }
        }
        if catch_all {
            break;
        }
    }
    Ok(routes)
}

/// `HeadersOperations`: one `headers` block as Envoy's header mutation fields.
#[derive(Debug, Default)]
struct HeadersOperations {
    request_to_add: Vec<Value>,
    request_to_remove: Vec<String>,
    response_to_add: Vec<Value>,
    response_to_remove: Vec<String>,
    /// `host` or `:authority` in the request's `set` (preferred) or `add`.
    authority: Option<String>,
}

impl HeadersOperations {
    /// `TranslateHeadersOperations`.
    fn translate(headers: &HeadersSpec) -> Self {
        let empty = HeaderOperationsSpec::default();
        let request = headers.request.as_ref().unwrap_or(&empty);
        let response = headers.response.as_ref().unwrap_or(&empty);
        let authority_in = |values: &BTreeMap<String, String>| {
            values
                .iter()
                .filter(|(name, _)| is_authority_header(name))
                .map(|(_, value)| value.clone())
                // Both `host` and `:authority`: Istio's validation refuses it, pilot keeps
                // whichever its map walk meets last.
                .next_back()
        };
        let mut request_to_add = header_values_to_add(&request.set, "OVERWRITE_IF_EXISTS_OR_ADD");
        request_to_add.extend(header_values_to_add(
            &request.add,
            "APPEND_IF_EXISTS_OR_ADD",
        ));
        let mut response_to_add = header_values_to_add(&response.set, "OVERWRITE_IF_EXISTS_OR_ADD");
        response_to_add.extend(header_values_to_add(
            &response.add,
            "APPEND_IF_EXISTS_OR_ADD",
        ));
        let droppable = |names: &[String]| -> Vec<String> {
            names
                .iter()
                .filter(|name| !is_internal_header(name))
                .cloned()
                .collect()
        };
        Self {
            request_to_add,
            request_to_remove: droppable(&request.remove),
            response_to_add,
            response_to_remove: droppable(&response.remove),
            authority: authority_in(&request.set).or_else(|| authority_in(&request.add)),
        }
    }

    /// Appends `other`'s operations after these (`processDestination`); the authority is
    /// handled by the caller.
    fn extend(&mut self, other: Self) {
        self.request_to_add.extend(other.request_to_add);
        self.request_to_remove.extend(other.request_to_remove);
        self.response_to_add.extend(other.response_to_add);
        self.response_to_remove.extend(other.response_to_remove);
    }

    /// Writes the non-empty fields into a route or a cluster weight.
    fn write_to(&self, target: &mut Map<String, Value>) {
        for (field, values) in [
            ("request_headers_to_add", &self.request_to_add),
            ("response_headers_to_add", &self.response_to_add),
        ] {
            if !values.is_empty() {
                target.insert(field.into(), Value::Array(values.clone()));
            }
        }
        for (field, names) in [
            ("request_headers_to_remove", &self.request_to_remove),
            ("response_headers_to_remove", &self.response_to_remove),
        ] {
            if !names.is_empty() {
                target.insert(field.into(), json!(names));
            }
        }
    }
}

/// `translateAppendHeaders`: `set` or `add` values as `HeaderValueOption`s,
/// sorted by name (the map is ordered), without pseudo-headers and `host`.
fn header_values_to_add(values: &BTreeMap<String, String>, append_action: &str) -> Vec<Value> {
    values
        .iter()
        .filter(|(name, _)| !is_internal_header(name))
        .map(|(name, value)| {
            json!({"header": {"key": name, "value": value}, "append_action": append_action})
        })
        .collect()
}

/// `isInternalHeader`: Envoy cannot modify these through header mutations.
fn is_internal_header(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

/// `isAuthorityHeader`.
fn is_authority_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// `IsCatchAllRoute`: prefix `/` or regex `.*`, and no header or query condition.
fn is_catch_all(route: &Value) -> bool {
    let matcher = &route["match"];
    let any_path = matcher["prefix"] == "/" || matcher["safe_regex"]["regex"] == ".*";
    let empty = |field: &str| matcher[field].as_array().is_none_or(Vec::is_empty);
    any_path && empty("headers") && empty("query_parameters")
}

/// `translateRoute` for one match block (`None`: a rule without `match`).
fn translate_route(
    http: &HttpRoute,
    block: Option<&HttpMatchRequest>,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    listen_port: u16,
) -> Result<Value, String> {
    let mut name = http.name.clone().unwrap_or_default();
    if let Some(match_name) = block.and_then(|block| block.name.as_deref()) {
        if !match_name.is_empty() {
            name = format!("{name}.{match_name}");
        }
    }
    let route_match = translate_match(block);
    let mut route = Map::new();
    if !name.is_empty() {
        route.insert("name".into(), json!(name));
    }
    if let Some(stat_prefix) = block.and_then(|block| block.stat_prefix.as_deref()) {
        route.insert("stat_prefix".into(), json!(stat_prefix));
    }
    route.insert(
        "metadata".into(),
        json!({"filter_metadata": {"istio": {"config": format!(
            "/apis/networking.istio.io/v1/namespaces/{}/virtual-service/{}",
            virtual_service.namespace, virtual_service.name
        )}}}),
    );
    let operations = http
        .headers
        .as_deref()
        .map(HeadersOperations::translate)
        .unwrap_or_default();
    let single_cluster = if let Some(redirect) = &http.redirect {
        route.insert(
            "redirect".into(),
            translate_redirect(redirect, listen_port)?,
        );
        None
    } else if let Some(direct) = &http.direct_response {
        let mut action = json!({"status": direct.status});
        if let Some(body) = &direct.body {
            if let Some(text) = &body.string {
                action["body"] = json!({"inline_string": text});
            } else if let Some(bytes) = &body.bytes {
                // Both protobuf JSON and Istio's API write bytes as base64.
                action["body"] = json!({"inline_bytes": bytes});
            }
        }
        route.insert("direct_response".into(), action);
        None
    } else {
        let (action, single_cluster) =
            translate_action(http, &operations, virtual_service, config)?;
        route.insert("route".into(), action);
        single_cluster
    };
    let mut operations = operations;
    // `processDestination`: a single destination's operations follow the route's.
    if let [only] = http.route.as_slice() {
        if http.redirect.is_none() && http.direct_response.is_none() {
            if let Some(headers) = &only.headers {
                operations.extend(HeadersOperations::translate(headers));
            }
        }
    }
    operations.write_to(&mut route);
    route.insert(
        "decorator".into(),
        json!({"operation": operation(&route_match, single_cluster.as_deref(), &virtual_service.name, listen_port)}),
    );
    route.insert("match".into(), route_match);
    if let Some(cors) = &http.cors_policy {
        route.insert(
            "typed_per_filter_config".into(),
            json!({"envoy.filters.http.cors": translate_cors(cors)?}),
        );
    }
    Ok(Value::Object(route))
}

/// `TranslateRouteMatch`.
fn translate_match(block: Option<&HttpMatchRequest>) -> Value {
    let mut route_match = Map::new();
    let Some(block) = block else {
        route_match.insert("prefix".into(), json!("/"));
        return Value::Object(route_match);
    };
    match &block.uri {
        Some(StringMatchSpec {
            exact: Some(path), ..
        }) => {
            route_match.insert("path".into(), json!(path));
        }
        Some(StringMatchSpec {
            prefix: Some(prefix),
            ..
        }) => {
            route_match.insert("prefix".into(), json!(prefix));
        }
        Some(StringMatchSpec {
            regex: Some(regex), ..
        }) => {
            route_match.insert("safe_regex".into(), json!({"regex": regex}));
        }
        _ => {
            route_match.insert("prefix".into(), json!("/"));
        }
    }
    route_match.insert("case_sensitive".into(), json!(!block.ignore_uri_case));
    let mut headers: Vec<Value> = block
        .headers
        .iter()
        .map(|(name, spec)| header_matcher(name, spec))
        .chain(block.without_headers.iter().map(|(name, spec)| {
            let mut matcher = header_matcher(name, spec);
            matcher["invert_match"] = json!(true);
            // `treat_missing_header_as_empty` conflicts with `present_match`.
            if !is_presence(spec) {
                matcher["treat_missing_header_as_empty"] = json!(true);
            }
            matcher
        }))
        .collect();
    headers.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    for (pseudo, spec) in [
        (":method", &block.method),
        (":authority", &block.authority),
        (":scheme", &block.scheme),
    ] {
        if let Some(spec) = spec {
            headers.push(header_matcher(pseudo, spec));
        }
    }
    if !headers.is_empty() {
        route_match.insert("headers".into(), Value::Array(headers));
    }
    let query_parameters: Vec<Value> = block
        .query_params
        .iter()
        .map(|(name, spec)| {
            if is_presence(spec) {
                json!({"name": name, "present_match": true})
            } else {
                json!({"name": name, "string_match": string_matcher(spec)})
            }
        })
        .collect();
    if !query_parameters.is_empty() {
        route_match.insert("query_parameters".into(), Value::Array(query_parameters));
    }
    Value::Object(route_match)
}

/// `canBeConvertedToPresentMatch`: `{}` (and Istio's legacy `regex: "*"`) means "present".
fn is_presence(spec: &StringMatchSpec) -> bool {
    match (&spec.exact, &spec.prefix, &spec.regex) {
        (None, None, None) => true,
        (None, None, Some(regex)) => regex == "*",
        _ => false,
    }
}

fn header_matcher(name: &str, spec: &StringMatchSpec) -> Value {
    if is_presence(spec) {
        json!({"name": name, "present_match": true})
    } else {
        json!({"name": name, "string_match": string_matcher(spec)})
    }
}

/// `util.ConvertToEnvoyMatch`.
fn string_matcher(spec: &StringMatchSpec) -> Value {
    match (&spec.exact, &spec.prefix, &spec.regex) {
        (Some(exact), _, _) => json!({"exact": exact}),
        (_, Some(prefix), _) => json!({"prefix": prefix}),
        (_, _, Some(regex)) => json!({"safe_regex": {"regex": regex}}),
        _ => json!({}),
    }
}

/// `applyHTTPRouteDestination`: the route action, and the cluster when there is only one.
fn translate_action(
    http: &HttpRoute,
    route_operations: &HeadersOperations,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
) -> Result<(Value, Option<String>), String> {
    let timeout = http
        .timeout
        .as_deref()
        .map(engine::duration::parse)
        .transpose()?
        .unwrap_or(Duration::ZERO);
    // Istio also sets `max_grpc_timeout` to the same value; Envoy 1.40 deprecates that field
    // and warns for every route, and no request here carries `grpc-timeout`.
    let mut action = json!({"timeout": proto_duration(timeout)});
    // The route's `headers` authority, unless `rewrite.authority` names one.
    let mut authority = route_operations.authority.clone();
    if let Some(rewrite) = &http.rewrite {
        if let Some(regex_rewrite) = &rewrite.uri_regex_rewrite {
            action["regex_rewrite"] = json!({
                "pattern": {"regex": regex_rewrite.pattern},
                "substitution": regex_rewrite.rewrite,
            });
        } else if let Some(uri) = rewrite.uri.as_deref().filter(|uri| !uri.is_empty()) {
            action["prefix_rewrite"] = json!(uri);
        }
        if let Some(rewrite_authority) = rewrite.authority.as_deref().filter(|a| !a.is_empty()) {
            authority = Some(rewrite_authority.to_owned());
        }
    }
    if let Some(authority) = &authority {
        action["host_rewrite_literal"] = json!(authority);
    }
    let mirrors = mirror_policies(http, virtual_service, config)?;
    if !mirrors.is_empty() {
        action["request_mirror_policies"] = Value::Array(mirrors);
    }
    let single_cluster = match http.route.as_slice() {
        [only] => {
            let cluster = destination_cluster(&only.destination, virtual_service, config)?;
            action["cluster"] = json!(cluster);
            // Only when the route sets no host rewrite of its own, so one destination and
            // several behave alike.
            let destination_authority = only
                .headers
                .as_ref()
                .and_then(|headers| HeadersOperations::translate(headers).authority);
            if let (None, Some(destination_authority)) = (&authority, destination_authority) {
                action["host_rewrite_literal"] = json!(destination_authority);
            }
            Some(cluster)
        }
        destinations => {
            let clusters = destinations
                .iter()
                .filter(|destination| destination.weight.unwrap_or(0) != 0)
                .map(|destination| {
                    let mut weight = Map::new();
                    weight.insert(
                        "name".into(),
                        json!(destination_cluster(
                            &destination.destination,
                            virtual_service,
                            config
                        )?),
                    );
                    weight.insert("weight".into(), json!(destination.weight.unwrap_or(0)));
                    // `processWeightedDestination`: the destination's operations on its weight.
                    if let Some(headers) = &destination.headers {
                        let operations = HeadersOperations::translate(headers);
                        if let Some(authority) = &operations.authority {
                            weight.insert("host_rewrite_literal".into(), json!(authority));
                        }
                        operations.write_to(&mut weight);
                    }
                    Ok(Value::Object(weight))
                })
                .collect::<Result<Vec<_>, String>>()?;
            action["weighted_clusters"] = json!({"clusters": clusters});
            None
        }
    };
    if let Some(policy) = retry_policy(http.retries.as_deref())? {
        action["retry_policy"] = policy;
    }
    Ok((action, single_cluster))
}

fn destination_cluster(
    destination: &Destination,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
) -> Result<String, String> {
    let fqdn = fully_qualified_host(
        &destination.host,
        &virtual_service.namespace,
        &config.domain_suffix,
    );
    // Istio's `GetDestinationCluster`: the service's only port when the destination names none.
    let only_port = config
        .service_ports
        .as_ref()
        .and_then(|ports| {
            ports
                .iter()
                .find(|(host, _)| host.eq_ignore_ascii_case(&fqdn))
        })
        .and_then(|(_, ports)| match ports.as_slice() {
            [only] => u16::try_from(*only).ok(),
            _ => None,
        });
    let port = match destination.port {
        None => only_port.unwrap_or(config.default_port),
        Some(port) => u16::try_from(port.number)
            .map_err(|_| format!("destination port {} out of range", port.number))?,
    };
    Ok(cluster_name(port, destination.subset.as_deref(), &fqdn))
}

/// `MirrorPercent` / `MirrorPercentByPolicy`: 100% when unset, nothing for an explicit 0.
fn mirror_policies(
    http: &HttpRoute,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
) -> Result<Vec<Value>, String> {
    let fraction = |percentage: Option<PercentSpec>| -> Option<Value> {
        match percentage {
            None => Some(json!({"numerator": 100, "denominator": "HUNDRED"})),
            Some(spec) if spec.value > 0.0 => {
                Some(json!({"numerator": (spec.value * 10_000.0) as u32, "denominator": "MILLION"}))
            }
            Some(_) => None,
        }
    };
    let mut policies = Vec::new();
    if let Some(mirror) = &http.mirror {
        let legacy = http.mirror_percent.map(|value| PercentSpec {
            value: f64::from(value),
        });
        if let Some(fraction) = fraction(http.mirror_percentage.or(legacy)) {
            policies.push(json!({
                "cluster": destination_cluster(mirror, virtual_service, config)?,
                "runtime_fraction": {"default_value": fraction},
                "trace_sampled": false,
            }));
        }
    }
    for mirror in &http.mirrors {
        if let Some(fraction) = fraction(mirror.percentage) {
            policies.push(json!({
                "cluster": destination_cluster(&mirror.destination, virtual_service, config)?,
                "runtime_fraction": {"default_value": fraction},
                "trace_sampled": false,
            }));
        }
    }
    Ok(policies)
}

/// `retry.ConvertPolicy` (no consistent hash): Istio's default when unset, none for
/// `attempts: 0`.
fn retry_policy(retries: Option<&HttpRetry>) -> Result<Option<Value>, String> {
    let mut policy = json!({
        "num_retries": 2,
        "retry_on": DEFAULT_RETRY_ON,
        "retriable_status_codes": [503],
        "host_selection_retry_max_attempts": 5,
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
        }],
    });
    let Some(retries) = retries else {
        return Ok(Some(policy));
    };
    if retries.attempts <= 0 {
        return Ok(None);
    }
    policy["num_retries"] = json!(retries.attempts);
    if let Some(retry_on) = retries.retry_on.as_deref().filter(|text| !text.is_empty()) {
        let (mut conditions, mut codes) = (Vec::new(), Vec::new());
        for part in retry_on.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => codes.push(code),
                _ => conditions.push(part),
            }
        }
        let mut retry_on = conditions.join(",");
        if !codes.is_empty() && !retry_on.contains("retriable-status-codes") {
            retry_on.push_str(",retriable-status-codes");
        }
        policy["retry_on"] = json!(retry_on);
        policy["retriable_status_codes"] = json!(codes);
    }
    if let Some(per_try) = &retries.per_try_timeout {
        policy["per_try_timeout"] = json!(proto_duration(engine::duration::parse(per_try)?));
    }
    if retries.retry_remote_localities == Some(true) {
        policy["retry_priority"] = json!({
            "name": "envoy.retry_priorities.previous_priorities",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
                "update_frequency": 2,
            },
        });
    }
    Ok(Some(policy))
}

/// `ApplyRedirect` for a plain-HTTP server on `listen_port`.
fn translate_redirect(redirect: &HttpRedirect, listen_port: u16) -> Result<Value, String> {
    let response_code = match redirect.redirect_code.unwrap_or(0) {
        0 | 301 => "MOVED_PERMANENTLY",
        302 => "FOUND",
        303 => "SEE_OTHER",
        307 => "TEMPORARY_REDIRECT",
        308 => "PERMANENT_REDIRECT",
        other => return Err(format!("redirect code {other} is not supported")),
    };
    let mut action = json!({"response_code": response_code});
    if let Some(authority) = redirect.authority.as_deref().filter(|a| !a.is_empty()) {
        action["host_redirect"] = json!(authority);
    }
    if let Some(uri) = redirect.uri.as_deref().filter(|uri| !uri.is_empty()) {
        action["path_redirect"] = json!(uri);
    }
    if let Some(scheme) = redirect.scheme.as_deref().filter(|s| !s.is_empty()) {
        action["scheme_redirect"] = json!(scheme);
    }
    let port = match (redirect.port, redirect.derive_port.as_deref()) {
        (Some(port), _) => Some(port),
        // Envoy cannot derive the port; Istio writes the listener's, known per route config.
        (None, Some("FROM_REQUEST_PORT")) => Some(u32::from(listen_port)),
        (None, Some(_)) => Some(0),
        (None, None) => None,
    };
    if let Some(port) = port {
        let scheme = redirect
            .scheme
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("http");
        // "Do not put explicit :80 or :443 when its http/https".
        let default_port = (port == 80 && scheme == "http") || (port == 443 && scheme == "https");
        if port != 0 && !default_port {
            action["port_redirect"] = json!(port);
        }
    }
    Ok(action)
}

/// `TranslateCORSPolicy`.
fn translate_cors(cors: &CorsPolicySpec) -> Result<Value, String> {
    let mut policy = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        "forward_not_matching_preflights": cors.unmatched_preflights.as_deref() != Some("IGNORE"),
    });
    let origins: Vec<Value> = if !cors.allow_origins.is_empty() {
        cors.allow_origins.iter().map(string_matcher).collect()
    } else {
        cors.allow_origin
            .iter()
            .map(|origin| json!({"exact": origin}))
            .collect()
    };
    if !origins.is_empty() {
        policy["allow_origin_string_match"] = Value::Array(origins);
    }
    for (field, values) in [
        ("allow_methods", &cors.allow_methods),
        ("allow_headers", &cors.allow_headers),
        ("expose_headers", &cors.expose_headers),
    ] {
        if !values.is_empty() {
            policy[field] = json!(values.join(","));
        }
    }
    if let Some(max_age) = &cors.max_age {
        policy["max_age"] = json!(engine::duration::parse(max_age)?.as_secs().to_string());
    }
    if let Some(credentials) = cors.allow_credentials {
        policy["allow_credentials"] = json!(credentials);
    }
    Ok(policy)
}

/// `GetRouteOperation`: `host:port/path` for one destination, else `vs:port/path`.
fn operation(
    route_match: &Value,
    single_cluster: Option<&str>,
    virtual_service: &str,
    listen_port: u16,
) -> String {
    let path = if let Some(prefix) = route_match["prefix"].as_str() {
        format!("{prefix}*")
    } else if let Some(path) = route_match["path"].as_str() {
        path.to_owned()
    } else if let Some(regex) = route_match["safe_regex"]["regex"].as_str() {
        regex.to_owned()
    } else {
        "/*".to_owned()
    };
    let mut parts = single_cluster.map(|cluster| cluster.split('|'));
    match parts.as_mut().map(|parts| {
        let (_, port, _, host) = (parts.next(), parts.next(), parts.next(), parts.next());
        (port, host)
    }) {
        Some((Some(port), Some(host))) => format!("{host}:{port}{path}"),
        _ => format!("{virtual_service}:{listen_port}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(http: Value) -> Vec<Value> {
        let config = json!({"virtualServices": [{"name": "vs", "namespace": "default",
            "spec": {"hosts": ["*"], "http": http}}]});
        let config = RouterConfig::from_json(config.to_string().as_bytes()).unwrap();
        let routes = route_configuration(&config, 8080).unwrap();
        routes["virtual_hosts"][0]["routes"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn header(name: &str, value: &str, action: &str) -> Value {
        json!({"header": {"key": name, "value": value}, "append_action": action})
    }

    #[test]
    fn a_single_destination_appends_its_headers_to_the_routes() {
        let routes = routes(json!([{
            "headers": {
                "request": {"set": {"x-b": "1", "x-a": "2"}, "add": {"x-c": "3"}, "remove": ["x-d"]},
                "response": {"set": {"x-r": "route"}, "remove": ["x-s"]},
            },
            "route": [{"destination": {"host": "reviews"},
                       "headers": {"request": {"set": {"host": "dest.example.com"}},
                                   "response": {"set": {"x-r": "destination"}}}}],
        }]));
        let route = &routes[0];
        assert_eq!(
            route["request_headers_to_add"],
            json!([
                header("x-a", "2", "OVERWRITE_IF_EXISTS_OR_ADD"),
                header("x-b", "1", "OVERWRITE_IF_EXISTS_OR_ADD"),
                header("x-c", "3", "APPEND_IF_EXISTS_OR_ADD"),
            ])
        );
        assert_eq!(route["request_headers_to_remove"], json!(["x-d"]));
        assert_eq!(
            route["response_headers_to_add"],
            json!([
                header("x-r", "route", "OVERWRITE_IF_EXISTS_OR_ADD"),
                header("x-r", "destination", "OVERWRITE_IF_EXISTS_OR_ADD"),
            ])
        );
        assert_eq!(route["response_headers_to_remove"], json!(["x-s"]));
        assert_eq!(route["route"]["host_rewrite_literal"], "dest.example.com");
    }

    #[test]
    fn weighted_destinations_keep_their_headers_and_redirects_get_the_routes() {
        let routes = routes(json!([
            {"match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/new"},
             "headers": {"response": {"add": {"x-r": "redirect"}}}},
            {"headers": {"request": {"set": {":authority": "route.example.com"}}},
             "rewrite": {"authority": "rewrite.example.com"},
             "route": [
                {"destination": {"host": "reviews"}, "weight": 1,
                 "headers": {"response": {"set": {"x-r": "weighted"}},
                             "request": {"add": {"host": "weighted.example.com"}}}},
                {"destination": {"host": "ratings"}, "weight": 0,
                 "headers": {"response": {"set": {"x-r": "dropped"}}}},
             ]},
        ]));
        assert_eq!(
            routes[0]["response_headers_to_add"],
            json!([header("x-r", "redirect", "APPEND_IF_EXISTS_OR_ADD")])
        );
        let action = &routes[1]["route"];
        assert!(routes[1].get("request_headers_to_add").is_none());
        assert_eq!(action["host_rewrite_literal"], "rewrite.example.com");
        let clusters = action["weighted_clusters"]["clusters"].as_array().unwrap();
        assert_eq!(clusters.len(), 1);
        assert_eq!(
            clusters[0]["response_headers_to_add"],
            json!([header("x-r", "weighted", "OVERWRITE_IF_EXISTS_OR_ADD")])
        );
        assert_eq!(clusters[0]["host_rewrite_literal"], "weighted.example.com");
    }

    #[test]
    fn fault_is_refused() {
        let config = json!({"virtualServices": [{"name": "vs", "namespace": "default",
            "spec": {"hosts": ["*"], "http": [{"fault": {"abort": {"httpStatus": 503,
                "percentage": {"value": 100}}}, "route": [{"destination": {"host": "a"}}]}]}}]});
        let config = RouterConfig::from_json(config.to_string().as_bytes()).unwrap();
        let error = route_configuration(&config, 8080).unwrap_err();
        assert!(error.contains("fault"), "{error}");
    }
}
