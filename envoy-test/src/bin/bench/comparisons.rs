//! The side-by-side comparisons: each is one Envoy with one listener per variant, loaded in
//! alternating rounds so that drift of the (shared) machine falls on every variant alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use envoy_test::{
    gateway_defaults, native_fault_delay_and_abort, native_header_mutation_ten_rules,
    table_clusters, wasm_module, Bootstrap, Client, Cluster, Envoy, EnvoyOptions, Listener,
    RouteConfig, SyntheticTable, TableKind, WasmFilter, FAULT_DELAY_AND_ABORT,
    HEADERS_BENCH_REQUEST_HEADERS, HEADERS_TEN_RULES,
};

use serde::{Deserialize, Serialize};

use crate::cpu;
use crate::load::{self, Load, Protocol, Sample};
use crate::BenchError;

/// The cluster of the sink Envoy, for listeners that forward everything.
pub const SINK_CLUSTER: &str = "sink";

/// Sample requests spread over a route table.
const TABLE_SAMPLES: usize = 100;

/// What part a variant plays in its comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Our wasm module(s).
    Module,
    /// Envoy's own filters or routes doing the same.
    Native,
    /// Forwarding with no filter at all.
    NoFilter,
    /// A proxy-wasm filter that does nothing (`bench/floor`): the floor of any wasm filter.
    Floor,
    /// The floor filter repeating some of the router's host calls, to attribute its cost.
    Probe,
    /// Envoy answering itself, no filter, no upstream.
    DirectResponse,
    /// A build variant of a module (opt-level study).
    Build,
    /// All four modules from the suite build (`dist/suite.wasm`), sharing one VM per thread.
    Suite,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Module => "module",
            Role::Native => "native",
            Role::NoFilter => "no filter",
            Role::Floor => "no-op wasm",
            Role::Probe => "probe",
            Role::DirectResponse => "direct_response",
            Role::Build => "build",
            Role::Suite => "suite",
        }
    }
}

/// One listener of a comparison.
#[derive(Debug, Clone)]
pub struct Variant {
    pub label: String,
    pub role: Role,
    pub listener: Listener,
}

impl Variant {
    pub fn new(label: impl Into<String>, role: Role, listener: Listener) -> Self {
        Variant {
            label: label.into(),
            role,
            listener,
        }
    }
}

/// A comparison to run: its variants and the requests that load them.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub id: String,
    pub title: String,
    pub variants: Vec<Variant>,
    pub paths: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub table: Option<SyntheticTable>,
}

impl Comparison {
    /// Each variant's label and role, in order: what a result keeps of the variants.
    pub fn labels_and_roles(&self) -> Vec<(String, Role)> {
        self.variants
            .iter()
            .map(|variant| (variant.label.clone(), variant.role))
            .collect()
    }
}

/// How long and how hard each comparison is driven.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub rounds: usize,
    pub round: Duration,
    pub warm_up: Duration,
    pub connections: u32,
    pub protocols: Vec<Protocol>,
}

/// A comparison's samples: per protocol, per variant (in the comparison's order), per round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub id: String,
    pub title: String,
    pub variants: Vec<(String, Role)>,
    pub table: Option<SyntheticTable>,
    pub samples: Vec<(Protocol, Vec<Vec<Sample>>)>,
}

impl Measured {
    /// The samples of the first variant with `role` over `protocol`.
    pub fn samples(&self, protocol: Protocol, role: Role) -> Option<&[Sample]> {
        let index = self.variants.iter().position(|(_, r)| *r == role)?;
        self.samples
            .iter()
            .find(|(p, _)| *p == protocol)
            .and_then(|(_, variants)| variants.get(index))
            .map(Vec::as_slice)
    }
}

