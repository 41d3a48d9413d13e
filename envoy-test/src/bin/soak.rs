//! `make soak`: a long run through Envoy with all four modules, HTTP/1.1 and HTTP/2 mixed,
//! the listener swapped through LDS under load, memory sampled along the way.
//!
//! It fails (exit 1) on
//! - any response other than the one the request kind expects, in particular any 5xx that is
//!   not the configured fault abort, and any request that gets no response;
//! - unbounded growth: Envoy's RSS averaged over the last quarter of the samples more than
//!   [`GROWTH_LIMIT`] above its average over the second quarter (the first quarter is warm-up),
//!   or a module's VM linear memory at the last LDS swap more than [`GROWTH_LIMIT`] above what
//!   it was at the first (every swap configures the VMs again, and they log their memory then).
//!
//! The table goes to stdout and to `target/soak.md` (or `--output`).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoy_test::{
    wasm_module, workspace_root, Bootstrap, Client, Cluster, Envoy, EnvoyOptions, Listener,
    ListenerUpdate, Upstream, UpstreamOptions, WasmFilter,
};

/// How much a memory figure may grow from the middle to the end of the run.
const GROWTH_LIMIT: f64 = 0.10;

const PRODUCTPAGE: &str = "outbound|9080||productpage.default.svc.cluster.local";
const REVIEWS_V1: &str = "outbound|9080|v1|reviews.default.svc.cluster.local";
const REVIEWS_V2: &str = "outbound|9080|v2|reviews.default.svc.cluster.local";
const RATINGS: &str = "outbound|9080||ratings.default.svc.cluster.local";

/// The router config the run starts with; the swaps alternate it with [`ROUTER_SWAPPED`],
/// which routes every request of the mix the same way.
const ROUTER: &str = r#"{"hosts": ["*"], "http": [
  {"name": "productpage", "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static/"}}],
   "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}],
   "corsPolicy": {"allowOrigins": [{"exact": "https://shop.example.com"}], "allowMethods": ["GET", "POST"]}},
  {"name": "reviews-v2-for-jason",
   "match": [{"uri": {"regex": "/api/v[0-9]+/reviews(/.*)?"}, "headers": {"end-user": {"exact": "jason"}}}],
   "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]},
  {"name": "reviews", "match": [{"uri": {"regex": "/api/v[0-9]+/reviews(/.*)?"}}],
   "route": [{"destination": {"host": "reviews", "subset": "v1", "port": {"number": 9080}}, "weight": 80},
             {"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}, "weight": 20}]},
  {"name": "ratings", "match": [{"uri": {"prefix": "/ratings"}}],
   "rewrite": {"uri": "/r"}, "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
  {"name": "abort", "match": [{"uri": {"prefix": "/abort"}}],
   "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
  {"name": "old", "match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/productpage"}}
]}"#;

/// [`ROUTER`] with one more route no request of the mix takes, and a timeout.
const ROUTER_SWAPPED: &str = r#"{"hosts": ["*"], "http": [
  {"name": "unused", "match": [{"uri": {"prefix": "/unused"}}],
   "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
  {"name": "productpage", "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static/"}}],
   "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}], "timeout": "10s",
   "corsPolicy": {"allowOrigins": [{"exact": "https://shop.example.com"}], "allowMethods": ["GET", "POST"]}},
  {"name": "reviews-v2-for-jason",
   "match": [{"uri": {"regex": "/api/v[0-9]+/reviews(/.*)?"}, "headers": {"end-user": {"exact": "jason"}}}],
   "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]},
  {"name": "reviews", "match": [{"uri": {"regex": "/api/v[0-9]+/reviews(/.*)?"}}],
   "route": [{"destination": {"host": "reviews", "subset": "v1", "port": {"number": 9080}}, "weight": 50},
             {"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}, "weight": 50}]},
  {"name": "ratings", "match": [{"uri": {"prefix": "/ratings"}}],
   "rewrite": {"uri": "/r"}, "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
  {"name": "abort", "match": [{"uri": {"prefix": "/abort"}}],
   "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
  {"name": "old", "match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/productpage"}}
]}"#;

const HEADERS: &str = r#"{"rules": [
  {"response": {"set": {"x-content-type-options": "nosniff"}, "remove": ["x-powered-by"]}},
  {"request": {"set": {"x-client-ip": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "x-copy": "%REQ(x-tenant):16%"},
               "remove": ["x-internal-*"]},
   "response": {"set": {"x-request-id": "%REQUEST_ID%"}}},
  {"match": [{"queryParams": {"beta": {}}}], "request": {"set": {"end-user": "jason"}, "queryParams": {"remove": ["beta"], "set": {"via": "gw"}}}},
  {"responseStatus": ["5xx", 404], "response": {"set": {"cache-control": "no-store"}}}
]}"#;

/// The one configured 5xx: every request under `/abort` is aborted with 503. (The fault module
/// runs after the router, so it sees the rewritten path: hence a route without a rewrite.)
const FAULT: &str = r#"{"maxActiveFaults": 100, "rules": [
  {"match": [{"uri": {"prefix": "/abort"}}], "abort": {"httpStatus": 503, "percentage": {"value": 100}}},
  {"delay": {"headerDelay": {}, "percentage": {"value": 100}}, "abort": {"headerAbort": {}, "percentage": {"value": 100}}}
]}"#;

