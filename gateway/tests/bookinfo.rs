//! Bookinfo as Istio ships it: every VirtualService of `samples/bookinfo/networking/` (copies in
//! `tests/bookinfo/networking/`, unchanged), Bookinfo's Kubernetes Services and its gateway,
//! through the gateway binary and a real Envoy, routed as Istio's traffic-management tasks say:
//! request routing by `end-user: jason`, fault injection (delay and abort), traffic shifting
//! (50/50, then 100% v3), request timeouts and mirroring. Destinations name no port: they reach
//! the service's only port, 9080, from the Services' `servicePorts`.
//!
//! The ingress gateway only applies the `bookinfo` VirtualService (bound to bookinfo-gateway);
//! the others have no `gateways`, so Istio applies them in the mesh, where productpage calls
//! reviews: those run under `--gateway mesh`, and requests carry the service's host as a
//! sidecar's outbound requests do. The render step is checked on the same directory: CRD-valid
//! manifests whose router config is the one `make gateway` runs.

// Shared with gateway.rs, which uses the parts this file does not.
#[allow(dead_code)]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use distribution::istio::{crd::Crds, yaml};
use envoy_test::{wasm_module, Client, Echo, Response, Upstream, UpstreamOptions};
use serde_json::Value;
use support::{run_expect_failure, Gateway, Result};

/// How long reviews v2 takes to answer: longer than the timeouts task's 0.5 s.
const REVIEWS_V2_DELAY: Duration = Duration::from_secs(1);

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bookinfo")
        .join(path)
}

/// Bookinfo's pods: one echo upstream per service version.
struct Pods {
    upstreams: Vec<(&'static str, &'static str, Upstream)>,
}

impl Pods {
    async fn start() -> Result<Self> {
        let mut upstreams = Vec::new();
        for (service, version) in [
            ("productpage", "v1"),
            ("reviews", "v1"),
            ("reviews", "v2"),
            ("reviews", "v3"),
            ("ratings", "v1"),
            ("details", "v1"),
            ("details", "v2"),
        ] {
            let options = UpstreamOptions {
                delay: if (service, version) == ("reviews", "v2") {
                    REVIEWS_V2_DELAY
                } else {
                    Duration::ZERO
                },
                ..UpstreamOptions::default()
            };
            let upstream = Upstream::start(format!("{service}-{version}"), options).await?;
            upstreams.push((service, version, upstream));
        }
        Ok(Pods { upstreams })
    }

    fn upstream(&self, name: &str) -> Result<&Upstream> {
        self.upstreams
            .iter()
            .map(|(_, _, upstream)| upstream)
            .find(|upstream| upstream.name() == name)
            .ok_or_else(|| format!("no upstream {name}").into())
    }

    /// The pods' addresses: what Kubernetes' endpoints would be, as ServiceEntries (the local
    /// gateway's registry) for the Services' hosts.
    fn endpoints_yaml(&self) -> String {
        let mut out = String::new();
        for service in ["productpage", "reviews", "ratings", "details"] {
            out.push_str(&format!(
                "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {service}-pods}}\n\
                 spec:\n  hosts: [{service}.default.svc.cluster.local]\n  location: MESH_INTERNAL\n  resolution: STATIC\n\
                 \x20 ports: [{{number: 9080, name: http, protocol: HTTP}}]\n  endpoints:\n"
            ));
            for (_, version, upstream) in self.upstreams.iter().filter(|(s, _, _)| *s == service) {
                out.push_str(&format!(
                    "  - {{address: 127.0.0.1, ports: {{http: {}}}, labels: {{app: {service}, version: {version}}}}}\n",
                    upstream.addr().port()
                ));
            }
        }
        out
    }
}

/// The router from dist/, without a pluginConfig: the VirtualServices are bound to it.
fn router_plugin() -> Result<String> {
    Ok(format!(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: router, namespace: istio-system}}\n\
         spec:\n  selector: {{matchLabels: {{istio: ingressgateway}}}}\n  url: file://{}\n  priority: -100\n",
        wasm_module("router")?.display()
    ))
}

