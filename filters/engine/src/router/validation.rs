//! Istio's VirtualService validation (`ValidateVirtualService` and `validateHTTPRoute` in
//! Istio's `pkg/config/validation`), for the rules that compiling a route does not already
//! enforce: names, hosts, gateways, `exportTo`, conflicts between a route's fields, and the
//! checks Istio makes whatever the route's kind. It runs over every VirtualService of a
//! config, bound to the gateway or not, as Istio's admission does. Istio's warnings are kept
//! as warnings. `docs/validation.md` lists every rule.

pub(super) mod names;
mod unreachable;

use super::export_to::{self, Exported};
use crate::error::{ConfigWarning, FieldPath};
use crate::percentage::PercentSpec;
use crate::request_match::HttpMatchRequest;
use crate::string_match::{MatchOptions, StringMatch, StringMatchSpec};
use crate::virtual_service::{
    Destination, HttpDirectResponse, HttpRoute, NamedVirtualService, RouterConfig,
    VirtualServiceSpec,
};
use crate::ConfigError;

use super::route_headers::RouteHeaders;

/// Istio refuses direct response bodies above 1 MiB and warns above 100 KiB.
const MAX_DIRECT_RESPONSE_BODY: usize = 1024 * 1024;
const LARGE_DIRECT_RESPONSE_BODY: usize = 100 * 1024;

/// Validates every VirtualService of `config`; warnings go to `warnings`.
pub fn validate(
    config: &RouterConfig,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    for (index, virtual_service) in config.virtual_services.iter().enumerate() {
        validate_virtual_service(
            virtual_service,
            config.gateway.is_some(),
            &super::spec_path::spec_path(config, index),
            warnings,
        )?;
    }
    Ok(())
}

/// Istio's `ValidateVirtualService`. `gateway_mode` is set when the router config names its
/// gateway: only then is a VirtualService without `gateways` one that Istio binds to the mesh
/// alone (without it, every VirtualService applies to this gateway).
pub fn validate_virtual_service(
    virtual_service: &NamedVirtualService,
    gateway_mode: bool,
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let spec = &virtual_service.spec;
    let is_delegate = spec.hosts.is_empty();
    if is_delegate {
        if !spec.gateways.is_empty() {
            return Err(path
                .field("gateways")
                .error("delegate virtual service must have no gateways specified"));
        }
        if !spec.tls.is_empty() {
            return Err(path
                .field("tls")
                .error("delegate virtual service must have no tls route specified"));
        }
        if !spec.tcp.is_empty() {
            return Err(path
                .field("tcp")
                .error("delegate virtual service must have no tcp route specified"));
        }
    }
    let applies_to_gateway =
        !spec.gateways.is_empty() && !spec.gateways.iter().any(|gateway| gateway == "mesh");
    let applies_to_mesh_only = !applies_to_gateway && (gateway_mode || !spec.gateways.is_empty());
    if !spec.gateways.is_empty() {
        check_gateway_names(&spec.gateways, &path.field("gateways"), warnings)?;
    }
    if !applies_to_gateway {
        check_no_jwt_claims(spec, path)?;
    }
    validate_hosts(spec, applies_to_gateway, applies_to_mesh_only, path)?;
    if spec.http.is_empty() && spec.tcp.is_empty() && spec.tls.is_empty() {
        return Err(path.error("http, tcp or tls must be provided in virtual service"));
    }
    for (index, http) in spec.http.iter().enumerate() {
        validate_http_route(
            http,
            is_delegate,
            &path.field("http").index(index),
            warnings,
        )?;
    }
    validate_stream_routes(spec, applies_to_gateway, path, warnings)?;
    export_to::check(
        &virtual_service.namespace,
        &spec.export_to,
        Exported::Config,
    )
    .map_err(|(index, reason)| path.field("exportTo").index(index).error(reason))?;
    unreachable::analyze(&spec.http, &path.field("http"), warnings);
    Ok(())
}

fn check_gateway_names(
    gateways: &[String],
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let checked = names::check_gateway_names(gateways);
    warnings.extend(
        checked
            .warnings
            .into_iter()
            .map(|(index, reason)| path.index(index).warning(reason)),
    );
    match checked.error {
        Some((index, reason)) => Err(path.index(index).error(reason)),
        None => Ok(()),
    }
}

