//! Hostile input through the full chain (headers → router → fault → metrics) on HTTP/1.1 and
//! HTTP/2, beside Envoy's native routes for the same VirtualService: bytes that are not UTF-8
//! in header values, `:path` and trailers, an upstream's non-UTF-8 response header, oversized
//! and odd requests. After each, ordinary requests are still served, and nothing in Envoy's
//! log says a module panicked. A module that is made to panic on purpose (the test-only switch
//! `GATEWAY_TEST_PANIC_HEADER`, see `filters/host/src/crash_switch.rs`) is contained: with
//! `FAIL_RELOAD` the next requests are served again by a reloaded, reconfigured VM, and the
//! fault module's active-fault slots come back.

// Test helpers, like the tests themselves, stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use engine::virtual_service::RouterConfig;
use envoy_test::istio_routes;
use envoy_test::{
    raw_http1, raw_http2, wasm_module, Bootstrap, Client, Cluster, Echo, Envoy, EnvoyOptions,
    FailurePolicy, HarnessError, HttpFilter, Listener, RawHttp2Request, RawOutcome, Result,
    RouteConfig, Upstream, UpstreamOptions, WasmFilter,
};

const WEB: &str = "outbound|80||web.default.svc.cluster.local";
const PREFIXED: &str = "outbound|80||prefixed.default.svc.cluster.local";
const REGEXED: &str = "outbound|80||regexed.default.svc.cluster.local";
const BAD: &str = "outbound|80||bad.default.svc.cluster.local";
const SHADOW: &str = "outbound|80||shadow.default.svc.cluster.local";

/// The mirror copies at most this much body in these tests.
const MIRROR_LIMIT: usize = 64 * 1024;

/// The router's config; `native_subset` leaves out the route `headers`, which the native
/// reference (`istio_routes`) does not translate: routing is what the two are compared on.
fn router_config(native_subset: bool) -> String {
    let copy = if native_subset {
        ""
    } else {
        r#", "headers": {"request": {"set": {"x-copied": "%REQ(x-name)%"}}}"#
    };
    format!(
        r#"{{"mirrorMaxBodyBytes": {MIRROR_LIMIT}, "virtualServices": [{{"name": "edge", "namespace": "default", "spec": {{
  "hosts": ["*"],
  "http": [
    {{"name": "bad-upstream", "match": [{{"uri": {{"prefix": "/bad-upstream"}}}}],
     "route": [{{"destination": {{"host": "bad"}}}}]}},
    {{"name": "mirrored", "match": [{{"uri": {{"prefix": "/mirror"}}}}],
     "route": [{{"destination": {{"host": "web"}}}}], "mirror": {{"host": "shadow"}}}},
    {{"name": "probe-dot", "match": [{{"headers": {{"x-probe": {{"regex": "Zo."}}}}}}],
     "route": [{{"destination": {{"host": "regexed"}}}}]}},
    {{"name": "probe-class", "match": [{{"headers": {{"x-class": {{"regex": "[a-z]+"}}}}}}],
     "route": [{{"destination": {{"host": "regexed"}}}}]}},
    {{"name": "regexed", "match": [{{"headers": {{"x-name": {{"regex": "Jos."}}}}}}],
     "route": [{{"destination": {{"host": "regexed"}}}}]{copy}}},
    {{"name": "prefixed", "match": [{{"headers": {{"x-name": {{"prefix": "Jos"}}}}}}],
     "route": [{{"destination": {{"host": "prefixed"}}}}]}},
    {{"name": "web", "route": [{{"destination": {{"host": "web"}}}}]}}
  ]}}}}]}}"#
    )
}

/// Every rule reads what a client sends: prefix removal, templates, response rules.
const HEADERS_CONFIG: &str = r#"{"rules": [
  {"request": {"remove": ["x-internal-*"], "set": {"x-seen-agent": "%REQ(user-agent)%"}}},
  {"response": {"set": {"x-served-by": "gateway", "x-up-copy": "%RESP(x-up)%"}}}
]}"#;