/// A config directory: Bookinfo's gateway, DestinationRules and Services, the pods' endpoints,
/// the router, and `files` (under tests/bookinfo/), each copied unchanged.
fn config_dir(scratch: &Path, name: &str, pods: &Pods, files: &[&str]) -> Result<PathBuf> {
    let dir = scratch.join(name);
    fs::create_dir_all(&dir)?;
    let shipped = [
        "networking/bookinfo-gateway.yaml",
        "networking/destination-rule-all.yaml",
        "services.yaml",
    ];
    for file in shipped.iter().chain(files) {
        let target = dir.join(file.replace('/', "-"));
        fs::copy(data(file), target)?;
    }
    fs::write(dir.join("zz-endpoints.yaml"), pods.endpoints_yaml())?;
    fs::write(dir.join("zz-router.yaml"), router_plugin()?)?;
    Ok(dir)
}

async fn get(gateway: &Gateway, host: &str, path: &str, jason: bool) -> Result<Response> {
    let mut request = Client::http1()
        .get(format!("{}{path}", gateway.url))
        .header("host", host);
    if jason {
        request = request.header("end-user", "jason");
    }
    Ok(request.send().await?)
}

/// The pod that answered a mesh request to `service`.
async fn pod(gateway: &Gateway, service: &str, jason: bool) -> Result<String> {
    let host = format!("{service}.default.svc.cluster.local:9080");
    let response = get(gateway, &host, &format!("/{service}/0"), jason).await?;
    if response.status != 200 {
        return Err(format!(
            "{service}: status {} {}\n{}",
            response.status,
            response.text(),
            tail(&gateway.stderr())
        )
        .into());
    }
    let echo: Echo = response.json()?;
    Ok(echo.upstream)
}

/// The end of a long log, for messages.
fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(3000);
    let start = (start..text.len())
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(0);
    &text[start..]
}