/// JWT claims are known only after a gateway's authentication: Istio refuses claim routing in
/// a VirtualService that is not bound to a gateway.
fn check_no_jwt_claims(spec: &VirtualServiceSpec, path: &FieldPath) -> Result<(), ConfigError> {
    for (route_index, http) in spec.http.iter().enumerate() {
        for (block_index, block) in http.matches.iter().enumerate() {
            let block_path = path
                .field("http")
                .index(route_index)
                .field("match")
                .index(block_index);
            for (field, map) in [
                ("headers", &block.headers),
                ("withoutHeaders", &block.without_headers),
            ] {
                if let Some(key) = map.keys().find(|key| is_jwt_claim(key)) {
                    return Err(block_path.field(field).field(key).error(format!(
                        "JWT claim based routing (key: {key}) is only supported for gateway, found no gateways: {:?}",
                        spec.gateways
                    )));
                }
            }
        }
    }
    Ok(())
}

fn is_jwt_claim(key: &str) -> bool {
    key.starts_with("@request.auth.claims.") || key.starts_with("@request.auth.claims[")
}

fn validate_hosts(
    spec: &VirtualServiceSpec,
    applies_to_gateway: bool,
    applies_to_mesh_only: bool,
    path: &FieldPath,
) -> Result<(), ConfigError> {
    let sni = has_sni_hosts(spec);
    for (index, host) in spec.hosts.iter().enumerate() {
        let checked = if applies_to_gateway {
            names::check_gateway_host(sni, host)
        } else {
            names::check_wildcard_domain(host)
        };
        match checked {
            Err(reason) if !names::is_ip_address(host) => {
                return Err(path.field("hosts").index(index).error(reason))
            }
            Ok(()) if applies_to_mesh_only && host == "*" => {
                return Err(path.field("hosts").index(index).error(
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                ))
            }
            _ => {}
        }
    }
    for (first_index, first) in spec.hosts.iter().enumerate() {
        for (second_index, second) in spec.hosts.iter().enumerate().skip(first_index + 1) {
            if names::hosts_overlap(first, second) {
                return Err(path.field("hosts").index(second_index).error(format!(
                    "duplicate hosts in virtual service: {first} & {second}"
                )));
            }
        }
    }
    Ok(())
}

/// Istio's `isSniHost`: some TLS route matches on SNI hosts.
fn has_sni_hosts(spec: &VirtualServiceSpec) -> bool {
    spec.tls.iter().any(|tls| {
        tls.get("match")
            .and_then(|matches| matches.as_array())
            .is_some_and(|matches| {
                matches.iter().any(|block| {
                    block
                        .get("sniHosts")
                        .and_then(|hosts| hosts.as_array())
                        .is_some_and(|hosts| !hosts.is_empty())
                })
            })
    })
}

/// The parts of Istio's `validateTLSRoute` and `validateTCPRoute` that concern a route's
/// shape; the module does not route TLS or TCP, so their destinations are not checked further.
fn validate_stream_routes(
    spec: &VirtualServiceSpec,
    applies_to_gateway: bool,
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let non_empty_array = |value: Option<&serde_json::Value>| {
        value
            .and_then(|value| value.as_array())
            .is_some_and(|items| !items.is_empty())
    };
    for (index, tls) in spec.tls.iter().enumerate() {
        let tls_path = path.field("tls").index(index);
        if !non_empty_array(tls.get("match")) {
            return Err(tls_path.error("TLS route must have at least one match condition"));
        }
        let matches = tls
            .get("match")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten();
        for (block_index, block) in matches.enumerate() {
            let block_path = tls_path.field("match").index(block_index);
            if !non_empty_array(block.get("sniHosts")) {
                return Err(block_path.error("TLS match must have at least one SNI host"));
            }
            let sni_hosts = block.get("sniHosts").and_then(|hosts| hosts.as_array());
            for (host_index, sni) in sni_hosts.into_iter().flatten().enumerate() {
                let sni = sni.as_str().unwrap_or_default();
                check_sni_host(
                    sni,
                    spec,
                    applies_to_gateway,
                    &block_path.field("sniHosts").index(host_index),
                    warnings,
                )?;
            }
        }
        if !non_empty_array(tls.get("route")) {
            return Err(tls_path.error("TLS route is required"));
        }
    }
    for (index, tcp) in spec.tcp.iter().enumerate() {
        if !non_empty_array(tcp.get("route")) {
            return Err(path
                .field("tcp")
                .index(index)
                .error("TCP route is required"));
        }
    }
    Ok(())
}