/// The router module vs the same table as native routes (plus forwarding without a filter at
/// the smallest size, so the router can be held against the no-filter target).
pub fn router(table: SyntheticTable, with_no_filter: bool) -> Result<Comparison, BenchError> {
    let mut variants = vec![
        Variant::new(
            "router module",
            Role::Module,
            router_listener("module", &table)?,
        ),
        Variant::new(
            "native routes",
            Role::Native,
            Listener::new("native", table.native_route_config()),
        ),
    ];
    if with_no_filter {
        variants.push(floor()?);
        variants.push(no_filter());
    }
    Ok(Comparison {
        id: format!("router-{}-{}", table.kind.name(), table.routes),
        title: format!(
            "Router, {} {}-heavy routes",
            table.routes,
            table.kind.name()
        ),
        variants,
        paths: table
            .sample_requests(TABLE_SAMPLES)
            .into_iter()
            .map(|(path, _)| path)
            .collect(),
        headers: Vec::new(),
        table: Some(table),
    })
}

/// The headers module (ten rules) vs native `header_mutation` vs no filter.
pub fn headers() -> Result<Comparison, BenchError> {
    Ok(Comparison {
        id: "headers".into(),
        title: "Headers: 10 rules".into(),
        variants: vec![
            Variant::new(
                "headers module",
                Role::Module,
                to_sink("module").filter(headers_filter()?),
            ),
            Variant::new(
                "native header_mutation",
                Role::Native,
                to_sink("native").filter(native_header_mutation_ten_rules()),
            ),
            floor()?,
            no_filter(),
        ],
        paths: vec!["/productpage".into()],
        headers: HEADERS_BENCH_REQUEST_HEADERS
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        table: None,
    })
}

/// The fault module with a delay and an abort that no request selects vs the native fault
/// filters configured alike vs no filter.
pub fn fault() -> Result<Comparison, BenchError> {
    let mut variants = fault_variants()?;
    variants.push(floor()?);
    variants.push(no_filter());
    Ok(simple("fault", "Fault: configured, not matching", variants))
}

/// The fault module and the native fault filter both delaying every request by 300 ms
/// (`x-fault: delay`): the latency above 300 ms is each one's delay error.
pub fn fault_delay() -> Result<Comparison, BenchError> {
    let mut comparison = simple(
        "fault-delay",
        "Fault: a 300 ms delay on every request (latency - 300 ms = delay error)",
        fault_variants()?,
    );
    comparison.headers = vec![("x-fault".to_owned(), "delay".to_owned())];
    Ok(comparison)
}

/// The fault module and the native fault filters, with the same delay and abort rules.
fn fault_variants() -> Result<Vec<Variant>, BenchError> {
    let [native_delay, native_abort] = native_fault_delay_and_abort();
    Ok(vec![
        Variant::new(
            "fault module",
            Role::Module,
            to_sink("module").filter(fault_filter()?),
        ),
        Variant::new(
            "native fault filters",
            Role::Native,
            to_sink("native").filter(native_delay).filter(native_abort),
        ),
    ])
}

/// The metrics module (default config) vs no filter.
pub fn metrics() -> Result<Comparison, BenchError> {
    Ok(simple(
        "metrics",
        "Metrics module vs no filter",
        vec![
            Variant::new(
                "metrics module",
                Role::Module,
                to_sink("module").filter(metrics_filter()?),
            ),
            floor()?,
            no_filter(),
        ],
    ))
}

/// Every module in front of a route table vs Envoy doing all of it natively.
pub fn all_modules(table: SyntheticTable) -> Result<Comparison, BenchError> {
    let [native_delay, native_abort] = native_fault_delay_and_abort();
    let mut comparison = router(table, false)?;
    comparison.id = "all".into();
    comparison.title = format!(
        "All modules (headers, router with {} {} routes, fault, metrics) vs all native",
        table.routes,
        table.kind.name()
    );
    comparison.variants = vec![
        Variant::new(
            "all modules",
            Role::Module,
            all_modules_listener("module", &table)?,
        ),
        Variant::new(
            "all modules, suite build (one VM)",
            Role::Suite,
            suite_listener("suite", &table)?,
        ),
        Variant::new(
            "all native",
            Role::Native,
            Listener::new("native", table.native_route_config())
                .filter(native_header_mutation_ten_rules())
                .filter(native_delay)
                .filter(native_abort),
        ),
        Variant::new(
            "4 no-op wasm filters",
            Role::Floor,
            Listener::new("floor", table.native_route_config())
                .filter(floor_filter("floor-1", "none")?)
                .filter(floor_filter("floor-2", "none")?)
                .filter(floor_filter("floor-3", "none")?)
                .filter(floor_filter("floor-4", "none")?),
        ),
    ];
    comparison.headers = HEADERS_BENCH_REQUEST_HEADERS
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    Ok(comparison)
}

