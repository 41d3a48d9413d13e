//! What happens to a request after routing, in the terms a user checks: the cluster it goes
//! to, or the status the gateway answers with; the path and authority upstream; the headers
//! sent upstream (or answered with). Computed from the router's [`Decision`].

use engine::headers::{apply, HeaderEdit, HeaderOperations, TemplateInput};
use engine::request::HeaderList;
use engine::router::{Decision, RouteHeaders};
use engine::stream::NoAttributes;
use engine::RequestView;

/// Envoy's 404 for a request no route takes (`route_not_found`).
pub const NO_ROUTE_STATUS: u16 = 404;
/// What the router answers for a destination the registry does not have.
pub const UNKNOWN_SERVICE_STATUS: u16 = 503;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The upstream cluster; `None` when the gateway answers itself.
    pub cluster: Option<String>,
    /// The gateway's own answer; `None` when the request goes upstream.
    pub status: Option<u16>,
    /// `:path` upstream (rewritten or not); for a local answer, the request's.
    pub path: String,
    /// `:authority` upstream.
    pub authority: String,
    /// Forwarded: the request headers upstream (route edits and the router's `x-envoy-*`
    /// headers applied). Answered: the answer's headers (`location`, route response edits).
    pub headers: Vec<(String, String)>,
}

/// The request-side edits of `headers`, rendered for `request`.
pub fn request_edits(headers: &[&RouteHeaders], request: &HeaderList) -> Vec<HeaderEdit> {
    edits(headers, request, |route_headers| &route_headers.request)
}

/// The response-side edits of `headers`, rendered without a response.
pub fn response_edits(headers: &[&RouteHeaders], request: &HeaderList) -> Vec<HeaderEdit> {
    edits(headers, request, |route_headers| &route_headers.response)
}

/// One phase's edits of `headers`, offline: no response, no stream attributes.
fn edits(
    headers: &[&RouteHeaders],
    request: &HeaderList,
    phase: impl Fn(&RouteHeaders) -> &HeaderOperations,
) -> Vec<HeaderEdit> {
    let input = TemplateInput {
        request,
        response: None,
        attributes: &NoAttributes,
    };
    let mut edits = Vec::new();
    for route_headers in headers {
        phase(route_headers).edits(&input, &mut edits);
    }
    edits
}

/// The outcome of `decision` for `request`.
pub fn outcome(decision: &Decision<'_>, request: &HeaderList) -> Outcome {
    let header = |name: &str| request.header(name).unwrap_or_default().into_owned();
    let mut outcome = Outcome {
        cluster: None,
        status: None,
        path: header(":path"),
        authority: header(":authority"),
        headers: Vec::new(),
    };
    match decision {
        Decision::Forward(forward) => {
            outcome.cluster = Some(forward.cluster.to_string());
            let mut upstream = request.clone();
            apply(&request_edits(&forward.headers, request), &mut upstream);
            for (name, value) in forward.router_headers {
                upstream = upstream.with(name, value);
            }
            if let Some(path) = &forward.path {
                outcome.path = path.clone();
            }
            if let Some(authority) = forward.authority {
                outcome.authority = authority.to_string();
            }
            outcome.headers = regular(&upstream);
        }
        Decision::Respond(response) => {
            outcome.status = Some(response.status);
            let mut answer = HeaderList::default();
            for (name, value) in &response.headers {
                answer = answer.with(name, value);
            }
            apply(
                &response_edits(&response.response_headers, request),
                &mut answer,
            );
            outcome.headers = regular(&answer);
        }
        Decision::NoRoute => outcome.status = Some(NO_ROUTE_STATUS),
        Decision::UnknownService { .. } => outcome.status = Some(UNKNOWN_SERVICE_STATUS),
    }
    outcome
}

/// The headers of `list` without pseudo-headers.
fn regular(list: &HeaderList) -> Vec<(String, String)> {
    list.pairs()
        .iter()
        .filter(|(name, _)| !name.starts_with(':'))
        .cloned()
        .collect()
}