/// A rule that matches on a header, as the issue's reproduction did.
const FAULT_CONFIG: &str = r#"{"maxActiveFaults": 1, "rules": [
  {"match": [{"headers": {"x-delay-me": {"prefix": "y"}}}],
   "delay": {"fixedDelay": "1500ms", "percentage": {"value": 100}}},
  {"match": [{"headers": {"x-name": {"regex": "never.*"}}}],
   "abort": {"httpStatus": 500, "percentage": {"value": 100}}}
]}"#;

const METRICS_CONFIG: &str =
    r#"{"dimensions": [{"name": "agent", "requestHeader": "user-agent"}]}"#;

/// The test-only panic switch's header is per module: `x-test-panic-router`, ...
fn panic_header(module: &str) -> String {
    format!("x-test-panic-{module}")
}

/// Envoy with the module chain on `gateway` and Istio's native routes on `native`.
struct Chain {
    envoy: Envoy,
    upstreams: Vec<Upstream>,
}

impl Chain {
    async fn start(policy: FailurePolicy) -> Result<Self> {
        Self::start_with(policy, &Self::options(2)).await
    }

    /// Four modules on every thread take a while on a busy machine.
    fn options(concurrency: u32) -> EnvoyOptions {
        EnvoyOptions {
            concurrency,
            ready_timeout: Duration::from_secs(120),
            ..EnvoyOptions::default()
        }
    }

    async fn start_with(policy: FailurePolicy, options: &EnvoyOptions) -> Result<Self> {
        let mut bootstrap = Bootstrap::new();
        let mut upstreams = Vec::new();
        for cluster in [WEB, PREFIXED, REGEXED, BAD, SHADOW] {
            let options = if cluster == BAD {
                UpstreamOptions {
                    raw_response_headers: vec![("x-up".into(), b"caf\xe9".to_vec())],
                    ..UpstreamOptions::default()
                }
            } else {
                UpstreamOptions::default()
            };
            let upstream = Upstream::start(cluster, options).await?;
            bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
            upstreams.push(upstream);
        }
        let config = router_config(false);
        let module = |name: &str, config: &str| -> Result<WasmFilter> {
            Ok(WasmFilter::new(name, wasm_module(name)?, config)
                .failure_policy(policy)
                .env("GATEWAY_TEST_PANIC_HEADER", panic_header(name)))
        };
        let gateway = Listener::for_router("gateway")
            .filter(module("headers", HEADERS_CONFIG)?)
            .filter(module("router", &config)?)
            .filter(module("fault", FAULT_CONFIG)?)
            .filter(module("metrics", METRICS_CONFIG)?);
        let invalid = |detail: String| HarnessError::Http {
            context: "the hostile suite's router config".into(),
            detail,
        };
        let parsed = RouterConfig::from_json(router_config(true).as_bytes())
            .map_err(|error| invalid(error.to_string()))?;
        let routes = istio_routes::route_configuration(&parsed, 0).map_err(invalid)?;
        let mut native = Listener::new("native", RouteConfig(routes));
        for filter in istio_routes::http_filters() {
            native = native.filter(HttpFilter::Raw(filter));
        }
        bootstrap = bootstrap.listener(gateway).listener(native);
        Ok(Self {
            envoy: Envoy::start_with(&bootstrap, options).await?,
            upstreams,
        })
    }

    fn addr(&self, listener: &str) -> Result<String> {
        Ok(format!("127.0.0.1:{}", self.envoy.listener_port(listener)?))
    }

    fn url(&self, listener: &str, path: &str) -> Result<String> {
        Ok(format!("{}{path}", self.envoy.listener_url(listener)?))
    }

    fn upstream(&self, name: &str) -> &Upstream {
        self.upstreams
            .iter()
            .find(|upstream| upstream.name() == name)
            .expect("a configured upstream")
    }

