//! `gateway test` and `gateway explain` against the running gateway: the same directory,
//! the same requests; what the tools predict (cluster, or the gateway's own status, and the
//! upstream path) is what Envoy with the router module does.

// Shared with gateway.rs, which uses the parts this file does not.
#[allow(dead_code)]
mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use envoy_test::{wasm_module, Client, Echo, Upstream, UpstreamOptions};
use support::{Gateway, Result};

const BOOKINFO: &str = "bookinfo.example.com";
const SHOP: &str = "shop.example.com";

enum Expected {
    /// Forwarded to this cluster, answered by this upstream, which got this path.
    Upstream(&'static str, &'static str, &'static str),
    /// Answered by the gateway with this status.
    Status(u16),
}

struct Case {
    name: &'static str,
    host: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    expected: Expected,
}

const PRODUCTPAGE: &str = "outbound|9080||productpage.bookinfo.svc.cluster.local";
const REVIEWS_V1: &str = "outbound|9080|v1|reviews.bookinfo.svc.cluster.local";
const REVIEWS_V2: &str = "outbound|9080|v2|reviews.bookinfo.svc.cluster.local";

fn cases() -> Vec<Case> {
    use Expected::{Status, Upstream};
    let case = |name, host, path, headers, expected| Case {
        name,
        host,
        path,
        headers,
        expected,
    };
    vec![
        case(
            "productpage",
            BOOKINFO,
            "/productpage",
            &[],
            Upstream(PRODUCTPAGE, "productpage", "/productpage"),
        ),
        case(
            "static",
            BOOKINFO,
            "/static/a.css",
            &[],
            Upstream(PRODUCTPAGE, "productpage", "/static/a.css"),
        ),
        case(
            "jason",
            BOOKINFO,
            "/reviews/1",
            &[("end-user", "jason")],
            Upstream(REVIEWS_V2, "reviews-v2", "/reviews/1"),
        ),
        case(
            "mary",
            BOOKINFO,
            "/reviews/1",
            &[("end-user", "mary")],
            Upstream(REVIEWS_V1, "reviews-v1", "/reviews/1"),
        ),
        case(
            "rewritten",
            SHOP,
            "/api/v1/items?x=1",
            &[],
            Upstream(PRODUCTPAGE, "productpage", "/items?x=1"),
        ),
        case("redirect", SHOP, "/catalog/7", &[], Status(301)),
        case("direct response", SHOP, "/healthz", &[], Status(200)),
        case("unknown service", SHOP, "/ghost", &[], Status(503)),
        case("no route", BOOKINFO, "/nowhere", &[], Status(404)),
        case(
            "no host",
            "other.example.com",
            "/productpage",
            &[],
            Status(404),
        ),
        case(
            "not a Gateway host",
            "extra.example.com",
            "/productpage",
            &[],
            Status(404),
        ),
    ]
}

fn write_config(dir: &Path, productpage: u16, v1: u16, v2: u16) -> Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(
        dir.join("routing.yaml"),
        format!(
            r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["{BOOKINFO}", "{SHOP}"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: bookinfo, namespace: bookinfo}}
spec:
  # extra.example.com is no host of the Gateway: Envoy's virtual host refuses it.
  hosts: ["{BOOKINFO}", extra.example.com]
  gateways: [istio-system/gw]
  http:
  - name: productpage
    match: [{{uri: {{exact: /productpage}}}}, {{uri: {{prefix: /static/}}}}]
    route: [{{destination: {{host: productpage, port: {{number: 9080}}}}}}]
  - name: reviews-v2-for-jason
    match: [{{uri: {{prefix: /reviews}}, headers: {{end-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: reviews, subset: v2, port: {{number: 9080}}}}}}]
  - name: reviews
    match: [{{uri: {{prefix: /reviews}}}}]
    route: [{{destination: {{host: reviews, subset: v1, port: {{number: 9080}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: bookinfo}}
spec:
  hosts: ["{SHOP}"]
  gateways: [istio-system/gw]
  http:
  - name: catalog
    match: [{{uri: {{prefix: /catalog}}}}]
    redirect: {{uri: /products, redirectCode: 301}}
  - name: api
    match: [{{uri: {{prefix: /api/v1/}}}}]
    rewrite: {{uri: /}}
    route: [{{destination: {{host: productpage, port: {{number: 9080}}}}}}]
  - name: health
    match: [{{uri: {{exact: /healthz}}}}]
    directResponse: {{status: 200, body: {{string: ok}}}}
  - name: ghost
    match: [{{uri: {{prefix: /ghost}}}}]
    route: [{{destination: {{host: ghost.bookinfo.svc.cluster.local, port: {{number: 80}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: productpage, namespace: bookinfo}}
spec:
  hosts: [productpage.bookinfo.svc.cluster.local]
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP, targetPort: {productpage}}}]
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: reviews, namespace: bookinfo}}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {v1}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {v2}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: bookinfo}}
spec:
  host: reviews
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: router, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  url: file://{router}
  priority: -100
"#,
            router = wasm_module("router")?.display()
        ),
    )?;
    Ok(())
}

