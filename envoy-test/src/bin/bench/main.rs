//! `make bench` / `make bench-quick`: the router, headers, fault and metrics modules side by side
//! with Envoy's native routes and filters, on loopback, written up as docs/benchmarks.md with
//! SVG plots in docs/bench/.
//!
//! Usage: `bench [--quick] [--output FILE] [--plots DIR] [--note TEXT] [--no-opt-levels]
//! [--render] [--only ID,ID...]`. The measurements are saved next to the report (`FILE` with
//! `.json`); `--render` writes the report and plots again from them without measuring;
//! `--only` runs just the comparisons with those ids (e.g. `attribution,router-prefix-10`),
//! without the resource figures, for iterating on one cost (`--only instructions`: the
//! instructions per request under callgrind, see `instructions.rs`); `--serve ID` starts that
//! comparison's Envoy and its sink, prints the Envoy's pid and each variant's URL, and waits
//! for Ctrl-C (to drive one variant by hand under `perf record -e cpu-clock -g -p PID`;
//! `--serve instructions`: the Envoys of the instruction counts, under callgrind, for
//! `callgrind_control -z PID`, a load, `callgrind_control -d PID`).

mod comparisons;
mod cpu;
mod instructions;
mod load;
mod opt_levels;
mod report;
mod resources;
mod stats;
mod svg;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use envoy_test::{
    workspace_root, Bootstrap, Envoy, EnvoyBinary, Listener, RouteConfig, SyntheticTable, TableKind,
};
use serde_json::json;

use comparisons::{Settings, TABLE_KINDS};
use load::Protocol;
use report::Report;

pub type BenchError = Box<dyn std::error::Error>;

const MODULES: [&str; 5] = ["router", "headers", "fault", "metrics", "suite"];

/// The table the all-modules comparison and the gateway footprint route with.
const GATEWAY_TABLE: SyntheticTable = SyntheticTable {
    kind: TableKind::Prefix,
    routes: 100,
};

/// The table the router's cost is taken apart on (`comparisons::attribution`).
const ATTRIBUTION_TABLE: SyntheticTable = SyntheticTable {
    kind: TableKind::Prefix,
    routes: 10,
};

/// The table of the opt-level study (docs/build.md).
const OPT_LEVEL_TABLE: SyntheticTable = SyntheticTable {
    kind: TableKind::Regex,
    routes: 1000,
};

#[derive(Debug)]
struct Options {
    quick: bool,
    output: PathBuf,
    plots: Option<PathBuf>,
    note: String,
    opt_levels: bool,
    render_only: bool,
    only: Vec<String>,
    serve: Option<String>,
}

