//! The distribution path end to end: the router built into dist/ → its OCI image → pushed to a
//! real registry on loopback → the WasmPlugin of wasmplugins/, pinned to the pushed digest →
//! the module pulled by that digest (as istio-agent pulls it) → a real Envoy with the
//! EnvoyFilters' cluster_header route in front of Istio-style fallback routes and their early
//! header mutation in the connection manager → traffic routed.

use std::fs;

use distribution::agent::cache::{ModuleCache, ModuleRequest};
use distribution::agent::pull_policy::PullPolicy;
use distribution::istio::{manifests, yaml};
use distribution::oci::image::{Image, Variant};
use distribution::registry::client::Client as RegistryClient;
use distribution::workspace;
use envoy_test::local_registry::LocalRegistry;
use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Echo, Envoy, Listener, RouteConfig, Upstream,
    UpstreamOptions, WasmFilter,
};
use serde_json::{json, Value};

const PRODUCTPAGE: &str = "outbound|9080||productpage.bookinfo.svc.cluster.local";
const REVIEWS_V1: &str = "outbound|9080|v1|reviews.bookinfo.svc.cluster.local";
const REVIEWS_V2: &str = "outbound|9080|v2|reviews.bookinfo.svc.cluster.local";
/// Stands for the routes Istio generates from the VirtualServices bound to the gateway.
const ISTIO_FALLBACK: &str = "outbound|9080||details.bookinfo.svc.cluster.local";

/// A request header a case sends: (name, value).
type Header<'a> = (&'a str, &'a str);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn error(message: impl Into<String>) -> Box<dyn std::error::Error> {
    message.into().into()
}

/// The WasmPlugin `make manifests` renders for a registry, as Kubernetes would receive it.
fn wasm_plugin(registry: &str, image: &Image) -> Result<Value> {
    let template = manifests::load_template(&workspace::root())?;
    let module = template
        .modules
        .iter()
        .find(|module| module.module == "router")
        .ok_or_else(|| error("no router in wasmplugins/modules.yaml"))?;
    let [wasm_plugin, _traffic_extension] =
        manifests::render(&template, module, registry, &image.digest)?;
    let mut documents = yaml::documents(&wasm_plugin.text)?;
    Ok(documents.remove(0))
}

/// The routes the EnvoyFilter inserts first into every gateway virtual host, in the order Istio
/// leaves them (each `INSERT_FIRST` patch goes before the ones applied earlier).
fn envoy_filter_routes() -> Result<Vec<Value>> {
    let path = workspace::root().join("wasmplugins/envoyfilter/router-cluster-header.yaml");
    let text = fs::read_to_string(&path)?;
    let documents = yaml::documents(&text)?;
    let patches = documents[0]
        .pointer("/spec/configPatches")
        .and_then(Value::as_array)
        .ok_or_else(|| error("EnvoyFilter without configPatches"))?;
    let mut routes = Vec::new();
    for patch in patches {
        if patch.pointer("/applyTo") != Some(&json!("HTTP_ROUTE")) {
            continue;
        }
        if patch.pointer("/patch/operation") != Some(&json!("INSERT_FIRST")) {
            return Err(error("a configPatch that is not INSERT_FIRST"));
        }
        let route = patch
            .pointer("/patch/value")
            .cloned()
            .ok_or_else(|| error("a configPatch without patch.value"))?;
        routes.insert(0, route);
    }
    Ok(routes)
}

/// The manifest a cluster gets and the routes every local test and `make gateway` use are one
/// contract.
#[test]
fn the_envoyfilter_inserts_the_routes_the_harness_uses() -> Result<()> {
    assert_eq!(
        Value::Array(envoy_filter_routes()?),
        envoy_runner::router_routes()
    );
    Ok(())
}

/// The router's upstream filters the EnvoyFilter merges in are the harness's: the one that strips
/// the authority contract header, then the codec.
#[test]
fn the_envoyfilter_gives_the_router_the_harness_upstream_filter() -> Result<()> {
    let path = workspace::root().join("wasmplugins/envoyfilter/router-cluster-header.yaml");
    let documents = yaml::documents(&fs::read_to_string(&path)?)?;
    let patches = documents[0]
        .pointer("/spec/configPatches")
        .and_then(Value::as_array)
        .ok_or_else(|| error("EnvoyFilter without configPatches"))?;
    let router = patches
        .iter()
        .find(|patch| patch.pointer("/applyTo") == Some(&json!("HTTP_FILTER")))
        .and_then(|patch| patch.pointer("/patch/value/typed_config/upstream_http_filters"))
        .ok_or_else(|| error("no HTTP_FILTER patch with the router's upstream_http_filters"))?;
    assert_eq!(
        router.get(0),
        Some(&envoy_runner::gateway_defaults::strip_route_authority())
    );
    assert_eq!(
        router.pointer("/1/name"),
        Some(&json!("envoy.filters.http.upstream_codec"))
    );
    Ok(())
}