/// The ceiling: Envoy answering itself vs forwarding to the sink, both without filters.
pub fn ceiling() -> Comparison {
    simple(
        "ceiling",
        "Ceiling: direct_response vs forwarding, no filters",
        vec![
            Variant::new(
                "direct_response",
                Role::DirectResponse,
                Listener::new("direct", RouteConfig::direct_response(200, "ok")),
            ),
            no_filter(),
        ],
    )
}

/// The router's cost taken apart: the floor filter repeating the router's per-request host
/// calls one by one, beside the router itself on the same table (and no filter at all).
pub fn attribution(table: SyntheticTable) -> Result<Comparison, BenchError> {
    let mut comparison = router(table, false)?;
    comparison.id = "attribution".into();
    comparison.title = format!(
        "Router cost, step by step ({} {} routes)",
        table.routes,
        table.kind.name()
    );
    let probe = |label: &str, listener: Listener| Variant::new(label, Role::Probe, listener);
    // The contract's routes alone, then with each of the two header filters every router
    // listener has (`Listener::for_router`), so that each is a step of its own.
    let contract = |name: &str| Listener::new(name, RouteConfig::for_router());
    let lookups = "read_each,set_header";
    comparison.variants = vec![
        no_filter(),
        Variant::new(
            "native routes",
            Role::Native,
            Listener::new("native", table.native_route_config()),
        ),
        floor()?,
        probe(
            crate::report::LOOKUPS,
            to_sink("each").filter(floor_filter("floor", "read_each")?),
        ),
        probe(
            crate::report::MAP_READ,
            to_sink("read").filter(floor_filter("floor", "read_headers")?),
        ),
        probe(
            "… + set x-route-cluster",
            contract("set").filter(floor_filter("floor", lookups)?),
        ),
        probe(
            "… + early header mutation",
            contract("early")
                .extra(gateway_defaults::strip_route_headers())
                .filter(floor_filter("floor", lookups)?),
        ),
        probe(
            "… + upstream filter",
            Listener::for_router("upstream").filter(floor_filter("floor", lookups)?),
        ),
        probe(
            "… + route property",
            Listener::for_router("properties")
                .filter(floor_filter("floor", "read_each,set_header,properties")?),
        ),
        Variant::new(
            "router module",
            Role::Module,
            router_listener("module", &table)?,
        ),
    ];
    Ok(comparison)
}

/// The router built at several opt-levels, each behind its own listener.
pub fn router_builds(table: SyntheticTable, builds: &[(String, PathBuf)]) -> Comparison {
    let variants =
        builds
            .iter()
            .map(|(level, wasm)| {
                let listener = Listener::for_router(format!("opt-{level}")).filter(
                    WasmFilter::new("router", wasm.clone(), table.virtual_service().to_string()),
                );
                Variant::new(format!("opt-level {level}"), Role::Build, listener)
            })
            .collect();
    let mut comparison = Comparison {
        id: "opt-levels".into(),
        title: format!(
            "Router builds, {} {} routes",
            table.routes,
            table.kind.name()
        ),
        variants,
        paths: Vec::new(),
        headers: Vec::new(),
        table: Some(table),
    };
    comparison.paths = table
        .sample_requests(TABLE_SAMPLES)
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    comparison
}

fn simple(id: &str, title: &str, variants: Vec<Variant>) -> Comparison {
    Comparison {
        id: id.into(),
        title: title.into(),
        variants,
        paths: vec!["/productpage".into()],
        headers: Vec::new(),
        table: None,
    }
}

