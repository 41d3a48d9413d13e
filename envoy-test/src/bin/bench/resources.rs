//! Resource figures: module sizes, VM linear memory and Envoy RSS per route table, config
//! compile time (natively, and as Envoy's time to become ready).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use engine::router::RouteTable;
use envoy_test::{workspace_root, Bootstrap, Envoy, EnvoyOptions, Listener, SyntheticTable};
use serde::{Deserialize, Serialize};

use crate::comparisons::{
    all_modules_listener, clusters, proxy_options, router_listener, suite_listener,
};
use crate::stats::median;
use crate::BenchError;

/// Sizes of one module: as cargo built it, after wasm-opt, and gzipped (`gzip -9`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModuleSize {
    pub module: String,
    pub raw: u64,
    pub optimised: u64,
    pub gzipped: u64,
}

pub fn module_sizes(modules: &[&str]) -> Result<Vec<ModuleSize>, BenchError> {
    let root = workspace_root();
    modules
        .iter()
        .map(|module| {
            let raw = root.join(format!("target/wasm32-wasip1/release/{module}.wasm"));
            let optimised = root.join(format!("dist/{module}.wasm"));
            Ok(ModuleSize {
                module: (*module).to_owned(),
                raw: file_size(&raw)?,
                optimised: file_size(&optimised)?,
                gzipped: gzipped_size(&optimised)?,
            })
        })
        .collect()
}

pub fn file_size(path: &Path) -> Result<u64, BenchError> {
    Ok(std::fs::metadata(path)
        .map_err(|error| format!("{}: {error}", path.display()))?
        .len())
}

pub fn gzipped_size(path: &Path) -> Result<u64, BenchError> {
    let output = Command::new("gzip").arg("-9c").arg(path).output()?;
    if !output.status.success() {
        return Err(format!("gzip {}: {}", path.display(), output.status).into());
    }
    Ok(output.stdout.len() as u64)
}

/// What one Envoy costs once it is ready.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Footprint {
    /// From start to `/ready` answering `LIVE` (polled every 20 ms).
    pub ready: Duration,
    pub rss_bytes: u64,
    /// The largest linear memory any router VM logged after configuring, if any did.
    pub linear_memory_bytes: Option<u64>,
    /// How many VMs logged it (the main thread's and each worker's).
    pub vms: usize,
}

/// Starts `bootstrap` (one worker, info logs, so the modules' configure lines are kept),
/// measures it, and stops it.
pub async fn footprint(bootstrap: &Bootstrap) -> Result<Footprint, BenchError> {
    let options = EnvoyOptions {
        log_level: "info".into(),
        ..proxy_options()
    };
    let started = Instant::now();
    let envoy = Envoy::start_with(bootstrap, &options).await?;
    let ready = started.elapsed();
    // Let the workers finish creating their VMs before memory is read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_bytes = rss_bytes(envoy.pid())?;
    let memories: Vec<u64> = envoy
        .log()
        .lines()
        .filter(|line| line.contains("router: configuration loaded"))
        .filter_map(linear_memory)
        .collect();
    Ok(Footprint {
        ready,
        rss_bytes,
        linear_memory_bytes: memories.iter().copied().max(),
        vms: memories.len(),
    })
}

/// `... linear memory 1234 bytes)` from a module's configure log line.
fn linear_memory(line: &str) -> Option<u64> {
    let rest = line.split("linear memory ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

fn rss_bytes(pid: u32) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix(" kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

/// The module and the native side of one table, each alone in its Envoy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TableFootprint {
    pub table: SyntheticTable,
    pub module: Footprint,
    pub native: Footprint,
    /// Median of `RouteTable::from_json` (parse, validate, compile), natively in release.
    pub compile: Duration,
    pub config_bytes: usize,
}

/// No traffic reaches these Envoys; the clusters only have to exist.
fn idle_clusters() -> Vec<envoy_test::Cluster> {
    clusters(SocketAddr::from(([127, 0, 0, 1], 9)))
}

fn bootstrap_of(listener: Listener) -> Bootstrap {
    let mut bootstrap = Bootstrap::new().listener(listener);
    for cluster in idle_clusters() {
        bootstrap = bootstrap.cluster(cluster);
    }
    bootstrap
}

pub async fn table_footprint(table: SyntheticTable) -> Result<TableFootprint, BenchError> {
    eprintln!(
        "bench: footprint of {} {} routes",
        table.routes,
        table.kind.name()
    );
    let config = table.virtual_service().to_string();
    let compile = compile_time(config.as_bytes())?;
    let module = footprint(&bootstrap_of(router_listener("module", &table)?)).await?;
    let native = footprint(&bootstrap_of(Listener::new(
        "native",
        table.native_route_config(),
    )))
    .await?;
    Ok(TableFootprint {
        table,
        module,
        native,
        compile,
        config_bytes: config.len(),
    })
}

/// Envoy with every module vs Envoy with the same work done natively vs a bare Envoy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GatewayFootprint {
    pub table: SyntheticTable,
    pub bare: Footprint,
    pub native: Footprint,
    pub modules: Footprint,
    /// The four modules from the suite build, one VM per thread (absent in older results).
    #[serde(default)]
    pub suite: Option<Footprint>,
}

pub async fn gateway_footprint(table: SyntheticTable) -> Result<GatewayFootprint, BenchError> {
    eprintln!("bench: footprint of the gateway with and without modules");
    let all = crate::comparisons::all_modules(table)?;
    let native = all
        .variants
        .iter()
        .find(|variant| variant.role == crate::comparisons::Role::Native)
        .map(|variant| variant.listener.clone())
        .ok_or("the all-modules comparison has no native variant")?;
    Ok(GatewayFootprint {
        table,
        bare: footprint(&bootstrap_of(Listener::new(
            "bare",
            envoy_test::RouteConfig::direct_response(200, "ok"),
        )))
        .await?,
        native: footprint(&bootstrap_of(native)).await?,
        modules: footprint(&bootstrap_of(all_modules_listener("module", &table)?)).await?,
        suite: Some(footprint(&bootstrap_of(suite_listener("suite", &table)?)).await?),
    })
}

const COMPILE_REPETITIONS: usize = 5;

/// The median time of [`COMPILE_REPETITIONS`] compiles of `config`.
fn compile_time(config: &[u8]) -> Result<Duration, BenchError> {
    let mut seconds = Vec::new();
    for _ in 0..COMPILE_REPETITIONS {
        let started = Instant::now();
        let table = RouteTable::from_json(config).map_err(|error| error.to_string())?;
        seconds.push(started.elapsed().as_secs_f64());
        drop(table);
    }
    Ok(Duration::from_secs_f64(median(&seconds)))
}