fn parse_options() -> Result<Options, BenchError> {
    let mut options = Options {
        quick: false,
        output: workspace_root().join("docs/benchmarks.md"),
        plots: None,
        note: String::new(),
        opt_levels: true,
        render_only: false,
        only: Vec::new(),
        serve: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--output" => options.output = PathBuf::from(value()?),
            "--plots" => options.plots = Some(PathBuf::from(value()?)),
            "--note" => options.note = value()?,
            "--no-opt-levels" => options.opt_levels = false,
            "--render" => options.render_only = true,
            "--serve" => options.serve = Some(value()?),
            "--only" => {
                options.only = value()?.split(',').map(str::to_owned).collect();
                options.opt_levels = false;
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(options)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BenchError> {
    let options = parse_options()?;
    if let Some(parent) = options.output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if let Some(id) = &options.serve {
        return serve(id, &options).await;
    }
    let results = options.output.with_extension("json");
    let report = if options.render_only {
        serde_json::from_str(&std::fs::read_to_string(&results)?)?
    } else {
        let report = measure(&options).await?;
        std::fs::write(&results, serde_json::to_string_pretty(&report)?)?;
        eprintln!("bench: wrote {}", results.display());
        report
    };
    write_report(&report, &options)
}

async fn measure(options: &Options) -> Result<Report, BenchError> {
    let started = Instant::now();
    let settings = if options.quick {
        Settings {
            rounds: 2,
            round: Duration::from_secs(1),
            warm_up: Duration::from_secs(1),
            connections: 16,
            protocols: Protocol::ALL.to_vec(),
        }
    } else {
        Settings {
            rounds: 5,
            round: Duration::from_secs(3),
            warm_up: Duration::from_secs(2),
            connections: 16,
            protocols: Protocol::ALL.to_vec(),
        }
    };
    let route_counts = route_counts(options);
    let mut report = Report::new(&options.note, &settings, EnvoyBinary::shared()?.version()?);

    let scratch = tempfile::tempdir()?;
    let (_sink, sink_addr) = start_sink().await?;

    // Built before anything is measured: a build that fails (the source is the working tree's)
    // fails the run at once, and the builds are of the source as it was when the run began.
    let opt_level_builds = if options.opt_levels && !options.quick {
        Some(
            opt_levels::LEVELS
                .iter()
                .map(|level| opt_levels::build(level))
                .collect::<Result<Vec<_>, _>>()?,
        )
    } else {
        None
    };
    let plan = plan(options)?;
    for comparison in &plan {
        report
            .measured
            .push(comparisons::measure(comparison, sink_addr, &settings, scratch.path()).await?);
    }

    // Not in --quick: Envoy takes minutes to start under callgrind.
    let count_instructions = if options.only.is_empty() {
        !options.quick
    } else {
        options.only.iter().any(|id| id == instructions::ID)
    };
    if count_instructions {
        report.instructions = Some(instructions::measure(&counted()?, sink_addr).await?);
    }

    report.module_sizes = resources::module_sizes(&MODULES)?;
    if !options.only.is_empty() {
        report.elapsed = started.elapsed();
        report.load_at_end = report::load_average();
        return Ok(report);
    }
    for &routes in route_counts {
        for kind in TABLE_KINDS {
            if options.quick && routes != 1000 {
                continue;
            }
            report
                .tables
                .push(resources::table_footprint(SyntheticTable::new(kind, routes)).await?);
        }
    }
    if !options.quick {
        report.gateway = Some(resources::gateway_footprint(GATEWAY_TABLE).await?);
    }

    if let Some(builds) = opt_level_builds {
        let variants: Vec<(String, PathBuf)> = builds
            .iter()
            .map(|build| (build.level.clone(), build.wasm.clone()))
            .collect();
        let comparison = comparisons::router_builds(OPT_LEVEL_TABLE, &variants);
        report.opt_levels = Some((
            builds,
            comparisons::measure(&comparison, sink_addr, &settings, scratch.path()).await?,
        ));
    }

    report.elapsed = started.elapsed();
    report.load_at_end = report::load_average();
    Ok(report)
}

/// The comparisons to run, in order (`--only` keeps those with the ids it names).
fn plan(options: &Options) -> Result<Vec<comparisons::Comparison>, BenchError> {
    let route_counts = route_counts(options);
    let mut plan = Vec::new();
    for &routes in route_counts {
        for kind in TABLE_KINDS {
            // Quick mode: the smallest prefix table and the large regex table only.
            if options.quick && (routes == 10) != (kind == TableKind::Prefix) {
                continue;
            }
            plan.push(comparisons::router(
                SyntheticTable::new(kind, routes),
                routes == route_counts[0],
            )?);
        }
    }
    plan.push(comparisons::attribution(ATTRIBUTION_TABLE)?);
    plan.push(comparisons::headers()?);
    if !options.quick {
        plan.push(comparisons::fault()?);
        plan.push(comparisons::fault_delay()?);
        plan.push(comparisons::metrics()?);
        plan.push(comparisons::all_modules(GATEWAY_TABLE)?);
    }
    plan.push(comparisons::ceiling());
    if !options.only.is_empty() {
        plan.retain(|comparison| options.only.contains(&comparison.id));
        if plan.is_empty() && !options.only.iter().any(|id| id == instructions::ID) {
            return Err(format!("--only {:?}: no comparison has that id", options.only).into());
        }
    }
    Ok(plan)
}

/// The comparisons whose instructions per request are counted: the router's attribution and
/// each module against the no-op floor.
fn counted() -> Result<Vec<comparisons::Comparison>, BenchError> {
    Ok(vec![
        comparisons::attribution(ATTRIBUTION_TABLE)?,
        comparisons::headers()?,
        comparisons::fault()?,
        comparisons::metrics()?,
    ])
}

fn route_counts(options: &Options) -> &'static [usize] {
    if options.quick {
        &[10, 1000]
    } else {
        &[10, 100, 1000, 10_000]
    }
}

/// `--serve ID`: the comparison's Envoy and sink, until Ctrl-C (`--serve instructions`: the
/// Envoy of the instruction counts, under callgrind).
async fn serve(id: &str, options: &Options) -> Result<(), BenchError> {
    if id == instructions::ID {
        return serve_counted().await;
    }
    let plan = plan(options)?;
    let comparison = plan
        .iter()
        .find(|comparison| comparison.id == id)
        .ok_or_else(|| format!("--serve {id:?}: no comparison has that id"))?;
    let (_sink, sink_addr) = start_sink().await?;
    let envoy = comparisons::start(comparison, sink_addr).await?;
    println!("{}: Envoy pid {}", comparison.title, envoy.pid());
    for variant in &comparison.variants {
        let url = envoy.listener_url(&variant.listener.name)?;
        let path = comparison.paths.first().map_or("/", String::as_str);
        println!("  {:28} {url}{path}", variant.label);
    }
    println!("Ctrl-C stops both Envoys.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// `--serve instructions`: the Envoy of the instruction counts under callgrind, until Ctrl-C,
/// for `callgrind_control -z PID`, a load, `callgrind_control -d PID` by hand.
async fn serve_counted() -> Result<(), BenchError> {
    let compared = counted()?;
    let (_sink, sink_addr) = start_sink().await?;
    let dumps = tempfile::Builder::new()
        .prefix("bench-callgrind-")
        .tempdir()?;
    let counters = instructions::start(&compared, sink_addr, dumps.path()).await?;
    println!("Dumps in {}", dumps.path().display());
    for counter in &counters {
        println!(
            "Envoy pid {} under callgrind, log {}",
            counter.envoy.pid(),
            counter.envoy.log_path().display()
        );
        for (comparison, names) in &counter.served {
            println!("  {}:", comparison.title);
            for (variant, name) in comparison.variants.iter().zip(names) {
                let path = comparison.paths.first().map_or("/", String::as_str);
                let url = counter.envoy.listener_url(name)?;
                println!("    {:32} {url}{path}", variant.label);
            }
        }
    }
    println!("Ctrl-C stops the Envoys.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

fn write_report(report: &Report, options: &Options) -> Result<(), BenchError> {
    let markdown = report.markdown(options.plots.is_some());
    std::fs::write(&options.output, &markdown)?;
    eprintln!("bench: wrote {}", options.output.display());
    if let Some(plots) = &options.plots {
        std::fs::create_dir_all(plots)?;
        for (name, svg) in report.plots() {
            let path = plots.join(name);
            std::fs::write(&path, svg)?;
            eprintln!("bench: wrote {}", path.display());
        }
    }
    if options.quick {
        println!("{markdown}");
    }
    Ok(())
}

/// The upstream every forwarding listener uses: an Envoy of its own (one worker) answering
/// 200 `ok` with an `x-powered-by` header (which the header rules remove), and its address.
async fn start_sink() -> Result<(Envoy, std::net::SocketAddr), BenchError> {
    let mut route = RouteConfig::direct_response(200, "ok");
    route.0["response_headers_to_add"] =
        json!([{"header": {"key": "x-powered-by", "value": "sink"}}]);
    let bootstrap = Bootstrap::new().listener(Listener::new("sink", route));
    let sink = Envoy::start_with(&bootstrap, &comparisons::proxy_options()).await?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], sink.listener_port("sink")?));
    Ok((sink, addr))
}