    /// Ordinary requests on both protocols are served by the chain.
    async fn still_serves(&self, after: &str) -> Result<()> {
        for client in [Client::http1(), Client::http2()] {
            let response = client.get(self.url("gateway", "/ordinary")?).send().await?;
            assert_eq!(response.status, 200, "an ordinary request after {after}");
            assert_eq!(response.json::<Echo>()?.upstream, WEB, "after {after}");
        }
        Ok(())
    }

    fn assert_no_panic(&self) {
        let log = self.envoy.log();
        assert!(!log.contains("panicked"), "a module panicked:\n{log}");
    }

    async fn stat(&self, name: &str) -> Result<u64> {
        let (_, stats) = self
            .envoy
            .admin_get(&format!("/stats?filter=^{name}$"))
            .await?;
        Ok(stats
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0))
    }
}

/// One Envoy for every fail-closed case: each starts four modules' VMs, which takes seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_through_the_full_chain() -> Result<()> {
    let chain = Chain::start(FailurePolicy::FailClosed).await?;
    non_utf8_header_values_are_routed_as_native_envoy_routes_them(&chain).await?;
    raw_bytes_in_paths_trailers_and_upstream_headers_are_contained(&chain).await?;
    a_mirrored_body_is_capped(&chain).await?;
    odd_and_oversized_requests_leave_the_gateway_serving(&chain).await?;
    Ok(())
}

fn http1_get(addr: &str, path: &[u8], headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nhost: gateway.test\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    let _ = addr;
    request.extend_from_slice(b"\r\n");
    request
}

/// The chosen upstream and what it received, from an echo body in a raw HTTP/1 response.
fn echo_of(response: &[u8]) -> Option<Echo> {
    let start = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")?
        + 4;
    serde_json::from_slice(response.get(start..)?).ok()
}

/// Header values that are not UTF-8, as real clients send them. The regex probes (`x-probe`,
/// `x-class`, `x-name`) hold for Envoy 1.39 and 1.40; 1.36 and 1.37 match no regex on such a
/// value (README, "Envoy versions"), so this parity check is for the pinned version.
const HOSTILE_VALUES: [(&str, &[u8]); 8] = [
    ("x-name", b"Jos\xe9\xe9x"),
    ("x-probe", b"Zo\xe9"),
    ("x-class", b"ab\xe9"),
    ("x-name", b"Jos\xe9"),
    ("cookie", b"session=caf\xe9; theme=\xff"),
    ("user-agent", b"Mozilla/5.0 (\xc0\xaf)"),
    ("content-type", b"text/plain; charset=\xe9"),
    ("x-internal-secret", b"\xfe\xff"),
];