/// A bounded label dimension fed with more distinct values than it keeps.
const METRICS: &str =
    r#"{"maxLabelSets": 64, "dimensions": [{"name": "tenant", "requestHeader": "x-tenant"}]}"#;
const METRICS_DIMENSIONS: [&str; 1] = ["tenant"];

const MODULES: [&str; 4] = ["headers", "router", "fault", "metrics"];

/// How many distinct `x-tenant` values the mix sends (more than `maxLabelSets`).
const TENANTS: u64 = 500;

#[derive(Debug, Clone)]
struct Options {
    requests: u64,
    concurrency: u64,
    swaps: u64,
    samples: u64,
    output: std::path::PathBuf,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("soak: {error}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One request of the mix and the status it must get.
struct RequestKind {
    method: &'static str,
    path: &'static str,
    jason: bool,
    status: u16,
}

const MIX: [RequestKind; 8] = [
    kind("GET", "/productpage", false, 200),
    kind("GET", "/api/v1/reviews/7", true, 200),
    kind("GET", "/api/v2/reviews", false, 200),
    kind("GET", "/static/app.js?beta&page=2", false, 200),
    kind("GET", "/abort/1", false, 503),
    kind("GET", "/nowhere", false, 404),
    kind("GET", "/old", false, 301),
    kind("POST", "/ratings/1", false, 200),
];

const fn kind(method: &'static str, path: &'static str, jason: bool, status: u16) -> RequestKind {
    RequestKind {
        method,
        path,
        jason,
        status,
    }
}

/// What the load tasks count.
#[derive(Default)]
struct Counters {
    issued: AtomicU64,
    completed: AtomicU64,
    unexpected_5xx: AtomicU64,
    other_mismatch: AtomicU64,
    no_response: AtomicU64,
    http2: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

impl Counters {
    fn failure(&self, counter: &AtomicU64, detail: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut failures) = self.first_failures.lock() {
            if failures.len() < 10 {
                failures.push(detail);
            }
        }
    }
}

struct Sample {
    requests: u64,
    seconds: f64,
    rps: f64,
    rss: u64,
    heap_allocated: u64,
    heap_size: u64,
    vms_active: u64,
}

async fn run(options: &Options) -> Result<bool, Box<dyn std::error::Error>> {
    let port = free_port()?;
    let listener = |router: &str| -> Result<Listener, Box<dyn std::error::Error>> {
        Ok(Listener::for_router("gateway")
            .port(port)
            .filter(WasmFilter::new("headers", wasm_module("headers")?, HEADERS))
            .filter(WasmFilter::new("router", wasm_module("router")?, router))
            .filter(WasmFilter::new("fault", wasm_module("fault")?, FAULT))
            .filter(WasmFilter::new("metrics", wasm_module("metrics")?, METRICS)))
    };
    let mut bootstrap = Bootstrap::new()
        .with_dynamic_listeners()
        .listener(listener(ROUTER)?)
        .metrics_stats_tags(&METRICS_DIMENSIONS);
    let mut upstreams = Vec::new();
    for cluster in [PRODUCTPAGE, REVIEWS_V1, REVIEWS_V2, RATINGS] {
        let upstream = Upstream::start(cluster, UpstreamOptions::default()).await?;
        bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
        upstreams.push(upstream);
    }
    // Four modules' VMs on every thread: on a loaded machine that takes longer than 20 s.
    let envoy_options = EnvoyOptions {
        ready_timeout: Duration::from_secs(180),
        ..EnvoyOptions::default()
    };
    let envoy = Envoy::start_with(&bootstrap, &envoy_options).await?;
    let base = format!("http://127.0.0.1:{port}");
    println!(
        "soak: {} requests, {} in flight (half HTTP/1.1, half HTTP/2), {} LDS swaps, Envoy pid {}",
        options.requests,
        options.concurrency,
        options.swaps,
        envoy.pid()
    );

    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..options.concurrency {
        let counters = Arc::clone(&counters);
        let base = base.clone();
        let total = options.requests;
        tasks.push(tokio::spawn(async move {
            let http2 = task % 2 == 1;
            let client = if http2 {
                Client::http2()
            } else {
                Client::http1()
            };
            loop {
                let index = counters.issued.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    break;
                }
                send_one(&client, &base, index, http2, &counters).await;
                counters.completed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let every = (options.requests / options.samples.max(1)).max(1);
    let swap_every = options.requests / (options.swaps + 1);
    let mut samples = Vec::new();
    let mut swaps_done = 0;
    let mut swap_memories: Vec<(u64, Vec<(String, u64)>)> = Vec::new();
    let mut next_sample = every;
    let mut last = (0u64, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let completed = counters.completed.load(Ordering::Relaxed);
        if swaps_done < options.swaps && completed >= swap_every * (swaps_done + 1) {
            let router = if swaps_done % 2 == 0 {
                ROUTER_SWAPPED
            } else {
                ROUTER
            };
            let update = envoy.update_listeners(&[listener(router)?]).await?;
            if update != ListenerUpdate::Accepted {
                return Err(format!("LDS swap {} was rejected", swaps_done + 1).into());
            }
            swaps_done += 1;
            // Give every worker's VMs time to configure and log their memory.
            tokio::time::sleep(Duration::from_millis(500)).await;
            swap_memories.push((completed, latest_linear_memory(&envoy.log())));
            // Requests went on during the swap: count them before sampling.
            continue;
        }
        if completed >= next_sample || completed >= options.requests {
            let elapsed = last.1.elapsed().as_secs_f64();
            let rps = (completed - last.0) as f64 / elapsed.max(1e-9);
            last = (completed, Instant::now());
            samples.push(sample(&envoy, completed, started, rps).await?);
            next_sample += every;
        }
        if completed >= options.requests {
            break;
        }
    }
    for task in tasks {
        task.await?;
    }
    let seconds = started.elapsed().as_secs_f64();

    let verdict = Verdict::of(&counters, &samples, &swap_memories);
    let report = report(
        options,
        &counters,
        &samples,
        &swap_memories,
        seconds,
        &verdict,
    );
    print!("{report}");
    if let Some(parent) = options.output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.output, &report)?;
    println!("(written to {})", options.output.display());
    if envoy.log().contains("panicked") {
        println!("FAIL: Envoy's log has a module panic");
        return Ok(false);
    }
    drop(envoy);
    drop(upstreams);
    Ok(verdict.passed())
}

async fn send_one(client: &Client, base: &str, index: u64, http2: bool, counters: &Counters) {
    let kind = &MIX[(index % MIX.len() as u64) as usize];
    let mut request = client
        .request(kind.method, format!("{base}{}", kind.path))
        .header("x-tenant", format!("tenant-{}", index % TENANTS))
        .header("x-internal-trace", "drop-me")
        .header("origin", "https://shop.example.com");
    if kind.jason {
        request = request.header("end-user", "jason");
    }
    if kind.method == "POST" {
        request = request.body(vec![b'x'; 1024]);
    }
    if http2 {
        counters.http2.fetch_add(1, Ordering::Relaxed);
    }
    let protocol = if http2 { "HTTP/2" } else { "HTTP/1.1" };
    match request.send().await {
        Ok(response) if response.status == kind.status => {}
        Ok(response) if response.status >= 500 => counters.failure(
            &counters.unexpected_5xx,
            format!(
                "{protocol} {} {}: {} (expected {}): {}",
                kind.method,
                kind.path,
                response.status,
                kind.status,
                response.text()
            ),
        ),
        Ok(response) => counters.failure(
            &counters.other_mismatch,
            format!(
                "{protocol} {} {}: {} (expected {})",
                kind.method, kind.path, response.status, kind.status
            ),
        ),
        Err(error) => counters.failure(
            &counters.no_response,
            format!("{protocol} {} {}: {error}", kind.method, kind.path),
        ),
    }
}

async fn sample(
    envoy: &Envoy,
    requests: u64,
    started: Instant,
    rps: f64,
) -> Result<Sample, Box<dyn std::error::Error>> {
    let (_, memory) = envoy.admin_get("/memory").await?;
    let memory: serde_json::Value = serde_json::from_str(&memory)?;
    let figure = |name: &str| {
        memory
            .get(name)
            .and_then(|value| value.as_str())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    let (_, stats) = envoy.admin_get("/stats?filter=^wasm\\.").await?;
    let vms_active = stats
        .lines()
        .filter(|line| line.contains(".active:"))
        .filter_map(|line| line.rsplit(": ").next()?.trim().parse::<u64>().ok())
        .sum();
    Ok(Sample {
        requests,
        seconds: started.elapsed().as_secs_f64(),
        rps,
        rss: rss_bytes(envoy.pid())?,
        heap_allocated: figure("allocated"),
        heap_size: figure("heap_size"),
        vms_active,
    })
}

/// Per module, the largest linear memory among the VMs that logged their configuration last
/// (one line per VM: the main thread's and each worker's).
fn latest_linear_memory(log: &str) -> Vec<(String, u64)> {
    MODULES
        .iter()
        .map(|module| {
            let prefix = format!("{module}: configuration loaded");
            let memories: Vec<u64> = log
                .lines()
                .filter(|line| line.contains(&prefix))
                .filter_map(linear_memory)
                .collect();
            // A swap configures every VM again: its lines are the last ones, one for the
            // main thread and one per worker (the harness runs two).
            let latest = memories.iter().rev().take(3).copied().max().unwrap_or(0);
            ((*module).to_owned(), latest)
        })
        .collect()
}

/// `... linear memory 1234 bytes)` from a module's configure log line.
fn linear_memory(line: &str) -> Option<u64> {
    let rest = line.split("linear memory ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

struct Verdict {
    failures: Vec<String>,
}

impl Verdict {
    fn of(
        counters: &Counters,
        samples: &[Sample],
        swap_memories: &[(u64, Vec<(String, u64)>)],
    ) -> Self {
        let mut failures = Vec::new();
        for (counter, what) in [
            (
                &counters.unexpected_5xx,
                "5xx that is not the configured abort",
            ),
            (&counters.other_mismatch, "other unexpected status"),
            (&counters.no_response, "request without a response"),
        ] {
            let count = counter.load(Ordering::Relaxed);
            if count > 0 {
                failures.push(format!("{count} × {what}"));
            }
        }
        let quarter = samples.len() / 4;
        if quarter >= 1 {
            let mean = |part: &[Sample]| {
                part.iter().map(|s| s.rss as f64).sum::<f64>() / part.len().max(1) as f64
            };
            let second = mean(&samples[quarter..2 * quarter]);
            let last = mean(&samples[samples.len() - quarter..]);
            if last > second * (1.0 + GROWTH_LIMIT) {
                failures.push(format!(
                    "RSS grew: last quarter {} vs second quarter {} (limit +{:.0}%)",
                    mib(last as u64),
                    mib(second as u64),
                    GROWTH_LIMIT * 100.0
                ));
            }
        } else {
            failures.push(format!(
                "{} samples: too few to judge growth (need 4)",
                samples.len()
            ));
        }
        if let (Some((_, first)), Some((_, last))) = (swap_memories.first(), swap_memories.last()) {
            for ((module, before), (_, after)) in first.iter().zip(last) {
                if *after as f64 > *before as f64 * (1.0 + GROWTH_LIMIT) {
                    failures.push(format!(
                        "{module} VM linear memory grew from {} to {} between the first and last swap",
                        mib(*before),
                        mib(*after)
                    ));
                }
            }
        }
        Verdict { failures }
    }

    fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

fn report(
    options: &Options,
    counters: &Counters,
    samples: &[Sample],
    swap_memories: &[(u64, Vec<(String, u64)>)],
    seconds: f64,
    verdict: &Verdict,
) -> String {
    let mut out = String::new();
    let completed = counters.completed.load(Ordering::Relaxed);
    let _ = writeln!(out, "# Soak\n");
    let _ = writeln!(
        out,
        "{completed} requests in {seconds:.0} s ({:.0}/s), {} over HTTP/2, {} in flight, {} LDS swaps; \
         all four modules; request mix: {}.\n",
        completed as f64 / seconds.max(1e-9),
        counters.http2.load(Ordering::Relaxed),
        options.concurrency,
        swap_memories.len(),
        MIX.iter()
            .map(|kind| format!("{} {} → {}", kind.method, kind.path, kind.status))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "| requests | time (s) | req/s | Envoy RSS | heap allocated | heap size | wasm VMs active |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
    for sample in samples {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.0} | {} | {} | {} | {} |",
            sample.requests,
            sample.seconds,
            sample.rps,
            mib(sample.rss),
            mib(sample.heap_allocated),
            mib(sample.heap_size),
            sample.vms_active
        );
    }
    if !swap_memories.is_empty() {
        let _ = writeln!(
            out,
            "\nVM linear memory after each LDS swap (largest VM per module):\n"
        );
        let _ = writeln!(out, "| swap at request | {} |", MODULES.join(" | "));
        let _ = writeln!(out, "|---:|{}", "---:|".repeat(MODULES.len()));
        for (at, memories) in swap_memories {
            let cells: Vec<String> = memories.iter().map(|(_, bytes)| mib(*bytes)).collect();
            let _ = writeln!(out, "| {at} | {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(
        out,
        "\nUnexpected 5xx: {}, other unexpected statuses: {}, without response: {}.",
        counters.unexpected_5xx.load(Ordering::Relaxed),
        counters.other_mismatch.load(Ordering::Relaxed),
        counters.no_response.load(Ordering::Relaxed)
    );
    if let Ok(failures) = counters.first_failures.lock() {
        for failure in failures.iter() {
            let _ = writeln!(out, "- {failure}");
        }
    }
    let _ = writeln!(
        out,
        "\nGrowth criterion: RSS averaged over the last quarter of the samples at most {:.0}% above \
         the second quarter's; each module's VM linear memory at the last swap at most {:.0}% above the first's.\n",
        GROWTH_LIMIT * 100.0,
        GROWTH_LIMIT * 100.0
    );
    if verdict.passed() {
        let _ = writeln!(out, "PASS");
    } else {
        for failure in &verdict.failures {
            let _ = writeln!(out, "FAIL: {failure}");
        }
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn rss_bytes(pid: u32) -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix(" kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

/// A free loopback port: the listener keeps it across LDS swaps, so clients keep their address.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        requests: 1_000_000,
        concurrency: 32,
        swaps: 4,
        samples: 20,
        output: workspace_root().join("target/soak.md"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{arg} {text}: not a number"))
        };
        match arg.as_str() {
            "--requests" => options.requests = number(value()?)?,
            "--concurrency" => options.concurrency = number(value()?)?.max(1),
            "--swaps" => options.swaps = number(value()?)?,
            "--samples" => options.samples = number(value()?)?.max(4),
            "--output" => options.output = value()?.into(),
            other => {
                return Err(format!(
                "unknown argument {other:?} (expected --requests N, --concurrency N, --swaps N, \
                     --samples N, --output FILE)"
            ))
            }
        }
    }
    Ok(options)
}
