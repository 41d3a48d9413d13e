use std::path::{Path, PathBuf};

use super::analyze;
use crate::finding::{Finding, Level};
use crate::plan;

fn dir(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn findings(path: &str) -> Vec<Finding> {
    let (resources, _) = plan::load(&dir(path)).expect("loads");
    analyze(&resources)
}

/// `Level [code] field: message`, without the file and resource every line starts with.
fn short(finding: &Finding) -> String {
    let field_and_message = finding
        .text
        .split_once("web/shop: ")
        .or_else(|| finding.text.split_once("web/shop-gateway: "))
        .map_or(finding.text.as_str(), |(_, rest)| rest);
    format!("{:?} {:?} {field_and_message}", finding.level, finding.code)
}

#[test]
fn the_example_is_clean() {
    assert_eq!(findings("example"), []);
}

#[test]
fn broken_references_are_found_with_their_fields() {
    let found: Vec<String> = findings("tests/fixtures/broken-refs")
        .iter()
        .map(short)
        .collect();
    assert_eq!(
        found,
        [
            r#"Error Some("IST0101") spec.gateways[1]: Referenced gateway not found: "missing-gateway""#,
            r#"Warning Some("IST0132") spec.hosts: one or more host [api.example.com] defined in VirtualService web/shop not found in Gateway web/shop-gateway."#,
            "Warning None spec.servers[1]: no VirtualService bound to Gateway web/shop-gateway has a host of this server (port 8081, hosts [admin.example.com]): it routes nothing, every request to it gets 404",
            r#"Error Some("IST0101") spec.http[0].route[0].destination.subset: Referenced host+subset in destinationrule not found: "reviews+v9" (subset "v9" is not defined by any DestinationRule for reviews.web.svc.cluster.local)"#,
            r#"Error Some("IST0101") spec.http[1].route[0].destination.host: Referenced host not found: "ghost.web.svc.cluster.local" (no ServiceEntry or Service has ghost.web.svc.cluster.local)"#,
        ]
    );
}

#[test]
fn a_finding_names_file_resource_and_field() {
    let found = findings("tests/fixtures/broken-refs");
    let first = found.first().expect("a finding");
    assert_eq!(first.level, Level::Error);
    assert!(
        first.to_string().starts_with("Error [IST0101] ")
            && first
                .text
                .contains("broken-refs/shop.yaml: VirtualService web/shop: spec.gateways[1]: "),
        "{first}"
    );
}