/// Starts the gateway on `files` as the mesh; no config warning may be logged.
async fn mesh(scratch: &Path, name: &str, pods: &Pods, files: &[&str]) -> Result<Gateway> {
    let dir = config_dir(scratch, name, pods, files)?;
    let gateway = Gateway::start_with(
        &dir,
        &scratch.join("cache"),
        scratch,
        &["--gateway", "mesh"],
    )?;
    let stderr = gateway.stderr();
    assert!(!stderr.contains("servicePorts"), "{}", tail(&stderr));
    Ok(gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingress_gateway_routes_bookinfo_and_render_gives_the_same_router_config() -> Result<()>
{
    let scratch = tempfile::tempdir()?;
    let pods = Pods::start().await?;
    let dir = config_dir(
        scratch.path(),
        "ingress",
        &pods,
        &["networking/virtual-service-all-v1.yaml"],
    )?;
    let gateway = Gateway::start(&dir, &scratch.path().join("cache"), scratch.path())?;
    for path in [
        "/productpage",
        "/static/app.css",
        "/login",
        "/api/v1/products/0",
    ] {
        let response = get(&gateway, "bookinfo.example.com", path, false).await?;
        assert_eq!(response.status, 200, "{path}\n{}", tail(&gateway.stderr()));
        let echo: Echo = response.json()?;
        assert_eq!(echo.upstream, "productpage-v1", "{path}");
    }
    // The mesh's VirtualServices do not apply at the ingress gateway, as in Istio.
    let response = get(
        &gateway,
        "reviews.default.svc.cluster.local",
        "/reviews/0",
        false,
    )
    .await?;
    assert_eq!(response.status, 404);

    // `gateway render` on the same directory: the router's config is the one Envoy runs here.
    let dump = Client::http1()
        .get(format!(
            "{}/config_dump?resource=dynamic_listeners",
            gateway.admin_url
        ))
        .send()
        .await?
        .json::<Value>()?;
    let filters = dump
        .pointer(
            "/configs/0/active_state/listener/filter_chains/0/filters/0/typed_config/http_filters",
        )
        .and_then(Value::as_array)
        .ok_or("no http_filters in the config dump")?;
    let router = filters
        .iter()
        .find(|filter| filter["name"] == "extensions.istio.io/wasmplugin/istio-system.router")
        .ok_or("no router filter")?;
    let running: Value = serde_json::from_str(
        router
            .pointer("/typed_config/config/configuration/value")
            .and_then(Value::as_str)
            .ok_or("no router configuration")?,
    )?;
    assert_eq!(
        running["servicePorts"]["reviews.default.svc.cluster.local"],
        serde_json::json!([9080])
    );
    drop(gateway);

    let rendered = gateway::render::render(
        &gateway::render::RenderOptions {
            config_dir: dir.clone(),
            gateway: None,
        },
        &distribution::workspace::root(),
    )
    .map_err(|errors| errors.to_string())?;
    assert_eq!(rendered.gateway, "default/bookinfo-gateway");
    let crds = istio_crds()?;
    let mut kinds = Vec::new();
    for (path, text) in &rendered.files {
        for document in yaml::documents(text)? {
            if let Some(crds) = &crds {
                let errors = crds.validate(&document);
                assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            }
            let kind = document["kind"].as_str().unwrap_or_default().to_string();
            let plugin_config = if kind == "TrafficExtension" {
                &document["spec"]["wasm"]["pluginConfig"]
            } else {
                &document["spec"]["pluginConfig"]
            };
            if kind != "EnvoyFilter" {
                assert_eq!(plugin_config, &running, "{}", path.display());
            }
            kinds.push(kind);
        }
    }
    assert_eq!(kinds, ["WasmPlugin", "TrafficExtension", "EnvoyFilter"]);

    // The rendered WasmPlugin (the module from dist/) routes as `make gateway` did: its own
    // pluginConfig is all it has (a router with a pluginConfig binds no VirtualService of the
    // directory; the mesh's are left out too).
    let (_, wasm_plugin) = rendered
        .files
        .iter()
        .find(|(path, _)| path.starts_with("wasmplugin"))
        .ok_or("no rendered WasmPlugin")?;
    let mut wasm_plugin = yaml::documents(wasm_plugin)?
        .into_iter()
        .next()
        .ok_or("an empty WasmPlugin file")?;
    wasm_plugin["spec"]["url"] =
        Value::from(format!("file://{}", wasm_module("router")?.display()));
    let only_rendered = scratch.path().join("rendered");
    fs::create_dir_all(&only_rendered)?;
    for file in fs::read_dir(&dir)? {
        let file = file?.path();
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.contains("virtual-service") && name != "zz-router.yaml" {
            fs::copy(&file, only_rendered.join(name))?;
        }
    }
    fs::write(
        only_rendered.join("router.yaml"),
        serde_json::to_string(&wasm_plugin)?,
    )?;
    let gateway = Gateway::start(
        &only_rendered,
        &scratch.path().join("cache"),
        scratch.path(),
    )?;
    let response = get(&gateway, "bookinfo.example.com", "/productpage", false).await?;
    assert_eq!(response.status, 200, "{}", tail(&gateway.stderr()));
    assert_eq!(response.json::<Echo>()?.upstream, "productpage-v1");
    let response = get(
        &gateway,
        "reviews.default.svc.cluster.local",
        "/reviews/0",
        false,
    )
    .await?;
    assert_eq!(response.status, 404);
    drop(gateway);
    drop(pods);
    Ok(())
}

/// Istio's CRDs from `shared/istio` above the repository (or `ISTIO_SHARED_DIR`), as the
/// manifest tests find them; `None` (test still runs, without that check) when absent.
fn istio_crds() -> Result<Option<Crds>> {
    let explicit = std::env::var_os("ISTIO_SHARED_DIR").map(PathBuf::from);
    let root = distribution::workspace::root();
    let found = explicit.into_iter().chain(
        root.ancestors()
            .map(|dir| dir.join("shared/istio"))
            .collect::<Vec<_>>(),
    );
    for dir in found {
        let file = dir.join("crd-all.gen.yaml");
        if file.exists() {
            return Ok(Some(Crds::load(&file).map_err(|error| error.to_string())?));
        }
    }
    eprintln!("SKIPPED the CRD check: no shared/istio/crd-all.gen.yaml (set ISTIO_SHARED_DIR)");
    Ok(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_routing_sends_jason_to_v2_and_everyone_else_to_v1() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let pods = Pods::start().await?;
    // Step 1 of the task: everything to v1.
    let gateway = mesh(
        scratch.path(),
        "all-v1",
        &pods,
        &["networking/virtual-service-all-v1.yaml"],
    )
    .await?;
    for service in ["productpage", "reviews", "ratings", "details"] {
        assert_eq!(
            pod(&gateway, service, false).await?,
            format!("{service}-v1")
        );
        assert_eq!(pod(&gateway, service, true).await?, format!("{service}-v1"));
    }
    drop(gateway);
    // Step 2: jason to v2, with the abort fault on ratings for jason and details on v2.
    let gateway = mesh(
        scratch.path(),
        "test-v2",
        &pods,
        &[
            "networking/virtual-service-reviews-test-v2.yaml",
            "networking/virtual-service-ratings-test-abort.yaml",
            "networking/virtual-service-details-v2.yaml",
        ],
    )
    .await?;
    assert_eq!(pod(&gateway, "reviews", true).await?, "reviews-v2");
    assert_eq!(pod(&gateway, "reviews", false).await?, "reviews-v1");
    assert_eq!(pod(&gateway, "details", false).await?, "details-v2");
    // Fault injection, abort: jason's ratings requests get 500, others reach ratings v1.
    let aborted = get(
        &gateway,
        "ratings.default.svc.cluster.local",
        "/ratings/0",
        true,
    )
    .await?;
    assert_eq!(aborted.status, 500);
    assert_eq!(pods.upstream("ratings-v1")?.requests_received(), 2);
    assert_eq!(pod(&gateway, "ratings", false).await?, "ratings-v1");
    drop(gateway);
    drop(pods);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_shifting_splits_50_50_and_a_delay_holds_jason_7_seconds() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let pods = Pods::start().await?;
    let gateway = mesh(
        scratch.path(),
        "50-v3",
        &pods,
        &[
            "networking/virtual-service-reviews-50-v3.yaml",
            "networking/virtual-service-ratings-test-delay.yaml",
            "networking/fault-injection-details-v1.yaml",
        ],
    )
    .await?;
    // Fault injection, delay: jason waits 7 s for ratings (started first, checked last).
    let delayed = {
        let url = gateway.url.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let response = Client::http1()
                .get(format!("{url}/ratings/0"))
                .header("host", "ratings.default.svc.cluster.local")
                .header("end-user", "jason")
                .send()
                .await;
            (response, started.elapsed())
        })
    };
    // 50/50: 200 requests, each version within ±15 points of half (a binomial draw that
    // far off has a probability below 1e-5).
    let mut v1 = 0;
    for _ in 0..200 {
        match pod(&gateway, "reviews", false).await?.as_str() {
            "reviews-v1" => v1 += 1,
            "reviews-v3" => {}
            other => return Err(format!("reviews answered by {other}").into()),
        }
    }
    assert!((70..=130).contains(&v1), "v1 got {v1} of 200");
    // Fault injection on details, as shipped: every request aborted with 555.
    let response = get(
        &gateway,
        "details.default.svc.cluster.local",
        "/details/0",
        false,
    )
    .await?;
    assert_eq!(response.status, 555);
    // Others get ratings at once.
    let started = Instant::now();
    assert_eq!(pod(&gateway, "ratings", false).await?, "ratings-v1");
    assert!(started.elapsed() < Duration::from_secs(2));
    let (response, elapsed) = delayed.await?;
    let response = response?;
    assert_eq!(response.status, 200);
    assert!(elapsed >= Duration::from_secs(7), "{elapsed:?}");
    drop(gateway);

    // The last step of the task: 100% to v3; and the jason v2/v3 variant.
    let gateway = mesh(
        scratch.path(),
        "jason-v2-v3",
        &pods,
        &["networking/virtual-service-reviews-jason-v2-v3.yaml"],
    )
    .await?;
    assert_eq!(pod(&gateway, "reviews", true).await?, "reviews-v2");
    for _ in 0..10 {
        assert_eq!(pod(&gateway, "reviews", false).await?, "reviews-v3");
    }
    drop(gateway);
    let gateway = mesh(
        scratch.path(),
        "v3",
        &pods,
        &["networking/virtual-service-reviews-v3.yaml"],
    )
    .await?;
    for jason in [false, true] {
        for _ in 0..10 {
            assert_eq!(pod(&gateway, "reviews", jason).await?, "reviews-v3");
        }
    }
    drop(gateway);
    drop(pods);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeouts_and_mirroring_as_the_tasks_apply_them() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let pods = Pods::start().await?;
    let gateway = mesh(
        scratch.path(),
        "timeouts",
        &pods,
        &["tasks/request-timeouts.yaml"],
    )
    .await?;
    // reviews v2 takes 1 s; the route's 0.5 s timeout answers 504 first.
    let started = Instant::now();
    let response = get(
        &gateway,
        "reviews.default.svc.cluster.local",
        "/reviews/0",
        false,
    )
    .await?;
    let elapsed = started.elapsed();
    assert_eq!(response.status, 504, "{}", response.text());
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < REVIEWS_V2_DELAY,
        "{elapsed:?}"
    );
    // ratings is delayed 2 s for everyone.
    let started = Instant::now();
    assert_eq!(pod(&gateway, "ratings", false).await?, "ratings-v1");
    assert!(started.elapsed() >= Duration::from_secs(2));
    drop(gateway);

    let gateway = mesh(
        scratch.path(),
        "mirroring",
        &pods,
        &["tasks/mirroring.yaml"],
    )
    .await?;
    let mirror = pods.upstream("reviews-v2")?;
    let before = mirror.requests_received();
    for _ in 0..3 {
        assert_eq!(pod(&gateway, "reviews", false).await?, "reviews-v1");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while mirror.requests_received() < before + 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let copies = mirror.received();
    assert_eq!(copies.len(), before + 3, "every request is mirrored to v2");
    let last = copies.last().ok_or("no mirrored request")?;
    assert_eq!(
        last.authority,
        "reviews.default.svc.cluster.local-shadow:9080"
    );
    drop(gateway);
    drop(pods);
    Ok(())
}

/// Every VirtualService file of `samples/bookinfo/networking/` goes through the gateway tool
/// unchanged: accepted (with Bookinfo's Services, no warning); the egress sample's DNS
/// ServiceEntry resolves its host, with TLS origination on port 443 from its DestinationRule.
#[test]
fn every_shipped_virtual_service_is_accepted_and_a_multi_port_service_needs_a_port() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let files: Vec<PathBuf> = fs::read_dir(data("networking"))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<_>>()?;
    let mut checked = 0;
    for file in &files {
        let name = file
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or("file name")?;
        if !fs::read_to_string(file)?.contains("kind: VirtualService") {
            continue;
        }
        let dir = scratch.path().join(name);
        fs::create_dir_all(&dir)?;
        for shipped in ["networking/bookinfo-gateway.yaml", "services.yaml"] {
            fs::copy(data(shipped), dir.join(shipped.replace('/', "-")))?;
        }
        fs::copy(file, dir.join(name))?;
        fs::write(dir.join("router.yaml"), router_plugin()?)?;
        let options = gateway::plan::Options {
            config_dir: dir.clone(),
            port: 0,
            ports: Default::default(),
            admin_port: 0,
            cache_dir: scratch.path().join("cache"),
            // cert-manager's VirtualService is bound to its own Gateway, served here first.
            gateway: (name != "certmanager-gateway.yaml").then(|| "mesh".into()),
            access_log: None,
        };
        match gateway::plan::plan(&options) {
            Ok(plan) => {
                if name == "egress-rule-google-apis.yaml" {
                    let clusters = plan.bootstrap.clusters.iter();
                    let https = clusters
                        .clone()
                        .find(|c| c.name == "outbound|443||www.googleapis.com")
                        .ok_or("no 443 cluster")?;
                    let dns = https.dns.as_ref().ok_or("not DNS")?;
                    assert_eq!(dns.endpoints, [("www.googleapis.com".to_string(), 443)]);
                    let extra = https.extra.as_ref().ok_or("no policy")?;
                    assert!(extra.get("transport_socket").is_some(), "{extra}");
                    // Port-level settings do not inherit the top level's ROUND_ROBIN.
                    assert_eq!(extra["lb_policy"], "LEAST_REQUEST");
                    let http = clusters
                        .clone()
                        .find(|c| c.name == "outbound|80||www.googleapis.com")
                        .ok_or("no 80 cluster")?;
                    let extra = http.extra.as_ref().ok_or("no policy")?;
                    assert_eq!(extra["lb_policy"], "ROUND_ROBIN");
                    assert!(extra.get("transport_socket").is_none(), "{extra}");
                }
                let unknown: Vec<&String> = plan
                    .notes
                    .iter()
                    .filter(|note| note.contains("servicePorts"))
                    .collect();
                // cert-manager's resolver is not a Bookinfo service: reported, not refused.
                if name == "certmanager-gateway.yaml" {
                    assert_eq!(unknown.len(), 1, "{unknown:?}");
                    assert!(unknown[0].contains("cert-manager-resolver"), "{unknown:?}");
                } else {
                    assert!(unknown.is_empty(), "{name}: {unknown:?}");
                }
            }
            Err(errors) => return Err(format!("{name}: {errors}").into()),
        }
        checked += 1;
    }
    assert_eq!(
        checked, 18,
        "VirtualService files in samples/bookinfo/networking"
    );

    // Render refuses a Gateway the directory does not have, and the mesh.
    for (wanted, expected) in [
        (
            "istio-system/nope",
            "--gateway istio-system/nope: no such Gateway",
        ),
        (
            "mesh",
            "--gateway mesh: render writes manifests for a gateway's pods",
        ),
    ] {
        let options = gateway::render::RenderOptions {
            config_dir: scratch.path().join("virtual-service-reviews-v3.yaml"),
            gateway: Some(wanted.into()),
        };
        let error = match gateway::render::render(&options, &distribution::workspace::root()) {
            Ok(_) => return Err(format!("render accepted --gateway {wanted}").into()),
            Err(errors) => errors.to_string(),
        };
        assert!(error.contains(expected), "{error}");
    }

    // A Service with two ports and a destination naming none: refused, naming the field.
    let dir = scratch.path().join("two-ports");
    fs::create_dir_all(&dir)?;
    fs::copy(
        data("networking/virtual-service-reviews-v3.yaml"),
        dir.join("reviews.yaml"),
    )?;
    fs::copy(
        data("networking/bookinfo-gateway.yaml"),
        dir.join("gateway.yaml"),
    )?;
    fs::write(
        dir.join("service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\n\
         spec:\n  ports: [{port: 9080, name: http}, {port: 9443, name: https}]\n",
    )?;
    let (status, stderr) = run_expect_failure(&dir, &scratch.path().join("cache2"))?;
    assert!(!status.success());
    assert!(
        stderr.contains(
            "reviews.yaml: VirtualService default/reviews: spec.http[0].route[0].destination.port: \
             service reviews.default.svc.cluster.local has ports 9080, 9443; name one"
        ),
        "{stderr}"
    );
    Ok(())
}