pub fn router_listener(name: &str, table: &SyntheticTable) -> Result<Listener, BenchError> {
    Ok(Listener::for_router(name).filter(router_filter(table)?))
}

/// headers, router, fault, metrics: the order of the `make run` gateway.
pub fn all_modules_listener(name: &str, table: &SyntheticTable) -> Result<Listener, BenchError> {
    Ok(Listener::for_router(name)
        .filter(headers_filter()?)
        .filter(router_filter(table)?)
        .filter(fault_filter()?)
        .filter(metrics_filter()?))
}

/// The same chain as [`all_modules_listener`], every plugin from `dist/suite.wasm` with its
/// module's `root_id`, so the four share one VM per thread.
pub fn suite_listener(name: &str, table: &SyntheticTable) -> Result<Listener, BenchError> {
    let suite = wasm_module("suite")?;
    let plugin = |module: &str, config: String| {
        WasmFilter::new(module, suite.clone(), config).root_id(module)
    };
    Ok(Listener::for_router(name)
        .filter(plugin("headers", HEADERS_TEN_RULES.to_owned()))
        .filter(plugin("router", table.virtual_service().to_string()))
        .filter(plugin("fault", FAULT_DELAY_AND_ABORT.to_owned()))
        .filter(plugin("metrics", "{}".to_owned())))
}

fn router_filter(table: &SyntheticTable) -> Result<WasmFilter, BenchError> {
    Ok(WasmFilter::new(
        "router",
        wasm_module("router")?,
        table.virtual_service().to_string(),
    ))
}

fn headers_filter() -> Result<WasmFilter, BenchError> {
    Ok(WasmFilter::new(
        "headers",
        wasm_module("headers")?,
        HEADERS_TEN_RULES,
    ))
}

fn fault_filter() -> Result<WasmFilter, BenchError> {
    Ok(WasmFilter::new(
        "fault",
        wasm_module("fault")?,
        FAULT_DELAY_AND_ABORT,
    ))
}

/// The no-op filter (`bench/floor`) with `steps` of the router's host calls switched on.
fn floor_filter(name: &str, steps: &str) -> Result<WasmFilter, BenchError> {
    Ok(WasmFilter::new(name, wasm_module("bench/floor")?, steps))
}

fn floor() -> Result<Variant, BenchError> {
    Ok(Variant::new(
        "no-op wasm filter",
        Role::Floor,
        to_sink("floor").filter(floor_filter("floor", "none")?),
    ))
}

fn metrics_filter() -> Result<WasmFilter, BenchError> {
    Ok(WasmFilter::new("metrics", wasm_module("metrics")?, "{}"))
}

fn to_sink(name: &str) -> Listener {
    Listener::new(name, RouteConfig::to_cluster(SINK_CLUSTER))
}

fn no_filter() -> Variant {
    Variant::new("no filter", Role::NoFilter, to_sink("none"))
}

/// The clusters every comparison's Envoy has: the tables' clusters and the sink, all of them
/// the sink's address.
pub fn clusters(sink: SocketAddr) -> Vec<Cluster> {
    table_clusters()
        .into_iter()
        .chain([SINK_CLUSTER.to_owned()])
        .map(|name| Cluster::new(name, [sink]))
        .collect()
}

/// The proxy under test: one worker, so the load generator has the other core.
pub fn proxy_options() -> EnvoyOptions {
    EnvoyOptions {
        concurrency: 1,
        log_level: "warning".into(),
        component_log_level: None,
        ready_timeout: Duration::from_secs(300),
        file_flush_interval: None,
        drain_time: None,
    }
}

/// The Envoy of `comparison`: one listener per variant, forwarding to `sink`.
pub async fn start(comparison: &Comparison, sink: SocketAddr) -> Result<Envoy, BenchError> {
    let listeners = comparison
        .variants
        .iter()
        .map(|variant| variant.listener.clone());
    Ok(Envoy::start_with(&bootstrap(listeners, sink), &proxy_options()).await?)
}