/// Istio's `validateSniHost`: a valid name (an IP only with a warning) within the hosts.
fn check_sni_host(
    sni: &str,
    spec: &VirtualServiceSpec,
    applies_to_gateway: bool,
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let checked = if applies_to_gateway {
        names::check_gateway_host(true, sni)
    } else {
        names::check_wildcard_domain(sni)
    };
    if let Err(reason) = checked {
        if names::is_ip_address(sni) {
            warnings.push(path.warning(format!(
                "using an IP address ({sni:?}) goes against SNI spec and most clients do not support this"
            )));
            return Ok(());
        }
        return Err(path.error(reason));
    }
    if spec
        .hosts
        .iter()
        .any(|host| names::host_subset_of(sni, host))
    {
        return Ok(());
    }
    Err(path.error(format!(
        "SNI host {sni:?} is not a compatible subset of any of the virtual service hosts: [{}]",
        spec.hosts.join(", ")
    )))
}

/// Istio's `validateHTTPRoute`, for a route of a delegate VirtualService when `in_delegate`.
pub fn validate_http_route(
    http: &HttpRoute,
    in_delegate: bool,
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    check_conflicts(http, in_delegate, path)?;
    for (index, block) in http.matches.iter().enumerate() {
        let block_path = path.field("match").index(index);
        for name in block.headers.keys().chain(block.without_headers.keys()) {
            check_match_header_name(name, &block_path)?;
        }
        if !block.gateways.is_empty() {
            check_gateway_names(&block.gateways, &block_path.field("gateways"), warnings)?;
        }
        check_string_matches(block, &block_path)?;
    }
    RouteHeaders::compile(http.headers.as_deref(), &path.field("headers"), warnings)?;
    if let Some(cors) = &http.cors_policy {
        super::cors::CorsPolicy::compile(cors, &path.field("corsPolicy"))?;
    }
    if let Some(fault) = &http.fault {
        check_fault_types(fault, &path.field("fault"), warnings);
        crate::fault::FaultPolicy::compile(
            fault,
            crate::fault::HeaderControl::Refused,
            &path.field("fault"),
        )?;
    }
    if let Some(percent) = http.mirror_percent {
        if percent > 100 {
            return Err(path.field("mirrorPercent").error(format!(
                "mirror_percent must have a max value of 100 (it has {percent})"
            )));
        }
        warnings.push(path.field("mirrorPercent").warning(
            "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead",
        ));
    }
    check_mirror_percentage(
        http.mirror_percentage.as_ref(),
        "mirror_percentage",
        &path.field("mirrorPercentage"),
    )?;
    if let Some(mirror) = &http.mirror {
        validate_destination(mirror, &path.field("mirror"))?;
    }
    for (index, mirror) in http.mirrors.iter().enumerate() {
        let mirror_path = path.field("mirrors").index(index);
        validate_destination(&mirror.destination, &mirror_path.field("destination"))?;
        check_mirror_percentage(
            mirror.percentage.as_ref(),
            "mirror percentage",
            &mirror_path.field("percentage"),
        )?;
    }
    if let Some(redirect) = &http.redirect {
        check_redirect_prefix_rewrite(http, &path.field("redirect"))?;
        super::redirect::Redirect::compile(redirect, &path.field("redirect"))?;
    }
    if let Some(direct) = &http.direct_response {
        check_direct_response(direct, &path.field("directResponse"), warnings)?;
    }
    super::upstream_policy::check_retries(http.retries.as_deref(), path, warnings)?;
    super::upstream_policy::compile(http.timeout.as_deref(), http.retries.as_deref(), path)?;
    if let Some(rewrite) = &http.rewrite {
        super::rewrite::Rewrite::compile(rewrite, &path.field("rewrite"))?;
    }
    check_authority_rewritten_once(http, path)?;
    for (index, weighted) in http.route.iter().enumerate() {
        let destination_path = path.field("route").index(index);
        RouteHeaders::compile(
            weighted.headers.as_ref(),
            &destination_path.field("headers"),
            warnings,
        )?;
        validate_destination(
            &weighted.destination,
            &destination_path.field("destination"),
        )?;
    }
    Ok(())
}

