//! `gateway check`, `gateway explain` and `gateway test` as a user runs them: exit statuses
//! and output lines, on `gateway/example` and on the small directories of `tests/fixtures`.

use std::path::{Path, PathBuf};
use std::process::Command;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn crate_path(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `gateway args...` from the repository root (where the example's `file://dist/`
/// module paths are relative to): exit code and stdout lines.
fn gateway(args: &[&str]) -> Result<(i32, Vec<String>)> {
    let cache = tempfile::tempdir()?;
    let root = crate_path("..");
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command.args(args).current_dir(&root);
    if args.first() == Some(&"check") {
        command.arg("--cache-dir").arg(cache.path());
    }
    let output = command.output()?;
    let stdout = String::from_utf8(output.stdout)?;
    Ok((
        output.status.code().ok_or("killed by a signal")?,
        stdout.lines().map(str::to_string).collect(),
    ))
}

#[test]
fn check_passes_the_example() -> Result<()> {
    let (code, lines) = gateway(&["check", "gateway/example"])?;
    assert_eq!(code, 0, "{lines:#?}");
    assert!(lines
        .iter()
        .all(|line| !line.starts_with("Error") && !line.starts_with("Warning")));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("No validation issues found when analyzing gateway/example.")
    );
    Ok(())
}

#[test]
fn check_reports_broken_references_one_line_each_and_fails() -> Result<()> {
    let (code, lines) = gateway(&["check", "gateway/tests/fixtures/broken-refs"])?;
    assert_eq!(code, 1, "{lines:#?}");
    let at = "gateway/tests/fixtures/broken-refs/shop.yaml: VirtualService web/shop:";
    for expected in [
        format!(r#"Error [IST0101] {at} spec.gateways[1]: Referenced gateway not found: "missing-gateway""#),
        format!(r#"Error [IST0101] {at} spec.http[0].route[0].destination.subset: Referenced host+subset in destinationrule not found: "reviews+v9" (subset "v9" is not defined by any DestinationRule for reviews.web.svc.cluster.local)"#),
        format!(r#"Error [IST0101] {at} spec.http[1].route[0].destination.host: Referenced host not found: "ghost.web.svc.cluster.local" (no ServiceEntry or Service has ghost.web.svc.cluster.local)"#),
        format!("Warning [IST0132] {at} spec.hosts: one or more host [api.example.com] defined in VirtualService web/shop not found in Gateway web/shop-gateway."),
    ] {
        assert!(lines.contains(&expected), "{expected}\nnot in {lines:#?}");
    }
    assert!(lines.iter().any(|line| line.starts_with(
        "Warning gateway/tests/fixtures/broken-refs/shop.yaml: Gateway web/shop-gateway: spec.servers[1]: no VirtualService"
    )));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("3 error(s), 2 warning(s) in gateway/tests/fixtures/broken-refs")
    );
    Ok(())
}

#[test]
fn check_reports_what_the_gateway_itself_refuses() -> Result<()> {
    let (code, lines) = gateway(&["check", "gateway/tests/fixtures/bad-port"])?;
    assert_eq!(code, 1);
    assert_eq!(
        lines.first().map(String::as_str),
        Some("Error gateway/tests/fixtures/bad-port/gateway.yaml: Gateway istio-system/gw: spec.servers[0].port.number: 70000 is not a port number (1-65535)")
    );
    Ok(())
}

#[test]
fn check_gives_istios_gateway_warnings_as_warnings_and_its_verdicts_as_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gateway_yaml = |tls: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: istio-system}}\n\
             spec:\n  selector: {{istio: ingressgateway}}\n  servers:\n\
             \x20 - {{port: {{number: 80, name: http, protocol: HTTP}}, hosts: ['*']}}\n\
             \x20 - {{port: {{number: 443, name: https, protocol: HTTPS}}, hosts: ['*'], tls: {tls}}}\n"
        )
    };
    let file = dir.path().join("gateway.yaml");
    std::fs::write(
        &file,
        gateway_yaml("{mode: PASSTHROUGH, cipherSuites: [NOT-A-CIPHER]}"),
    )?;
    let path = dir.path().to_str().ok_or("path")?;
    let (code, lines) = gateway(&["check", path])?;
    assert_eq!(code, 0, "{lines:#?}");
    let at = format!("{}: Gateway istio-system/gw:", file.display());
    let expected = format!(
        "Warning {at} spec.servers[1].tls.cipherSuites: ignoring invalid cipher suites: [NOT-A-CIPHER]"
    );
    assert!(lines.contains(&expected), "{expected}\nnot in {lines:#?}");
    std::fs::write(
        &file,
        gateway_yaml(
            "{mode: MUTUAL, credentialName: c, serverCertificate: a.pem, privateKey: a.key}",
        ),
    )?;
    let (code, lines) = gateway(&["check", path])?;
    assert_eq!(code, 1, "{lines:#?}");
    let expected = format!(
        "Error {at} spec.servers[1].tls: only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified"
    );
    assert_eq!(lines.first(), Some(&expected), "{lines:#?}");
    Ok(())
}

