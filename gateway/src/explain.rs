//! `gateway explain DIR METHOD URL [-H 'name: value']...`: how the router module routes one
//! request, evaluated natively by the engine's [`RouteTable::explain`]: the routes tested
//! before the one taken and the condition each of their blocks failed on, the route and
//! block that took the request, and what it decides.
//!
//! [`RouteTable::explain`]: engine::router::RouteTable::explain

use engine::headers::HeaderEdit;
use engine::request::HeaderList;
use engine::request_match::Mismatch;
use engine::router::{BlockMismatch, Decision, Explanation, Route};
use engine::RequestView;

use crate::outcome::{self, NO_ROUTE_STATUS, UNKNOWN_SERVICE_STATUS};
use crate::request::Request;
use crate::routing::Routing;

/// Weighted destinations and mirror percentages draw this "random" number: the first
/// destination with weight, every mirror at 100%, so the answer is reproducible.
pub fn first_draw() -> u64 {
    0
}

/// The explanation of `request`, one line per fact.
pub fn explain(routing: &Routing, request: &Request) -> Vec<String> {
    let list = request.header_list(routing.server_port);
    let explanation = routing.table.explain(&list, &mut first_draw);
    let mut lines = vec![format!(
        "request: {} {}://{}{}{}",
        request.method,
        request.scheme,
        request.authority,
        request.path,
        request
            .headers
            .iter()
            .map(|(name, value)| format!(" [{name}: {value}]"))
            .collect::<String>()
    )];
    lines.push(format!("bound to: {}", routing.binding));
    if !routing.listener_serves(&request.authority) {
        lines.push(format!(
            "the Gateway has no host for {:?} (hosts [{}]): Envoy answers {NO_ROUTE_STATUS} (route_not_found)",
            request.authority,
            routing.listener_hosts.join(" ")
        ));
        return lines;
    }
    if !explanation.virtual_host_found {
        lines.push(format!(
            "no VirtualService has host {:?}: Envoy answers {NO_ROUTE_STATUS} (route_not_found)",
            request.authority
        ));
        return lines;
    }
    passed_lines(routing, &explanation, &list, &mut lines);
    match &explanation.taken {
        None => lines.push(format!(
            "no route matched: Envoy answers {NO_ROUTE_STATUS} (route_not_found)"
        )),
        Some(taken) => {
            lines.push(format!(
                "matched: {} {}{}",
                routing.describe(taken.route.virtual_service()),
                rule(taken.route),
                taken.block.map_or_else(
                    || " (no match blocks: every request)".to_string(),
                    |block| format!(" by match[{block}]"),
                )
            ));
            if !taken.earlier_blocks.is_empty() {
                lines.push(format!(
                    "  after: {}",
                    reasons(&taken.earlier_blocks, &list).join("; ")
                ));
            }
        }
    }
    decision_lines(&explanation.decision, &list, &mut lines);
    lines
}

/// `http[1] "reviews"`, or `http[1]` for an unnamed rule.
fn rule(route: &Route) -> String {
    if route.name().is_empty() {
        format!("http[{}]", route.http_index())
    } else {
        format!("http[{}] {:?}", route.http_index(), route.name())
    }
}

fn passed_lines(
    routing: &Routing,
    explanation: &Explanation<'_>,
    request: &HeaderList,
    lines: &mut Vec<String>,
) {
    for passed in &explanation.passed {
        lines.push(format!(
            "skipped: {} {}: {}",
            routing.describe(passed.route.virtual_service()),
            rule(passed.route),
            reasons(&passed.blocks, request).join("; ")
        ));
    }
}