/// Istio's `validateHTTPRouteConflict`.
fn check_conflicts(
    http: &HttpRoute,
    in_delegate: bool,
    path: &FieldPath,
) -> Result<(), ConfigError> {
    let name = match http.name.as_deref() {
        Some(name) if !name.is_empty() => format!(" {name}"),
        _ => String::new(),
    };
    if http.delegate.is_some() && !in_delegate {
        if http.redirect.is_some() {
            return Err(path
                .field("redirect")
                .error(format!("root HTTP route{name} must not specify redirect")));
        }
        if !http.route.is_empty() {
            return Err(path
                .field("route")
                .error(format!("root HTTP route{name} must not specify route")));
        }
        return Ok(());
    }
    if in_delegate && http.delegate.is_some() {
        return Err(path
            .field("delegate")
            .error("delegate HTTP route cannot contain delegate"));
    }
    let conflict = |field: &str, reason: &str| Err(path.field(field).error(reason.to_owned()));
    if http.redirect.is_some() {
        if !http.route.is_empty() {
            return conflict("route", "HTTP route cannot contain both route and redirect");
        }
        if http.fault.is_some() {
            return conflict("fault", "HTTP route cannot contain both fault and redirect");
        }
        if http.rewrite.is_some() {
            return conflict(
                "rewrite",
                "HTTP route rule cannot contain both rewrite and redirect",
            );
        }
        if http.direct_response.is_some() {
            return conflict(
                "directResponse",
                "HTTP route rule cannot contain both direct_response and redirect",
            );
        }
    } else if http.direct_response.is_some() {
        if !http.route.is_empty() {
            return conflict(
                "route",
                "HTTP route cannot contain both route and direct_response",
            );
        }
        if http.fault.is_some() {
            return conflict(
                "fault",
                "HTTP route cannot contain both fault and direct_response",
            );
        }
        if http.rewrite.is_some() {
            return conflict(
                "rewrite",
                "HTTP route rule cannot contain both rewrite and direct_response",
            );
        }
    } else if http.route.is_empty() {
        return Err(path.error("HTTP route, redirect or direct_response is required"));
    }
    if http.mirror.is_some() && !http.mirrors.is_empty() {
        return conflict(
            "mirrors",
            "HTTP route cannot contain both mirror and mirrors",
        );
    }
    Ok(())
}

/// Istio's `validateStringMatch` on every condition of a block (compiling does the same for
/// the VirtualServices that are routed; this covers those that are not).
fn check_string_matches(block: &HttpMatchRequest, path: &FieldPath) -> Result<(), ConfigError> {
    let presence = MatchOptions {
        allow_presence: true,
        ..MatchOptions::default()
    };
    let uri = MatchOptions {
        allow_empty_prefix: true,
        allow_presence: true,
        ..MatchOptions::default()
    };
    let singles = [
        ("uri", &block.uri, uri),
        ("scheme", &block.scheme, presence),
        ("method", &block.method, presence),
        ("authority", &block.authority, presence),
    ];
    for (field, condition, options) in singles {
        if let Some(condition) = condition {
            StringMatch::check(condition, &path.field(field), options)?;
        }
    }
    let maps = [
        ("headers", &block.headers),
        ("withoutHeaders", &block.without_headers),
        ("queryParams", &block.query_params),
    ];
    for (field, map) in maps {
        for (key, condition) in map {
            // Istio's `withoutHeaders` regex `*` is a presence match, not a regex.
            if field == "withoutHeaders" && condition.regex.as_deref() == Some("*") {
                continue;
            }
            StringMatch::check(condition, &path.field(field).field(key), presence)?;
        }
    }
    if let Some(port) = block.port.filter(|&port| port != 0) {
        path.field("port").port(port)?;
    }
    Ok(())
}

/// Istio's `ValidateHTTPHeaderNameOrJwtClaimRoute`: a token, a pseudo-header Envoy matches
/// on, or a JWT claim.
fn check_match_header_name(name: &str, path: &FieldPath) -> Result<(), ConfigError> {
    const PSEUDO_HEADERS: [&str; 5] = [":method", ":scheme", ":authority", ":path", ":status"];
    let path = path.field(name);
    if name.is_empty() {
        return Err(path.error("header name cannot be empty"));
    }
    if is_jwt_claim(name) || PSEUDO_HEADERS.contains(&name) {
        return Ok(());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(path.error(format!("header name {name} is not a valid header name")));
    }
    Ok(())
}

/// Istio warns about, and then drops, an abort without a status and a delay without a
/// duration (`TranslateFault`); the fault compiler drops them too.
fn check_fault_types(
    fault: &crate::fault::HttpFaultInjection,
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) {
    if let Some(abort) = &fault.abort {
        if abort.http_status.is_none() && abort.grpc_status.is_none() && abort.http2_error.is_none()
        {
            warnings.push(
                path.field("abort")
                    .warning("abort configured, but error type not set: no abort is injected"),
            );
        }
        if abort.http_status == Some(600) {
            warnings.push(path.field("abort").field("httpStatus").warning(
                "600 is past HTTP's 200-599: Istio accepts it, Envoy's fault filter refuses it; the module answers 600",
            ));
        }
    }
    if let Some(delay) = &fault.delay {
        if delay.fixed_delay.is_none() && delay.exponential_delay.is_none() {
            warnings.push(
                path.field("delay")
                    .warning("delay configured, but fixedDelay not set: no delay is injected"),
            );
        }
    }
}