async fn non_utf8_header_values_are_routed_as_native_envoy_routes_them(
    chain: &Chain,
) -> Result<()> {
    let (gateway, native) = (chain.addr("gateway")?, chain.addr("native")?);
    for (name, value) in HOSTILE_VALUES {
        let request = http1_get(&gateway, b"/hello", &[(name, value)]);
        let (module, module_bytes) = raw_http1(&gateway, &request).await?;
        let (reference, native_bytes) = raw_http1(&native, &request).await?;
        assert_eq!(module, RawOutcome::Status(200), "{name} over HTTP/1.1");
        assert_eq!(
            module, reference,
            "{name}: the module and native Envoy agree"
        );
        let (module_echo, native_echo) = (echo_of(&module_bytes), echo_of(&native_bytes));
        assert_eq!(
            module_echo.as_ref().map(|echo| echo.upstream.clone()),
            native_echo.as_ref().map(|echo| echo.upstream.clone()),
            "{name}: the same cluster as native Envoy"
        );
        let h2 = RawHttp2Request::get("gateway.test", b"/hello").header(name.as_bytes(), value);
        assert_eq!(
            raw_http2(&gateway, &h2).await?,
            RawOutcome::Status(200),
            "{name} over h2"
        );
        chain.still_serves(name).await?;
    }
    // Byte semantics, as native Envoy showed above: the regex `Jos.` takes `Jos\xe9` (RE2 reads
    // the stray byte as one character), the prefix `Jos` takes `Jos\xe9\xe9x`, and the copy of
    // a value is byte-exact.
    let request = http1_get(&gateway, b"/hello", &[("x-name", b"Jos\xe9\xe9x")]);
    let echo = echo_of(&raw_http1(&gateway, &request).await?.1).expect("an echo");
    assert_eq!(echo.upstream, PREFIXED);
    let request = http1_get(&gateway, b"/hello", &[("x-name", b"Jos\xe9")]);
    let echo = echo_of(&raw_http1(&gateway, &request).await?.1).expect("an echo");
    assert_eq!(echo.upstream, REGEXED);
    assert!(
        echo.raw_headers
            .contains(&("x-copied".to_owned(), b"Jos\xe9".to_vec())),
        "%REQ(x-name)% copied byte for byte: {:?}",
        echo.raw_headers
    );
    assert!(
        echo.raw_headers.contains(&(
            "x-seen-agent".to_owned(),
            b"Mozilla/5.0 (\xc0\xaf)".to_vec()
        )) || echo.headers.iter().all(|(name, _)| name != "x-seen-agent"),
        "a copied user-agent is byte-exact or absent"
    );
    // The headers module's prefix removal saw a non-UTF-8 value and removed it.
    let request = http1_get(&gateway, b"/hello", &[("x-internal-secret", b"\xfe\xff")]);
    let echo = echo_of(&raw_http1(&gateway, &request).await?.1).expect("an echo");
    assert!(echo
        .headers
        .iter()
        .all(|(name, _)| name != "x-internal-secret"));
    chain.assert_no_panic();
    Ok(())
}

async fn raw_bytes_in_paths_trailers_and_upstream_headers_are_contained(
    chain: &Chain,
) -> Result<()> {
    let (gateway, native) = (chain.addr("gateway")?, chain.addr("native")?);

    // An HTTP/2 `:path` with raw high bytes (Envoy's h2 codec takes it).
    for path in [&b"/caf\xe9"[..], b"/caf\xc3\xa9", b"/mirror/\xff?q=\xfe"] {
        let request = RawHttp2Request::get("gateway.test", path);
        let module = raw_http2(&gateway, &request).await?;
        let reference = raw_http2(&native, &request).await?;
        println!("h2 :path {path:?}: modules {module:?}, native {reference:?}");
        assert_eq!(module, reference, "h2 :path {path:?}: as native Envoy");
        chain.still_serves("a raw :path").await?;
    }

    // An upstream's non-UTF-8 response header passes every module's response side byte-exact.
    let (outcome, bytes) = raw_http1(&gateway, &http1_get(&gateway, b"/bad-upstream", &[])).await?;
    assert_eq!(outcome, RawOutcome::Status(200));
    assert!(
        bytes.windows(11).any(|w| w == b"x-up: caf\xe9\r"),
        "x-up kept byte-exact"
    );
    assert!(
        bytes.windows(16).any(|w| w == b"x-up-copy: caf\xe9\r"),
        "%RESP(x-up)% copied byte-exact"
    );
    for _ in 0..20 {
        let response = Client::http1()
            .get(chain.url("gateway", "/bad-upstream")?)
            .send()
            .await?;
        assert_eq!(response.status, 200, "every bad-upstream reply is served");
    }

    // An HTTP/2 request trailer that is not UTF-8, on a mirrored route: the request is served,
    // the mirror is skipped (the host's HTTP call cannot carry those bytes exactly) and counted.
    let skipped = chain
        .stat("wasmcustom.router.mirror.skipped_unencodable")
        .await?;
    let request = RawHttp2Request::get("gateway.test", b"/mirror/trailer")
        .body(b"payload")
        .trailer(b"x-checksum", b"\xff\xfe");
    let mut request = request;
    request.headers[0] = (b":method".to_vec(), b"POST".to_vec());
    assert_eq!(
        raw_http2(&gateway, &request).await?,
        RawOutcome::Status(200)
    );
    let (_, mirror_stats) = chain.envoy.admin_get("/stats?filter=mirror").await?;
    assert_eq!(
        chain
            .stat("wasmcustom.router.mirror.skipped_unencodable")
            .await?,
        skipped + 1,
        "{mirror_stats}"
    );
    chain.still_serves("a non-UTF-8 trailer").await?;
    chain.assert_no_panic();
    Ok(())
}

