//! `make gateway` end to end: the modules built into dist/ → OCI images (both variants) → pushed
//! to a real registry on loopback → Istio resources in a directory (WasmPlugin pinned to the
//! image digest, VirtualService, ServiceEntry, DestinationRule, Gateway) → the gateway binary
//! pulls the modules and starts a real Envoy → traffic reaches the right echo upstream.

#[allow(dead_code)]
mod support;

use std::fs;
use std::path::{Path, PathBuf};

use distribution::oci::digest::Digest;
use distribution::oci::image::{Image, Variant};
use distribution::oci::manifest::Annotations;
use distribution::registry::client::Client as RegistryClient;
use envoy_test::local_registry::LocalRegistry;
use envoy_test::{wasm_module, Client, Echo, Upstream, UpstreamOptions};
use support::{run_expect_failure, FileServer, Gateway, Result};

const HOST: &str = "bookinfo.example.com";
/// The header the headers module's config sets on every request.
const TAG_HEADER: &str = "x-gateway-tag";

/// The echo upstreams standing for Bookinfo's pods, and the registry resources naming them.
struct Bookinfo {
    productpage: Upstream,
    reviews_v1: Upstream,
    reviews_v2: Upstream,
}

impl Bookinfo {
    async fn start() -> Result<Self> {
        Ok(Bookinfo {
            productpage: Upstream::start("productpage", UpstreamOptions::default()).await?,
            reviews_v1: Upstream::start("reviews-v1", UpstreamOptions::default()).await?,
            reviews_v2: Upstream::start("reviews-v2", UpstreamOptions::default()).await?,
        })
    }

    /// Gateway, VirtualService, ServiceEntries and DestinationRule, in two files.
    fn write_routing(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir)?;
        let port = |upstream: &Upstream| upstream.addr().port();
        fs::write(
            dir.join("bookinfo.yaml"),
            format!(
                r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: bookinfo-gateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["{HOST}"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bookinfo
  namespace: bookinfo
spec:
  hosts: ["{HOST}"]
  gateways: ["istio-system/bookinfo-gateway"]
  http:
  - name: productpage
    match: [{{uri: {{exact: /productpage}}}}]
    route: [{{destination: {{host: productpage, port: {{number: 9080}}}}}}]
  - name: reviews-v2-for-jason
    match: [{{uri: {{prefix: /reviews}}, headers: {{end-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: reviews, subset: v2, port: {{number: 9080}}}}}}]
  - name: reviews
    match: [{{uri: {{prefix: /reviews}}}}]
    route: [{{destination: {{host: reviews, subset: v1, port: {{number: 9080}}}}}}]
"#
            ),
        )?;
        fs::write(
            dir.join("registry.yaml"),
            format!(
                r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: productpage
  namespace: bookinfo
spec:
  hosts: [productpage.bookinfo.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP, targetPort: {pp}}}]
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {v1}}}, labels: {{app: reviews, version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {v2}}}, labels: {{app: reviews, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: bookinfo
spec:
  host: reviews
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"#,
                pp = port(&self.productpage),
                v1 = port(&self.reviews_v1),
                v2 = port(&self.reviews_v2),
            ),
        )?;
        Ok(())
    }
}

/// A WasmPlugin in istio-system selecting the ingress gateway.
fn wasm_plugin(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: {name}\n  namespace: istio-system\n\
         spec:\n  selector:\n    matchLabels:\n      istio: ingressgateway\n{extra}"
    )
}

/// The headers module's plugin: tags every request, before the router (AUTHN phase).
fn headers_plugin(url: &str, sha256: &str, fail_strategy: &str) -> String {
    wasm_plugin(
        "headers",
        &format!(
            "  url: {url}\n  sha256: {sha256}\n  phase: AUTHN\n  failStrategy: {fail_strategy}\n  \
             vmConfig:\n    env:\n    - {{name: GREETING, value: hello}}\n  \
             pluginConfig:\n    rules:\n    - name: tag\n      request:\n        set: {{{TAG_HEADER}: wasm}}\n"
        ),
    )
}