/// The bootstrap of a comparison's Envoy: `listeners` and [`clusters`], all forwarding to `sink`.
pub fn bootstrap(listeners: impl IntoIterator<Item = Listener>, sink: SocketAddr) -> Bootstrap {
    let mut bootstrap = Bootstrap::new().metrics_stats_tags::<&str>(&[]);
    for listener in listeners {
        bootstrap = bootstrap.listener(listener);
    }
    for cluster in clusters(sink) {
        bootstrap = bootstrap.cluster(cluster);
    }
    bootstrap
}

/// Runs `comparison` against an Envoy forwarding to `sink`.
pub async fn measure(
    comparison: &Comparison,
    sink: SocketAddr,
    settings: &Settings,
    scratch: &Path,
) -> Result<Measured, BenchError> {
    eprintln!("bench: {}", comparison.title);
    let envoy = start(comparison, sink).await?;
    let urls: Vec<String> = comparison
        .variants
        .iter()
        .map(|variant| envoy.listener_url(&variant.listener.name))
        .collect::<Result<_, _>>()?;
    for (variant, url) in comparison.variants.iter().zip(&urls) {
        check_answers(comparison, &variant.label, url).await?;
    }
    let pid = envoy.pid();
    let run = |url: &str, duration: Duration, protocol: Protocol| -> Result<Sample, BenchError> {
        let load = Load {
            base_url: url,
            paths: &comparison.paths,
            headers: &comparison.headers,
            connections: settings.connections,
            duration,
        };
        let cpu_before = cpu::process_seconds(pid)?;
        let mut sample = load::run(protocol, &load, scratch)?;
        let cpu_seconds = cpu::process_seconds(pid)? - cpu_before;
        if sample.requests > 0 {
            sample.cpu_us_per_request = Some(cpu_seconds * 1e6 / sample.requests as f64);
        }
        Ok(sample)
    };
    for url in &urls {
        for &protocol in &settings.protocols {
            run(url, settings.warm_up, protocol)?;
        }
    }
    let mut samples: Vec<(Protocol, Vec<Vec<Sample>>)> = settings
        .protocols
        .iter()
        .map(|&protocol| (protocol, vec![Vec::new(); urls.len()]))
        .collect();
    for round in 0..settings.rounds {
        for (protocol, per_variant) in &mut samples {
            let mut order: Vec<usize> = (0..urls.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for index in order {
                let sample = run(&urls[index], settings.round, *protocol)?;
                eprintln!(
                    "  round {} {:8} {:28} {:>9.0} rps  cpu {:>6.1} µs/req  p50 {:>7.0} µs  p99 {:>7.0} µs  failures {}",
                    round + 1,
                    protocol.label(),
                    comparison.variants[index].label,
                    sample.rps,
                    sample.cpu_us_per_request.unwrap_or(f64::NAN),
                    sample.p50_us,
                    sample.p99_us,
                    sample.failures
                );
                per_variant[index].push(sample);
            }
        }
    }
    Ok(Measured {
        id: comparison.id.clone(),
        title: comparison.title.clone(),
        variants: comparison.labels_and_roles(),
        table: comparison.table,
        samples,
    })
}

/// Every listener answers the first and last request path with 200 before it is timed.
pub async fn check_answers(
    comparison: &Comparison,
    label: &str,
    url: &str,
) -> Result<(), BenchError> {
    let paths = [comparison.paths.first(), comparison.paths.last()];
    for path in paths.into_iter().flatten() {
        let mut request = Client::http1().get(format!("{url}{path}"));
        for (name, value) in &comparison.headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        if response.status != 200 {
            return Err(format!(
                "{}: {label} answered {path} with {}: {}",
                comparison.title,
                response.status,
                response.text()
            )
            .into());
        }
    }
    Ok(())
}

/// The table kinds, for iteration.
pub const TABLE_KINDS: [TableKind; 2] = [TableKind::Prefix, TableKind::Regex];
