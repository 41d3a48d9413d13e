//! Defence in depth: with the router module's VM failed and its failure policy FAIL_OPEN (Envoy
//! then skips the filter), a client's own `x-route-cluster` still chooses no cluster, because
//! the early header mutation `Listener::for_router` adds
//! (`envoy_test::gateway_defaults::strip_route_headers`) removes it before Envoy picks a route.
//! A `header_mutation` HTTP filter first in the chain is shown not to be enough: the connection
//! manager has already cached the route the client's header chose.
//!
//! The second test measures what FAIL_RELOAD (the router's failStrategy) does with such a VM.
//!
//! A real failed VM needs a module that traps: a configuration the module refuses is no use,
//! since Envoy refuses the whole listener when a plugin fails to load, whatever its failure
//! policy. The test therefore builds, byte by byte, the smallest proxy-wasm module Envoy runs:
//! it starts and configures fine and executes `unreachable` in `proxy_on_request_headers`.

use engine::router::{CLUSTER_HEADER, ROUTER_CONTROL_HEADERS};
use envoy_test::{
    Bootstrap, Client, Cluster, Echo, Envoy, FailurePolicy, HttpFilter, Listener, RouteConfig,
    Upstream, UpstreamOptions, WasmFilter,
};
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const PRODUCTPAGE: &str = "outbound|9080||productpage.default.svc.cluster.local";