/// The router's plugin: no pluginConfig, so the VirtualServices are bound to it.
fn router_plugin(url: &str, sha256: &str, fail_strategy: &str) -> String {
    wasm_plugin(
        "router",
        &format!(
            "  url: {url}\n  sha256: {sha256}\n  priority: -100\n  failStrategy: {fail_strategy}\n"
        ),
    )
}

async fn get(
    gateway: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<envoy_test::Response> {
    let mut request = Client::http1()
        .get(format!("{}{path}", gateway.url))
        .header("host", HOST);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Ok(request.send().await?)
}

/// The upstream that answered, and the tag header it received.
async fn routed(
    gateway: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(String, Option<String>)> {
    let response = get(gateway, path, headers).await?;
    if response.status != 200 {
        return Err(format!("{path}: status {}\n{}", response.status, gateway.stderr()).into());
    }
    let echo: Echo = response.json()?;
    Ok((
        echo.upstream.clone(),
        echo.header(TAG_HEADER).map(str::to_string),
    ))
}

struct Modules {
    router: Vec<u8>,
    headers: Vec<u8>,
}

fn modules() -> Result<Modules> {
    Ok(Modules {
        router: fs::read(wasm_module("router")?)?,
        headers: fs::read(wasm_module("headers")?)?,
    })
}

/// Pushes `module` as `<repository>:e2e` and returns the `oci://` URL pinned to its digest.
fn push(
    registry: &LocalRegistry,
    repository: &str,
    module: &[u8],
    variant: Variant,
) -> Result<(String, Digest)> {
    let image = Image::build(module, variant, &Annotations::new())?;
    let digest = RegistryClient::with_credentials(&registry.address, None)
        .push(repository, "e2e", &image)?;
    Ok((
        format!("oci://{}/{repository}@{digest}", registry.address),
        digest,
    ))
}

fn write_config(dir: &Path, plugins: &[String]) -> Result<()> {
    fs::write(dir.join("plugins.yaml"), plugins.join("---\n"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_pulled_from_a_registry_route_istio_resources() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let modules = modules()?;
    let registry = LocalRegistry::start(&scratch.path().join("registry"), None)?;
    let (router_url, router_digest) = push(
        &registry,
        "istio-wasm/router",
        &modules.router,
        Variant::Compat,
    )?;
    let bookinfo = Bookinfo::start().await?;
    let headers_server = FileServer::start(modules.headers.clone()).await?;
    let cache = scratch.path().join("cache");

    // The router from the registry (compat image, pinned by digest), the headers module over
    // http with the module's own sha256.
    let config = scratch.path().join("pulled");
    bookinfo.write_routing(&config)?;
    write_config(
        &config,
        &[
            router_plugin(&router_url, router_digest.hex(), "FAIL_CLOSE"),
            headers_plugin(
                &format!("{}/headers.wasm", headers_server.url_base),
                Digest::of(&modules.headers).hex(),
                "FAIL_CLOSE",
            ),
        ],
    )?;
    let gateway = Gateway::start(&config, &cache, scratch.path())?;
    let tag = Some("wasm".to_string());
    assert_eq!(
        routed(&gateway, "/productpage", &[]).await?,
        ("productpage".into(), tag.clone())
    );
    assert_eq!(
        routed(&gateway, "/reviews/1", &[]).await?,
        ("reviews-v1".into(), tag.clone())
    );
    assert_eq!(
        routed(&gateway, "/reviews/1", &[("end-user", "jason")]).await?,
        ("reviews-v2".into(), tag.clone())
    );
    // A host the Gateway does not list has no virtual host: Envoy's 404.
    let other_host = Client::http1()
        .get(format!("{}/productpage", gateway.url))
        .header("host", "other.example.com")
        .send()
        .await?;
    assert_eq!(other_host.status, 404);
    // istio-ingressgateway's defaults: `..` is resolved before routing, and a client's own
    // x-route-cluster is removed before Envoy picks a route, so it chooses nothing.
    assert_eq!(
        routed(&gateway, "/static/../productpage", &[]).await?,
        ("productpage".into(), tag.clone())
    );
    let productpage = "outbound|9080||productpage.bookinfo.svc.cluster.local";
    let chosen_by_client = get(&gateway, "/nothing", &[("x-route-cluster", productpage)]).await?;
    assert_eq!(chosen_by_client.status, 404, "{}", chosen_by_client.text());

    // Envoy runs the chain in Istio's order (AUTHN before unspecified) with the plugins'
    // names, VM environment and failure policy.
    let filters = gateway.http_filters().await?;
    let names: Vec<&str> = filters.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "extensions.istio.io/wasmplugin/istio-system.headers",
            "extensions.istio.io/wasmplugin/istio-system.router",
            "envoy.filters.http.router"
        ]
    );
    let headers_config = &filters[0]["typed_config"]["config"];
    assert_eq!(headers_config["name"], "istio-system.headers");
    assert_eq!(headers_config["failure_policy"], "FAIL_CLOSED");
    assert_eq!(
        headers_config["vm_config"]["environment_variables"]["key_values"]["GREETING"],
        "hello"
    );
    let status = gateway.stop()?;
    assert!(status.success(), "the gateway exits 0 on SIGTERM: {status}");

    // Both modules are now in the cache under istio-agent's layout: served from it with the
    // registry and the http server gone.
    drop(registry);
    drop(headers_server);
    let gateway = Gateway::start(&config, &cache, scratch.path())?;
    assert_eq!(
        routed(&gateway, "/reviews/1", &[]).await?,
        ("reviews-v1".into(), tag)
    );
    let cached = |digest: &str| {
        gateway
            .summary
            .iter()
            .any(|line| line.contains(&format!("(cached, sha256 {digest})")))
    };
    assert!(cached(router_digest.hex()), "{:?}", gateway.summary);
    assert!(
        cached(Digest::of(&modules.headers).hex()),
        "{:?}",
        gateway.summary
    );
    drop(gateway);
    drop(bookinfo);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_digest_fails_closed_or_open_as_fail_strategy_says() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let modules = modules()?;
    let registry = LocalRegistry::start(&scratch.path().join("registry"), None)?;
    let (router_url, _) = push(
        &registry,
        "istio-wasm/router",
        &modules.router,
        Variant::Compat,
    )?;
    let (headers_url, _) = push(
        &registry,
        "istio-wasm/headers",
        &modules.headers,
        Variant::Artifact,
    )?;
    let bookinfo = Bookinfo::start().await?;
    let wrong = "0".repeat(64);
    let cache = scratch.path().join("cache");

    // FAIL_CLOSE: the router's image does not have the digest asked for; a deny-all RBAC filter
    // stands in its place.
    let closed = scratch.path().join("closed");
    bookinfo.write_routing(&closed)?;
    write_config(&closed, &[router_plugin(&router_url, &wrong, "FAIL_CLOSE")])?;
    let gateway = Gateway::start(&closed, &cache, scratch.path())?;
    let response = get(&gateway, "/productpage", &[]).await?;
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(response.text(), "RBAC: access denied");
    let stderr = gateway.stderr();
    assert!(stderr.contains("which does not match"), "{stderr}");
    assert!(
        stderr.contains("WasmPlugin istio-system/router"),
        "{stderr}"
    );
    drop(gateway);

    // FAIL_OPEN: the headers module (artifact image) is skipped, requests pass without it. The
    // router comes from a file:// URL.
    let router_file = scratch.path().join("router.wasm");
    fs::write(&router_file, &modules.router)?;
    let open = scratch.path().join("open");
    bookinfo.write_routing(&open)?;
    write_config(
        &open,
        &[
            router_plugin(
                &format!("file://{}", router_file.display()),
                "",
                "FAIL_CLOSE",
            ),
            headers_plugin(&headers_url, &wrong, "FAIL_OPEN"),
        ],
    )?;
    let gateway = Gateway::start(&open, &cache, scratch.path())?;
    assert_eq!(
        routed(&gateway, "/reviews/1", &[]).await?,
        ("reviews-v1".into(), None)
    );
    drop(gateway);

    // The same headers image with its right digest: the artifact variant is read too.
    let right = scratch.path().join("right");
    bookinfo.write_routing(&right)?;
    let digest = headers_url.rsplit("sha256:").next().ok_or("no digest")?;
    write_config(
        &right,
        &[
            router_plugin(
                &format!("file://{}", router_file.display()),
                "",
                "FAIL_CLOSE",
            ),
            headers_plugin(&headers_url, digest, "FAIL_OPEN"),
        ],
    )?;
    let gateway = Gateway::start(&right, &cache, scratch.path())?;
    assert_eq!(
        routed(&gateway, "/reviews/1", &[]).await?,
        ("reviews-v1".into(), Some("wasm".into()))
    );
    drop(gateway);
    drop(bookinfo);
    Ok(())
}

fn bad_config(scratch: &Path, name: &str, file: &str, text: &str) -> Result<PathBuf> {
    let dir = scratch.join(name);
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("gateway.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\n\
         spec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n",
    )?;
    fs::write(dir.join(file), text)?;
    Ok(dir)
}

#[test]
fn bad_resources_are_refused_naming_file_resource_and_field() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let cache = scratch.path().join("cache");
    let cases = [
        (
            "plugin.yaml",
            wasm_plugin("router", "  url: oci://127.0.0.1:1/router\n  failStrategy: FAIL_SOMETIMES\n"),
            "plugin.yaml: WasmPlugin istio-system/router: spec.failStrategy: unknown fail strategy \"FAIL_SOMETIMES\"",
        ),
        (
            "entries.yaml",
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reviews, namespace: bookinfo}\n\
             spec:\n  hosts: [reviews.bookinfo.svc.cluster.local]\n  ports: [{number: 9080, name: http}]\n\
             \x20 endpoints: [{address: 127.0.0.1}, {address: reviews-v2.local}]\n"
                .to_string(),
            "entries.yaml: ServiceEntry bookinfo/reviews: spec.endpoints[1].address: \"reviews-v2.local\" is not an IP address",
        ),
        (
            "routes.yaml",
            format!(
                "{}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: shop, namespace: prod}}\n\
                 spec:\n  hosts: ['*']\n  http:\n  - match: [{{uri: {{regex: '(unclosed'}}}}]\n    route: [{{destination: {{host: shop}}}}]\n",
                wasm_plugin("router", "  url: file:///nonexistent/router.wasm\n")
            ),
            "routes.yaml: VirtualService prod/shop: spec.http[0].match[0].uri.regex:",
        ),
        (
            "ports.yaml",
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: big}\n\
             spec:\n  hosts: [big.example.com]\n  ports: [{number: 70000, name: http}]\n"
                .to_string(),
            "ports.yaml: ServiceEntry default/big: spec.ports[0].number: 70000 is not a port number",
        ),
        (
            "rules.yaml",
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: bookinfo}\n\
             spec:\n  host: reviews\n  trafficPolicy: {connectionPool: {http: {http1MaxPendingRequests: -1}}}\n"
                .to_string(),
            "rules.yaml: DestinationRule bookinfo/reviews: spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: must be >= 0",
        ),
        // The Gateway's own file, replaced: port names are required and unique (Istio's
        // validation), though they name nothing locally.
        (
            "gateway.yaml",
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\n\
             spec:\n  selector: {istio: ingressgateway}\n  servers:\n\
             \x20 - {port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}\n\
             \x20 - {port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}\n"
                .to_string(),
            "gateway.yaml: Gateway istio-system/gw: spec.servers[1].port.name: port names in servers must be unique: duplicate name http",
        ),
        (
            "gateway.yaml",
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\n\
             spec:\n  selector: {istio: ingressgateway}\n  servers:\n\
             \x20 - {port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}\n\
             \x20 - {port: {number: 8080, name: '', protocol: HTTP}, hosts: ['*']}\n"
                .to_string(),
            "gateway.yaml: Gateway istio-system/gw: spec.servers[1].port.name: port name must be set",
        ),
    ];
    for (index, (file, text, expected)) in cases.iter().enumerate() {
        let dir = bad_config(scratch.path(), &format!("case{index}"), file, text)?;
        let (status, stderr) = run_expect_failure(&dir, &cache)?;
        assert!(
            !status.success(),
            "{file}: the gateway must refuse: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{file}: expected {expected:?} in:\n{stderr}"
        );
        assert!(stderr.contains("Envoy not started"), "{stderr}");
    }
    Ok(())
}