/// The connection manager fields the strip-route-headers EnvoyFilter merges into the gateway's.
fn envoy_filter_connection_manager_merge() -> Result<Value> {
    let path = workspace::root().join(envoy_test::gateway_defaults::STRIP_ROUTE_HEADERS_MANIFEST);
    let documents = yaml::documents(&fs::read_to_string(&path)?)?;
    let mut fields = documents[0]
        .pointer("/spec/configPatches/0/patch/value/typed_config")
        .cloned()
        .ok_or_else(|| error("EnvoyFilter without configPatches[0].patch.value.typed_config"))?;
    if let Some(fields) = fields.as_object_mut() {
        fields.remove("@type");
    }
    Ok(fields)
}

/// Pulls `url` (`oci://host/repo@sha256:…`) and checks the manifest digest against `sha256`,
/// as istio-agent does (`distribution::agent`), into a fresh cache; returns the module's bytes.
fn pull_as_istio_agent(url: &str, sha256: &str) -> Result<Vec<u8>> {
    let cache_dir = tempfile::tempdir()?;
    let cached = ModuleCache::new(cache_dir.path()).get(ModuleRequest {
        url,
        sha256: Some(sha256),
        pull_policy: PullPolicy::IfNotPresent,
    })?;
    Ok(fs::read(cached.path)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_plugin_pinned_to_a_pushed_image_routes_traffic_in_envoy() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LocalRegistry::start(&dir.path().join("registry"), None)?;
    let built = fs::read(wasm_module("router")?)?;
    let annotations = workspace::image_annotations("router")?;
    let image = Image::build(&built, Variant::Compat, &annotations)?;
    let pushed = RegistryClient::with_credentials(&registry.address, None).push(
        "istio-wasm/router",
        "e2e",
        &image,
    )?;
    assert_eq!(pushed, image.digest);

    let plugin = wasm_plugin(&format!("{}/istio-wasm", registry.address), &image)?;
    let spec = &plugin["spec"];
    let url = spec["url"].as_str().ok_or_else(|| error("no url"))?;
    assert_eq!(
        url,
        format!(
            "oci://{}/istio-wasm/router@{}",
            registry.address, image.digest
        )
    );
    let sha256 = spec["sha256"].as_str().ok_or_else(|| error("no sha256"))?;
    let pulled = pull_as_istio_agent(url, sha256)?;
    assert_eq!(pulled, built, "the module pulled is the module built");

    let wrong = "0".repeat(64);
    let refused = pull_as_istio_agent(url, &wrong)
        .err()
        .map(|e| e.to_string());
    assert!(
        refused.is_some_and(|e| e.contains("does not match")),
        "a wrong sha256 is refused"
    );

    let module_path = dir.path().join("router.wasm");
    fs::write(&module_path, &pulled)?;
    let route_config = RouteConfig(json!({
        "virtual_hosts": [{
            "name": "bookinfo.example.com:80",
            "domains": ["*"],
            "routes": envoy_filter_routes()?
                .into_iter()
                .chain([json!({"match": {"prefix": "/"}, "route": {"cluster": ISTIO_FALLBACK}})])
                .collect::<Vec<_>>(),
        }],
    }));
    let config = serde_json::to_string(&spec["pluginConfig"])?;
    let mut bootstrap = Bootstrap::new().listener(
        Listener::new("gateway", route_config)
            .extra(envoy_filter_connection_manager_merge()?)
            .filter(WasmFilter::new("router", &module_path, config)),
    );
    let mut upstreams = Vec::new();
    for cluster in [PRODUCTPAGE, REVIEWS_V1, REVIEWS_V2, ISTIO_FALLBACK] {
        let upstream = Upstream::start(cluster, UpstreamOptions::default()).await?;
        bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
        upstreams.push(upstream);
    }
    let envoy = Envoy::start(&bootstrap).await?;
    let base = envoy.listener_url("gateway")?;

    let cases: [(&str, Option<Header>, &str); 5] = [
        ("/productpage", None, PRODUCTPAGE),
        ("/api/v1/reviews", None, REVIEWS_V1),
        ("/api/v1/reviews", Some(("end-user", "jason")), REVIEWS_V2),
        // No rule of the module's table: Istio's own routes answer.
        ("/details/0", None, ISTIO_FALLBACK),
        // ... and a client cannot pick a cluster by sending the module's header itself.
        (
            "/details/0",
            Some(("x-route-cluster", PRODUCTPAGE)),
            ISTIO_FALLBACK,
        ),
    ];
    for (path, header, cluster) in cases {
        let mut request = Client::http1().get(format!("{base}{path}"));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        assert_eq!(response.status, 200, "{path} {header:?}\n{}", envoy.log());
        let echo: Echo = response.json()?;
        assert_eq!(echo.upstream, cluster, "{path} {header:?}");
        assert_eq!(
            echo.header("x-route-cluster"),
            None,
            "the routing header never leaves the gateway"
        );
    }
    drop(upstreams);
    Ok(())
}