/// `match[0].uri does not match "/x"`, per failed block.
fn reasons(blocks: &[BlockMismatch<'_>], request: &HeaderList) -> Vec<String> {
    blocks
        .iter()
        .map(|block| {
            format!(
                "match[{}].{} {}",
                block.block,
                block.mismatch,
                actual(block.mismatch, request)
            )
        })
        .collect()
}

/// What the request has where a condition failed, e.g. `does not match "/productpage"`.
fn actual(mismatch: Mismatch<'_>, request: &HeaderList) -> String {
    let value = |name: &str| match request.header(name) {
        Some(value) => format!("does not match {value:?}"),
        None => "has nothing to match (absent)".to_string(),
    };
    match mismatch {
        Mismatch::Uri => value(":path"),
        Mismatch::Scheme => value(":scheme"),
        Mismatch::Method => value(":method"),
        Mismatch::Authority => value(":authority"),
        Mismatch::Port => match request.destination_port() {
            Some(port) => format!("does not match port {port}"),
            None => "has no port".to_string(),
        },
        Mismatch::Header(name) => value(name),
        Mismatch::WithoutHeader(name) => match request.header(name) {
            Some(value) => format!("excludes {value:?}"),
            None => "excludes the missing header (as empty)".to_string(),
        },
        Mismatch::QueryParam(name) => {
            let path = request.header(":path").unwrap_or_default();
            match engine::request_match::first_query_value(&path, name) {
                Some(value) => format!("does not match {value:?}"),
                None => "has nothing to match (absent)".to_string(),
            }
        }
    }
}

fn decision_lines(decision: &Decision<'_>, request: &HeaderList, lines: &mut Vec<String>) {
    match decision {
        Decision::Forward(forward) => {
            lines.push(format!(
                "forward: cluster {} (route name {:?})",
                forward.cluster, forward.route_name
            ));
            if let Some(path) = &forward.path {
                lines.push(format!("  path rewritten: {path}"));
            }
            if let Some(authority) = forward.authority {
                lines.push(format!("  authority rewritten: {authority}"));
            }
            for (name, value) in forward.router_headers {
                lines.push(format!("  timeout/retries: {name}: {value}"));
            }
            let own_retries = forward
                .router_headers
                .iter()
                .any(|(name, _)| *name == engine::router::CUSTOM_RETRIES_HEADER);
            if !own_retries {
                lines.push(
                    "  retries: Istio's default policy, on the router's route in Envoy (2 retries on connect-failure, refused-stream, unavailable, cancelled and 503, each on another host)"
                        .to_string(),
                );
            }
            for mirror in &forward.mirrors {
                lines.push(format!("  mirrored to: {mirror}"));
            }
            if let Some(fault) = forward.fault {
                lines.push(format!("  fault: {fault}"));
            }
            edit_lines(
                "request header",
                &outcome::request_edits(&forward.headers, request),
                lines,
            );
            edit_lines(
                "response header",
                &outcome::response_edits(&forward.headers, request),
                lines,
            );
            for (name, value) in &forward.cors_headers {
                lines.push(format!("  cors response header: {name}: {value}"));
            }
        }
        Decision::Respond(response) => {
            lines.push(format!("answer: {} from the gateway", response.status));
            for (name, value) in &response.headers {
                lines.push(format!("  header: {name}: {value}"));
            }
            if !response.body.is_empty() {
                lines.push(format!(
                    "  body: {:?}",
                    String::from_utf8_lossy(&response.body)
                ));
            }
            edit_lines(
                "response header",
                &outcome::response_edits(&response.response_headers, request),
                lines,
            );
        }
        Decision::NoRoute => {}
        Decision::UnknownService { cluster, .. } => lines.push(format!(
            "answer: {UNKNOWN_SERVICE_STATUS} from the router: no service in the registry for cluster {cluster}"
        )),
    }
}

fn edit_lines(what: &str, edits: &[HeaderEdit], lines: &mut Vec<String>) {
    for edit in edits {
        lines.push(match edit {
            HeaderEdit::Set { name, value } => format!("  {what} set: {name}: {value}"),
            HeaderEdit::Add { name, value } => format!("  {what} add: {name}: {value}"),
            HeaderEdit::Remove(name) => format!("  {what} remove: {name}"),
            HeaderEdit::RemovePrefix(prefix) => format!("  {what} remove: {prefix}*"),
        });
    }
}