#[test]
fn explain_names_the_rule_the_block_and_why_earlier_rules_failed() -> Result<()> {
    let url = "http://bookinfo.example.com/reviews/1";
    let (code, lines) = gateway(&["explain", "gateway/example", "GET", url])?;
    assert_eq!(code, 0);
    let vs = "gateway/example/bookinfo.yaml: VirtualService bookinfo/bookinfo";
    assert_eq!(
        lines[..6],
        [
            format!("request: GET {url}"),
            "bound to: istio-system/bookinfo-gateway".to_string(),
            format!(r#"skipped: {vs} http[0] "productpage": match[0].uri does not match "/reviews/1"; match[1].uri does not match "/reviews/1""#),
            format!(r#"skipped: {vs} http[1] "reviews-v2-for-jason": match[0].headers.end-user has nothing to match (absent)"#),
            format!(r#"matched: {vs} http[2] "reviews" by match[0]"#),
            r#"forward: cluster outbound|9080|v1|reviews.bookinfo.svc.cluster.local (route name "reviews")"#.to_string(),
        ]
    );
    let (_, jason) = gateway(&[
        "explain",
        "gateway/example",
        "GET",
        url,
        "-H",
        "end-user: jason",
    ])?;
    assert!(jason.contains(&format!(
        r#"matched: {vs} http[1] "reviews-v2-for-jason" by match[0]"#
    )));
    Ok(())
}

#[test]
fn explain_shows_rewrites_redirects_faults_timeouts_and_header_edits() -> Result<()> {
    let dir = "gateway/tests/fixtures/policies";
    let (_, api) = gateway(&[
        "explain",
        dir,
        "GET",
        "http://shop.example.com/api/v1/items",
    ])?;
    for expected in [
        r#"skipped: gateway/tests/fixtures/policies/shop.yaml: VirtualService web/shop http[0] "old-catalog": match[0].uri does not match "/api/v1/items""#,
        r#"matched: gateway/tests/fixtures/policies/shop.yaml: VirtualService web/shop http[1] "api" by match[1]"#,
        r#"forward: cluster outbound|8080||api.web.svc.cluster.local (route name "api.v1")"#,
        "  path rewritten: /items",
        "  authority rewritten: api.internal",
        "  timeout/retries: x-envoy-upstream-rq-timeout-ms: 2000",
        "  fault: abort HTTP 503 for 10%",
        "  request header set: x-api-version: v1",
        "  response header remove: server",
    ] {
        assert!(
            api.iter().any(|line| line == expected),
            "{expected}\nnot in {api:#?}"
        );
    }
    let (_, post) = gateway(&[
        "explain",
        dir,
        "POST",
        "http://shop.example.com/api/v1/items",
    ])?;
    assert!(post.contains(&r#"matched: gateway/tests/fixtures/policies/shop.yaml: VirtualService web/shop http[1] "api" by match[0]"#.to_string()), "{post:#?}");
    let (_, get) = gateway(&[
        "explain",
        dir,
        "GET",
        "http://shop.example.com/api/v1/items",
    ])?;
    assert!(
        get.contains(&r#"  after: match[0].method does not match "GET""#.to_string()),
        "{get:#?}"
    );
    let (_, moved) = gateway(&["explain", dir, "GET", "http://shop.example.com/catalog/1"])?;
    assert!(moved.contains(&"answer: 301 from the gateway".to_string()));
    assert!(moved.contains(&"  header: location: http://shop.example.com/products".to_string()));
    let (_, elsewhere) = gateway(&["explain", dir, "GET", "http://other.example.com/"])?;
    assert_eq!(
        elsewhere.last().map(String::as_str),
        Some(
            r#"the Gateway has no host for "other.example.com" (hosts [shop.example.com]): Envoy answers 404 (route_not_found)"#
        )
    );
    Ok(())
}

#[test]
fn explain_refuses_a_bad_request_with_usage() -> Result<()> {
    let (code, _) = gateway(&["explain", "gateway/example", "GET", "/relative"])?;
    assert_eq!(code, 2);
    let (code, _) = gateway(&["explain", "gateway/example", "GET"])?;
    assert_eq!(code, 2);
    let (code, _) = gateway(&[
        "explain",
        "gateway/tests/fixtures/bad-port",
        "GET",
        "http://a/",
    ])?;
    assert_eq!(code, 1);
    Ok(())
}

#[test]
fn test_passes_the_example_cases() -> Result<()> {
    let (code, lines) = gateway(&["test", "gateway/example", "gateway/example-cases.yaml"])?;
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(
        lines.first().map(String::as_str),
        Some("PASS the product page goes to productpage")
    );
    assert_eq!(lines.last().map(String::as_str), Some("5/5 passed"));
    Ok(())
}

#[test]
fn test_prints_each_difference_and_fails() -> Result<()> {
    let (code, lines) = gateway(&[
        "test",
        "gateway/tests/fixtures/policies",
        "gateway/tests/fixtures/policies-cases.yaml",
    ])?;
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        [
            "PASS the api is rewritten",
            "PASS the catalog moved",
            "PASS health is answered by the gateway",
            "FAIL a wrong expectation fails: cluster: expected outbound|8080||api.web.svc.cluster.local, got none (answered by the gateway); status: expected 204, got 200",
            "3/4 passed",
        ]
    );
    let (code, _) = gateway(&["test", "gateway/example", "gateway/no-such-cases.yaml"])?;
    assert_eq!(code, 2);
    Ok(())
}

#[test]
fn explain_uses_a_routers_own_plugin_config_as_the_gateway_does() -> Result<()> {
    let (code, lines) = gateway(&[
        "explain",
        "gateway/tests/fixtures/own-config",
        "GET",
        "http://a.example.com/x",
    ])?;
    assert_eq!(code, 0);
    assert!(lines
        .contains(&"bound to: spec.pluginConfig of WasmPlugin istio-system/router".to_string()));
    assert!(
        lines.contains(
            &r#"forward: cluster outbound|80||inline.example.org (route name "inline")"#
                .to_string()
        ),
        "{lines:#?}"
    );
    Ok(())
}