/// A proxy-wasm (ABI 0.2.1) module whose every request traps. Wasm binary format: the magic and
/// version, then the type, function, memory, export and code sections, each a LEB128 size
/// followed by its content.
fn trapping_module() -> Vec<u8> {
    const I32: u8 = 0x7f;
    const FUNC_TYPE: u8 = 0x60;
    const END: u8 = 0x0b;
    const UNREACHABLE: u8 = 0x00;
    const I32_CONST: u8 = 0x41;
    // (params, results) of each signature, indexed by position.
    let types: [(&[u8], &[u8]); 5] = [
        (&[], &[]),                 // 0: proxy_abi_version_0_2_1
        (&[I32], &[I32]),           // 1: memory_allocate, on_done
        (&[I32, I32], &[]),         // 2: on_context_create
        (&[I32, I32], &[I32]),      // 3: on_vm_start, on_configure
        (&[I32, I32, I32], &[I32]), // 4: on_request_headers
    ];
    let i32_const = |value: u8| vec![I32_CONST, value, END];
    // (export name, type index, body without locals)
    let functions: [(&str, u8, Vec<u8>); 7] = [
        ("proxy_abi_version_0_2_1", 0, vec![END]),
        // Hands out one fixed buffer: the host only ever copies the (empty) configuration.
        ("proxy_on_memory_allocate", 1, i32_const(16)),
        ("proxy_on_context_create", 2, vec![END]),
        ("proxy_on_vm_start", 3, i32_const(1)),
        ("proxy_on_configure", 3, i32_const(1)),
        ("proxy_on_request_headers", 4, vec![UNREACHABLE, END]),
        ("proxy_on_done", 1, i32_const(1)),
    ];

    fn leb(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn vector(items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        leb(items.len(), &mut out);
        items.iter().for_each(|item| out.extend(item));
        out
    }
    fn name(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        leb(text.len(), &mut out);
        out.extend(text.as_bytes());
        out
    }
    fn section(id: u8, content: Vec<u8>, module: &mut Vec<u8>) {
        module.push(id);
        leb(content.len(), module);
        module.extend(content);
    }

    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let signatures: Vec<Vec<u8>> = types
        .iter()
        .map(|(params, results)| {
            let mut out = vec![FUNC_TYPE];
            out.extend(vector(&params.iter().map(|p| vec![*p]).collect::<Vec<_>>()));
            out.extend(vector(
                &results.iter().map(|r| vec![*r]).collect::<Vec<_>>(),
            ));
            out
        })
        .collect();
    section(1, vector(&signatures), &mut module);
    let type_indices: Vec<Vec<u8>> = functions.iter().map(|(_, ty, _)| vec![*ty]).collect();
    section(3, vector(&type_indices), &mut module);
    // One memory of one 64 KiB page, no maximum.
    section(5, vector(&[vec![0x00, 0x01]]), &mut module);
    let mut exports: Vec<Vec<u8>> = functions
        .iter()
        .enumerate()
        .map(|(index, (export, _, _))| {
            let mut out = name(export);
            out.extend([0x00, index as u8]);
            out
        })
        .collect();
    let mut memory = name("memory");
    memory.extend([0x02, 0x00]);
    exports.push(memory);
    section(7, vector(&exports), &mut module);
    let bodies: Vec<Vec<u8>> = functions
        .iter()
        .map(|(_, _, code)| {
            let mut body = vec![0x00]; // no locals
            body.extend(code);
            let mut out = Vec::new();
            leb(body.len(), &mut out);
            out.extend(body);
            out
        })
        .collect();
    section(10, vector(&bodies), &mut module);
    module
}

/// A wasm filter named `router`, failing open, that traps on its first request.
fn failed_router(module: &std::path::Path) -> WasmFilter {
    WasmFilter::new("router", module, "").failure_policy(FailurePolicy::FailOpen)
}

/// Envoy's `header_mutation` HTTP filter removing the client's `x-route-cluster`.
fn header_mutation_filter() -> HttpFilter {
    HttpFilter::Raw(json!({
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": { "request_mutations": [{ "remove": CLUSTER_HEADER }] },
        },
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_router_failed_open_a_client_cluster_header_picks_nothing() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let module = scratch.path().join("trap-on-request.wasm");
    std::fs::write(&module, trapping_module())?;
    let upstream = Upstream::start(PRODUCTPAGE, UpstreamOptions::default()).await?;
    let bootstrap = Bootstrap::new()
        // What every rendered gateway has: the early header mutation.
        .listener(Listener::for_router("defended").filter(failed_router(&module)))
        // The control: the same chain without it, to show the header would route otherwise.
        .listener(
            Listener::new("undefended", RouteConfig::for_router()).filter(failed_router(&module)),
        )
        // A native header_mutation filter ahead of the module instead: too late for the route.
        .listener(
            Listener::new("filter-only", RouteConfig::for_router())
                .filter(header_mutation_filter())
                .filter(failed_router(&module)),
        )
        .cluster(Cluster::new(PRODUCTPAGE, [upstream.addr()]));
    // One worker, so one VM serves every request and its failure is certain after the first.
    let options = envoy_test::EnvoyOptions {
        concurrency: 1,
        ..envoy_test::EnvoyOptions::default()
    };
    let envoy = Envoy::start_with(&bootstrap, &options).await?;
    let client = Client::http1();

    // The first request runs the module, which traps: the VM is failed from then on. Even
    // failing open, Envoy answers the request in flight at the crash with 503.
    let first = client
        .get(format!("{}/first", envoy.listener_url("defended")?))
        .send()
        .await?;
    let log = envoy.log();
    assert!(
        log.contains("proxy_on_request_headers") && log.contains("unreachable"),
        "the module must have trapped (request answered {}):\n{log}",
        first.status
    );
    assert_eq!(first.status, 503, "{}", first.text());

    for client in [Client::http1(), Client::http2()] {
        // Undefended, the skipped module lets the client's header choose the cluster, and so
        // does a header_mutation filter, which removes the header after the route was chosen...
        for listener in ["undefended", "filter-only"] {
            let undefended = client
                .get(format!("{}/admin", envoy.listener_url(listener)?))
                .header(CLUSTER_HEADER, PRODUCTPAGE)
                .send()
                .await?;
            assert_eq!(undefended.status, 200, "{listener}: {}", undefended.text());
            assert_eq!(undefended.json::<Echo>()?.upstream, PRODUCTPAGE);
        }

        // ...defended, the header is gone before any route is chosen: Envoy's own 404.
        let mut defended = client
            .get(format!("{}/admin", envoy.listener_url("defended")?))
            .header(CLUSTER_HEADER, PRODUCTPAGE);
        for header in ROUTER_CONTROL_HEADERS {
            defended = defended.header(header, "1");
        }
        let defended = defended.send().await?;
        assert_eq!(defended.status, 404, "{}", defended.text());
    }
    assert_eq!(
        upstream.requests_received(),
        4,
        "only the undefended requests"
    );
    let stats = envoy.stats_prometheus().await?;
    assert!(
        stats.lines().any(|line| line
            .starts_with("envoy_http_no_route{envoy_http_conn_manager_prefix=\"defended\"} 2")),
        "both defended requests found no route:\n{stats}"
    );
    Ok(())
}

/// The value of the Prometheus counter `name` (no labels), 0 when absent.
fn counter(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix("{} ")?.parse().ok())
        .unwrap_or(0)
}

/// What FAIL_RELOAD, the router's failStrategy, does with a VM that crashed: the request in
/// flight gets 503, so do requests within Envoy's reload backoff (1 s base, jittered,
/// exponential), and the next request after it gets a new VM. The module here traps on every
/// request, so every new VM crashes again: what is measured is Envoy's side only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_router_vm_is_reloaded_after_the_backoff_and_answers_503_meanwhile() -> Result<()>
{
    let scratch = tempfile::tempdir()?;
    let module = scratch.path().join("trap-on-request.wasm");
    std::fs::write(&module, trapping_module())?;
    let upstream = Upstream::start(PRODUCTPAGE, UpstreamOptions::default()).await?;
    let router = WasmFilter::new("router", &module, "").failure_policy(FailurePolicy::FailReload);
    let bootstrap = Bootstrap::new()
        .listener(Listener::for_router("gateway").filter(router))
        .cluster(Cluster::new(PRODUCTPAGE, [upstream.addr()]));
    let options = envoy_test::EnvoyOptions {
        concurrency: 1,
        ..envoy_test::EnvoyOptions::default()
    };
    let envoy = Envoy::start_with(&bootstrap, &options).await?;
    let url = format!("{}/x", envoy.listener_url("gateway")?);
    let client = Client::http1();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut statuses = Vec::new();
    let (backoffs, reloads) = loop {
        let response = client
            .get(&url)
            .header(CLUSTER_HEADER, PRODUCTPAGE)
            .send()
            .await?;
        statuses.push(response.status);
        let stats = envoy.stats_prometheus().await?;
        let backoffs = counter(&stats, "envoy_wasm_router_vm_reload_backoff");
        let reloads = counter(&stats, "envoy_wasm_router_vm_reload_success");
        if reloads >= 1 || std::time::Instant::now() > deadline {
            break (backoffs, reloads);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(reloads >= 1, "no reload within 30 s: {statuses:?}");
    assert!(
        backoffs >= 1,
        "requests within the backoff are not reloaded: {statuses:?}"
    );
    assert!(statuses.iter().all(|status| *status == 503), "{statuses:?}");
    assert_eq!(
        upstream.requests_received(),
        0,
        "the client header never routed"
    );
    Ok(())
}