/// Istio's mirror percentage rule: within 0 to 100 (finer than 0.0001% rounds to none).
fn check_mirror_percentage(
    percentage: Option<&PercentSpec>,
    name: &str,
    path: &FieldPath,
) -> Result<(), ConfigError> {
    let Some(value) = percentage.map(|percentage| percentage.value) else {
        return Ok(());
    };
    if value > 100.0 || value.is_nan() {
        return Err(path.error(format!(
            "{name} must have a max value of 100 (it has {value:.6})"
        )));
    }
    if value < 0.0 {
        return Err(path.error(format!(
            "{name} must have a min value of 0 (it has {value:.6})"
        )));
    }
    Ok(())
}

/// Istio's `validateDestination`.
pub fn validate_destination(
    destination: &Destination,
    path: &FieldPath,
) -> Result<(), ConfigError> {
    let host = &destination.host;
    if host == "*" {
        return Err(path
            .field("host")
            .error(format!("invalid destination host {host}")));
    }
    names::check_wildcard_domain(host).map_err(|reason| path.field("host").error(reason))?;
    if let Some(subset) = &destination.subset {
        if subset.is_empty() {
            return Err(path.field("subset").error("subset name cannot be empty"));
        }
        if !names::is_dns1123_label(subset) {
            return Err(path
                .field("subset")
                .error(format!("subset name is invalid: {subset}")));
        }
    }
    if let Some(port) = destination.port {
        port_in_range(port.number, &path.field("port").field("number"))?;
    }
    Ok(())
}

/// Istio's `ValidatePort`.
fn port_in_range(number: u32, path: &FieldPath) -> Result<(), ConfigError> {
    if (1..=65535).contains(&number) {
        Ok(())
    } else {
        Err(path.error(format!(
            "port number {number} must be in the range 1..65535"
        )))
    }
}

/// `redirect.prefixRewrite` replaces a matched prefix: every `uri` match must be a prefix.
fn check_redirect_prefix_rewrite(http: &HttpRoute, path: &FieldPath) -> Result<(), ConfigError> {
    let Some(redirect) = &http.redirect else {
        return Ok(());
    };
    if redirect
        .prefix_rewrite
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        return Ok(());
    }
    let is_prefix = |uri: &StringMatchSpec| uri.prefix.is_some();
    if http
        .matches
        .iter()
        .any(|block| block.uri.as_ref().is_some_and(|uri| !is_prefix(uri)))
    {
        return Err(path
            .field("prefixRewrite")
            .error("redirect prefix_rewrite requires all URI matches to use prefix match type"));
    }
    Ok(())
}

/// Istio's `validateHTTPDirectResponse`: a status in 200..600 and a body under 1 MiB.
fn check_direct_response(
    direct: &HttpDirectResponse,
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    if let Some(body) = &direct.body {
        let size = match (&body.string, &body.bytes) {
            (Some(text), _) => text.len(),
            // Istio measures the decoded bytes; base64 takes 4 characters for 3 bytes.
            (None, Some(encoded)) => encoded.trim_end_matches('=').len() * 3 / 4,
            (None, None) => 0,
        };
        if size > MAX_DIRECT_RESPONSE_BODY {
            return Err(path.field("body").error(
                "large direct_responses may impact control plane performance, must be less than 1MB",
            ));
        }
        if size > LARGE_DIRECT_RESPONSE_BODY {
            warnings.push(
                path.field("body")
                    .warning("large direct_responses may impact control plane performance"),
            );
        }
    }
    if direct.status == 600 {
        warnings.push(path.field("status").warning(
            "600 is past HTTP's 200-599: Istio accepts it, Envoy's direct_response refuses it; the module answers 600",
        ));
    }
    Ok(())
}

/// Istio's `validateAuthorityRewrite`: the authority is rewritten in one place only.
fn check_authority_rewritten_once(http: &HttpRoute, path: &FieldPath) -> Result<(), ConfigError> {
    let mut current = http
        .rewrite
        .as_ref()
        .and_then(|rewrite| rewrite.authority.clone())
        .filter(|authority| !authority.is_empty());
    let Some(request) = http
        .headers
        .as_ref()
        .and_then(|headers| headers.request.as_ref())
    else {
        return Ok(());
    };
    for (field, map) in [("set", &request.set), ("add", &request.add)] {
        for (name, value) in map {
            if !(name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")) {
                continue;
            }
            if let Some(have) = &current {
                return Err(path
                    .field("headers")
                    .field("request")
                    .field(field)
                    .field(name)
                    .error(format!(
                        "authority header cannot be set multiple times: have {have:?}, attempting to set {value:?}"
                    )));
            }
            current = Some(value.clone()).filter(|value| !value.is_empty());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