/// The cases as a `gateway test` file.
fn cases_yaml(cases: &[Case]) -> String {
    let mut out = String::from("cases:\n");
    for case in cases {
        let headers: Vec<String> = case
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let expect = match case.expected {
            Expected::Upstream(cluster, _, path) => {
                format!("{{cluster: \"{cluster}\", path: \"{path}\"}}")
            }
            Expected::Status(status) => format!("{{status: {status}}}"),
        };
        out.push_str(&format!(
            "- name: {}\n  request: {{url: \"http://{}{}\", headers: {{{}}}}}\n  expect: {expect}\n",
            case.name,
            case.host,
            case.path,
            headers.join(", ")
        ));
    }
    out
}

fn run_tool(args: &[&str], dir: &Path) -> Result<(i32, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg(args[0])
        .arg(dir)
        .args(&args[1..])
        .output()?;
    Ok((
        output.status.code().ok_or("killed by a signal")?,
        String::from_utf8(output.stdout)?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_test_and_explain_predict_what_the_running_gateway_does() -> Result<()> {
    let productpage = Upstream::start("productpage", UpstreamOptions::default()).await?;
    let v1 = Upstream::start("reviews-v1", UpstreamOptions::default()).await?;
    let v2 = Upstream::start("reviews-v2", UpstreamOptions::default()).await?;
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path().join("config");
    write_config(
        &dir,
        productpage.addr().port(),
        v1.addr().port(),
        v2.addr().port(),
    )?;
    let cases = cases();
    let cases_file = scratch.path().join("cases.yaml");
    fs::write(&cases_file, cases_yaml(&cases))?;

    // The prediction: every expectation holds for the tool.
    let cases_arg = cases_file.to_str().ok_or("path")?;
    let (code, report) = run_tool(&["test", cases_arg], &dir)?;
    assert_eq!(code, 0, "{report}");
    assert!(
        report.ends_with(&format!("{0}/{0} passed\n", cases.len())),
        "{report}"
    );
    let (_, explained) = run_tool(
        &[
            "explain",
            "GET",
            "http://bookinfo.example.com/reviews/1",
            "-H",
            "end-user: jason",
        ],
        &dir,
    )?;
    assert!(
        explained.contains(&format!("forward: cluster {REVIEWS_V2} ")),
        "{explained}"
    );

    // The running gateway, on the same directory and requests.
    let gateway = Gateway::start(&dir, &scratch.path().join("cache"), scratch.path())?;
    for case in &cases {
        let mut request = Client::http1()
            .get(format!("{}{}", gateway.url, case.path))
            .header("host", case.host);
        for (name, value) in case.headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        match case.expected {
            Expected::Upstream(cluster, upstream, path) => {
                assert_eq!(
                    response.status,
                    200,
                    "{}: {cluster}\n{}",
                    case.name,
                    gateway.stderr()
                );
                let echo: Echo = response.json()?;
                assert_eq!(
                    (echo.upstream.as_str(), echo.path.as_str()),
                    (upstream, path),
                    "{}",
                    case.name
                );
            }
            Expected::Status(status) => {
                assert_eq!(response.status, status, "{}", case.name);
            }
        }
    }
    Ok(())
}