async fn a_mirrored_body_is_capped(chain: &Chain) -> Result<()> {
    let client = Client::http1();
    let sent = chain.stat("wasmcustom.router.mirror.sent").await?;
    let too_large = chain
        .stat("wasmcustom.router.mirror.skipped_body_too_large")
        .await?;
    let small = client
        .post(chain.url("gateway", "/mirror/small")?)
        .body(vec![b'a'; 1024])
        .send()
        .await?;
    assert_eq!(small.status, 200);
    let large = client
        .post(chain.url("gateway", "/mirror/large")?)
        .body(vec![b'b'; 4 * MIRROR_LIMIT])
        .send()
        .await?;
    assert_eq!(large.status, 200, "the request itself is served");
    let deadline = Instant::now() + Duration::from_secs(5);
    while chain.upstream(SHADOW).requests_received() < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shadowed: Vec<String> = chain
        .upstream(SHADOW)
        .received()
        .into_iter()
        .map(|echo| echo.path)
        .filter(|path| path.starts_with("/mirror/small") || path.starts_with("/mirror/large"))
        .collect();
    assert_eq!(
        shadowed,
        ["/mirror/small"],
        "only the small body was mirrored"
    );
    assert_eq!(chain.stat("wasmcustom.router.mirror.sent").await?, sent + 1);
    assert_eq!(
        chain
            .stat("wasmcustom.router.mirror.skipped_body_too_large")
            .await?,
        too_large + 1
    );
    chain.assert_no_panic();
    Ok(())
}

