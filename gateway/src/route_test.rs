//! `gateway test DIR CASES.yaml`: requests with their expected outcomes, as Envoy's
//! `router_check_tool` checks a route table, so VirtualServices can be kept under CI.
//!
//! ```yaml
//! cases:
//! - name: jason reaches reviews v2
//!   request: {method: GET, url: "http://bookinfo.example.com/reviews/1", headers: {end-user: jason}}
//!   expect: {cluster: "outbound|9080|v2|reviews.bookinfo.svc.cluster.local"}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use engine::router::Decision;
use serde::Deserialize;

use crate::explain::first_draw;
use crate::outcome::{outcome, Outcome};
use crate::request::Request;
use crate::routing::Routing;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cases {
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub request: CaseRequest,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn get() -> String {
    "GET".to_string()
}

/// What is checked; fields left out are not.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The upstream cluster (the request is forwarded).
    pub cluster: Option<String>,
    /// The gateway's own answer: 404 for no route, a redirect's or direct response's status.
    pub status: Option<u16>,
    /// `:path` upstream, after rewrites.
    pub path: Option<String>,
    /// `:authority` upstream, after rewrites.
    pub authority: Option<String>,
    /// Headers upstream (forwarded) or of the answer (local); `null` for "absent".
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
}

/// The cases of `file`.
pub fn read(file: &Path) -> Result<Cases, String> {
    let text =
        std::fs::read_to_string(file).map_err(|error| format!("{}: {error}", file.display()))?;
    serde_yaml_ng::from_str(&text).map_err(|error| format!("{}: {error}", file.display()))
}

/// The request of `case`.
pub fn request(case: &CaseRequest) -> Result<Request, String> {
    let mut request = Request::new(&case.method, &case.url)?;
    for (name, value) in &case.headers {
        request = request.header(&format!("{name}: {value}"))?;
    }
    Ok(request)
}

/// What the router decides for `request`.
pub fn predict(routing: &Routing, request: &Request) -> Outcome {
    let list = request.header_list(routing.server_port);
    let decision = if routing.listener_serves(&request.authority) {
        routing.table.select(&list, &mut first_draw)
    } else {
        Decision::NoRoute
    };
    outcome(&decision, &list)
}

/// The differences between `expect` and `outcome`, empty when the case passes.
pub fn differences(expect: &Expect, outcome: &Outcome) -> Vec<String> {
    let mut differences = Vec::new();
    let shown = |value: &Option<String>| {
        value
            .as_deref()
            .unwrap_or("none (answered by the gateway)")
            .to_string()
    };
    if let Some(cluster) = &expect.cluster {
        if outcome.cluster.as_ref() != Some(cluster) {
            differences.push(format!(
                "cluster: expected {cluster}, got {}",
                shown(&outcome.cluster)
            ));
        }
    }
    if let Some(status) = expect.status {
        if outcome.status != Some(status) {
            let got = outcome.status.map_or_else(
                || format!("forwarded to {}", shown(&outcome.cluster)),
                |s| s.to_string(),
            );
            differences.push(format!("status: expected {status}, got {got}"));
        }
    }
    if let Some(path) = &expect.path {
        if &outcome.path != path {
            differences.push(format!("path: expected {path}, got {}", outcome.path));
        }
    }
    if let Some(authority) = &expect.authority {
        if &outcome.authority != authority {
            differences.push(format!(
                "authority: expected {authority}, got {}",
                outcome.authority
            ));
        }
    }
    for (name, expected) in &expect.headers {
        let name = name.to_ascii_lowercase();
        let values: Vec<&str> = outcome
            .headers
            .iter()
            .filter(|(have, _)| *have == name)
            .map(|(_, value)| value.as_str())
            .collect();
        let got = (!values.is_empty()).then(|| values.join(","));
        if got.as_deref() != expected.as_deref() {
            differences.push(format!(
                "header {name}: expected {}, got {}",
                expected.as_deref().unwrap_or("absent"),
                got.as_deref().unwrap_or("absent")
            ));
        }
    }
    differences
}

/// One line per case, and whether every case passed.
pub fn run(routing: &Routing, cases: &Cases) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut passed = 0;
    for case in &cases.cases {
        let result = request(&case.request).map(|request| predict(routing, &request));
        let line = match result {
            Err(error) => format!("FAIL {}: request: {error}", case.name),
            Ok(outcome) => {
                let differences = differences(&case.expect, &outcome);
                if differences.is_empty() {
                    passed += 1;
                    format!("PASS {}", case.name)
                } else {
                    format!("FAIL {}: {}", case.name, differences.join("; "))
                }
            }
        };
        lines.push(line);
    }
    let total = cases.cases.len();
    lines.push(format!("{passed}/{total} passed"));
    (lines, passed == total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded() -> Outcome {
        Outcome {
            cluster: Some("outbound|9080|v1|reviews.bookinfo.svc.cluster.local".into()),
            status: None,
            path: "/reviews/1".into(),
            authority: "bookinfo.example.com".into(),
            headers: vec![("x-envoy-upstream-rq-timeout-ms".into(), "500".into())],
        }
    }

    #[test]
    fn a_matching_outcome_has_no_difference() {
        let expect = Expect {
            cluster: forwarded().cluster,
            path: Some("/reviews/1".into()),
            headers: [
                (
                    "X-Envoy-Upstream-Rq-Timeout-Ms".to_string(),
                    Some("500".to_string()),
                ),
                ("end-user".to_string(), None),
            ]
            .into(),
            ..Expect::default()
        };
        assert_eq!(differences(&expect, &forwarded()), Vec::<String>::new());
    }

    #[test]
    fn each_difference_is_named() {
        let expect = Expect {
            cluster: Some("outbound|9080|v2|reviews.bookinfo.svc.cluster.local".into()),
            status: Some(404),
            headers: [("end-user".to_string(), Some("jason".to_string()))].into(),
            ..Expect::default()
        };
        assert_eq!(
            differences(&expect, &forwarded()),
            [
                "cluster: expected outbound|9080|v2|reviews.bookinfo.svc.cluster.local, got outbound|9080|v1|reviews.bookinfo.svc.cluster.local",
                "status: expected 404, got forwarded to outbound|9080|v1|reviews.bookinfo.svc.cluster.local",
                "header end-user: expected jason, got absent",
            ]
        );
    }
}