/// Odd and oversized requests: whatever Envoy answers, the modules answer the same as native
/// routes, and the gateway goes on serving.
async fn odd_and_oversized_requests_leave_the_gateway_serving(chain: &Chain) -> Result<()> {
    let (gateway, native) = (chain.addr("gateway")?, chain.addr("native")?);
    let long_path = format!("/{}", "a".repeat(70 * 1024));
    let many_params = format!(
        "/q?{}",
        (0..1000)
            .map(|i| format!("p{i}=v{i}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let many_headers: String = (0..150).map(|i| format!("x-h{i}: {i}\r\n")).collect();
    let long_value = format!("x-long: {}\r\n", "v".repeat(50 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "oversized path",
            format!("GET {long_path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "1000 query parameters",
            format!("GET {many_params} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "150 headers",
            format!("GET / HTTP/1.1\r\nhost: a\r\n{many_headers}connection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "a 50 KiB value",
            format!("GET / HTTP/1.1\r\nhost: a\r\n{long_value}connection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "absolute-form URI",
            b"GET http://other.example/abs?x=1 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"
                .to_vec(),
        ),
        (
            "IPv6 authority",
            b"GET / HTTP/1.1\r\nhost: [::1]:8080\r\nconnection: close\r\n\r\n".to_vec(),
        ),
        ("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        (
            "CONNECT",
            b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n".to_vec(),
        ),
        (
            "OPTIONS *",
            b"OPTIONS * HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n".to_vec(),
        ),
        (
            "dot segments and escaped slashes",
            b"GET /a/../b/%2F%2e%2e/c HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n".to_vec(),
        ),
        (
            "raw high byte in an HTTP/1 path",
            b"GET /caf\xe9 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n".to_vec(),
        ),
    ];
    let mut table = Vec::new();
    for (name, request) in &cases {
        let (module, _) = raw_http1(&gateway, request).await?;
        let (reference, _) = raw_http1(&native, request).await?;
        table.push(format!("{name}: modules {module:?}, native {reference:?}"));
        assert_eq!(
            module, reference,
            "{name}: the modules answer as native Envoy"
        );
        chain.still_serves(name).await?;
    }
    println!("{}", table.join("\n"));
    chain.assert_no_panic();
    Ok(())
}

/// A module made to panic is contained: `FAIL_RELOAD` brings a reconfigured VM back, its stats
/// show the panic and the new VM, and the fault module's slots are not stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_module_is_reloaded_and_serves_again() -> Result<()> {
    // One worker: the delayed request and the panic meet the same fault VM.
    let chain = Chain::start_with(FailurePolicy::FailReload, &Chain::options(1)).await?;
    let client = Client::http1();
    let url = chain.url("gateway", "/ordinary")?;
    let starts_before = chain.stat("wasmcustom.router.vm_starts").await?;
    let loaded_before = chain.stat("wasmcustom.router.config_loaded").await?;

    // A delayed request holds the one active-fault slot while the fault VM is made to panic.
    let delayed = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(url).header("x-delay-me", "yes").send().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The fault VM dies holding the one slot, with the delayed request paused in it.
    let panicked = client
        .get(&url)
        .header(panic_header("fault"), "1")
        .send()
        .await?;
    assert_eq!(
        panicked.status, 503,
        "the request that panicked the fault VM fails"
    );
    assert!(chain.stat("wasmcustom.fault.panics").await? >= 1);
    let panicked = client
        .get(&url)
        .header(panic_header("router"), "1")
        .send()
        .await?;
    assert_eq!(
        panicked.status, 503,
        "the request that panicked the VM fails"
    );
    // Envoy reloads a failed VM after a backoff (1 s by default): requests in between fail,
    // then every request is served again. One request every 50 ms for 3 s.
    let panicked_at = Instant::now();
    let mut outcomes = Vec::new();
    for _ in 0..60 {
        let status = client.get(&url).send().await?.status;
        outcomes.push((panicked_at.elapsed(), status));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = outcomes.iter().filter(|(_, status)| *status != 200).count();
    let recovered_at = outcomes
        .iter()
        .rev()
        .take_while(|(_, status)| *status == 200)
        .last()
        .map(|(at, _)| *at);
    println!(
        "after the panic: {failed} of {} requests failed; served again from {recovered_at:?}",
        outcomes.len()
    );
    assert!(
        recovered_at.is_some_and(|at| at < Duration::from_millis(2_000)),
        "service restored within 2 s: {outcomes:?}"
    );

    assert!(chain.stat("wasmcustom.router.panics").await? >= 1);
    assert!(chain.stat("wasmcustom.router.vm_starts").await? > starts_before);
    assert!(chain.stat("wasmcustom.router.config_loaded").await? > loaded_before);
    assert!(chain
        .envoy
        .log()
        .contains("router: panicked in on_http_request_headers"));

    let delayed_outcome = tokio::time::timeout(Duration::from_secs(3), delayed).await;
    println!("the in-flight delayed request: {delayed_outcome:?}");

    // After the dead VM's slot went stale, a delay is injected again (not an overflow).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let start = Instant::now();
    let response = client.get(&url).header("x-delay-me", "yes").send().await?;
    assert_eq!(response.status, 200);
    assert!(
        start.elapsed() >= Duration::from_millis(1400),
        "delayed again after the reload: {:?}",
        start.elapsed()
    );
    chain.still_serves("a reload").await?;
    Ok(())
}
