//! Instructions per request, counted by valgrind's callgrind: the steady figure beside the CPU
//! µs of the comparisons, which on a shared machine move by more than a small step costs.
//!
//! Envoy runs under callgrind with the listeners of several comparisons together (V8 takes
//! minutes to compile the modules under valgrind; that is paid once per Envoy, and the Envoys
//! start side by side), at most [`MODULES_PER_ENVOY`] wasm modules in one; the sink stays
//! native.
//! Per variant and protocol: [`WARM_UP_REQUESTS`], the counters zeroed (`callgrind_control
//! -z`), [`REQUESTS`] requests one at a time over one connection, a dump (`callgrind_control
//! -d`). The dump's total over the requests is the variant's instructions per request, every
//! thread of Envoy included.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use envoy_test::{Envoy, EnvoyBinary, HttpFilter, Listener};
use serde::{Deserialize, Serialize};

use crate::comparisons::{self, Comparison, Role};
use crate::load::{self, Protocol};
use crate::BenchError;

/// `--only instructions` runs this step.
pub const ID: &str = "instructions";

/// Requests before the counters are zeroed: V8 compiles lazily, and Envoy's first requests on a
/// connection and listener allocate what later ones reuse.
pub const WARM_UP_REQUESTS: u64 = 300;

/// Requests counted per variant and protocol.
pub const REQUESTS: u64 = 1000;

/// Under callgrind, Envoy takes about 150 s to be ready with the router and the floor filter;
/// the modules of all the comparisons add to that.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// What callgrind runs Envoy with, before `--callgrind-out-file`: V8 writes the code it runs,
/// so every write to memory not backed by a file is checked for code (`--smc-check`); no
/// per-instruction or jump data, only the totals are read.
const CALLGRIND: [&str; 5] = [
    "valgrind",
    "--tool=callgrind",
    "--smc-check=all-non-file",
    "--dump-instr=no",
    "--collect-jumps=no",
];

/// The step's figures, saved in the report's JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instructions {
    /// The command Envoy ran under (valgrind's version first), for the report.
    pub tool: String,
    /// Why nothing was counted (valgrind is not installed); `None` when counted.
    pub unavailable: Option<String>,
    pub warm_up: u64,
    pub requests: u64,
    /// The ids of the comparisons each Envoy served.
    #[serde(default)]
    pub envoys: Vec<Vec<String>>,
    pub groups: Vec<Counted>,
    /// The whole step, Envoy's start under callgrind included.
    pub elapsed: Duration,
}

/// One comparison's counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counted {
    pub id: String,
    pub title: String,
    pub variants: Vec<(String, Role)>,
    /// Per protocol, each variant's instructions per request, in the variants' order.
    pub per_request: Vec<(Protocol, Vec<f64>)>,
}

impl Instructions {
    pub fn group(&self, id: &str) -> Option<&Counted> {
        self.groups.iter().find(|group| group.id == id)
    }
}

impl Counted {
    /// The instructions per request of variant `index` over `protocol`.
    pub fn value(&self, protocol: Protocol, index: usize) -> Option<f64> {
        self.per_request
            .iter()
            .find(|(p, _)| *p == protocol)
            .and_then(|(_, values)| values.get(index).copied())
    }

    /// The instructions per request of the first variant with `role` over `protocol`.
    pub fn of_role(&self, protocol: Protocol, role: Role) -> Option<f64> {
        let index = self.variants.iter().position(|(_, r)| *r == role)?;
        self.value(protocol, index)
    }
}

/// Counts the instructions per request of every variant of `comparisons`, in Envoys under
/// callgrind forwarding to `sink`. Without valgrind, says so rather than failing.
pub async fn measure(
    comparisons: &[Comparison],
    sink: SocketAddr,
) -> Result<Instructions, BenchError> {
    let started = Instant::now();
    let mut instructions = Instructions {
        tool: CALLGRIND.join(" "),
        unavailable: None,
        warm_up: WARM_UP_REQUESTS,
        requests: REQUESTS,
        envoys: Vec::new(),
        groups: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let missing: Vec<&str> = ["valgrind", "callgrind_control"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if !missing.is_empty() {
        let reason = format!(
            "{} not found on PATH; `make system-packages` installs the Debian package `valgrind`",
            missing.join(" and ")
        );
        eprintln!("bench: instructions per request not counted: {reason}");
        instructions.unavailable = Some(reason);
        return Ok(instructions);
    }
    instructions.tool = format!("{} ({})", instructions.tool, valgrind_version()?);

    // Declared before the Envoys, so that it is removed after they have stopped writing to it.
    let dumps = tempfile::Builder::new()
        .prefix("bench-callgrind-")
        .tempdir()?;
    let counters = start(comparisons, sink, dumps.path()).await?;
    eprintln!(
        "bench: {} Envoys ready under callgrind after {:.0} s",
        counters.len(),
        started.elapsed().as_secs_f64()
    );
    for counter in counters {
        instructions.envoys.push(
            counter
                .served
                .iter()
                .map(|(comparison, _)| comparison.id.clone())
                .collect(),
        );
        let mut callgrind = Callgrind {
            pid: counter.envoy.pid(),
            dir: dumps.path().to_owned(),
            last_dump: 0,
        };
        for (comparison, names) in &counter.served {
            let urls: Vec<String> = names
                .iter()
                .map(|name| counter.envoy.listener_url(name))
                .collect::<Result<_, _>>()?;
            instructions
                .groups
                .push(count(comparison, &urls, &mut callgrind).await?);
        }
        // A VM that failed while counting would have answered 503 (`FAIL_CLOSED`), but a
        // failure to create one is silent: look again.
        check_vms(&counter.envoy)?;
    }
    instructions.elapsed = started.elapsed();
    Ok(instructions)
}

/// Counts each variant of `comparison`, served at `urls`, over each protocol.
async fn count(
    comparison: &Comparison,
    urls: &[String],
    callgrind: &mut Callgrind,
) -> Result<Counted, BenchError> {
    eprintln!("bench: instructions: {}", comparison.title);
    for (variant, url) in comparison.variants.iter().zip(urls) {
        comparisons::check_answers(comparison, &variant.label, url).await?;
    }
    let mut per_request = Vec::new();
    for protocol in Protocol::ALL {
        let mut values = Vec::new();
        for (variant, url) in comparison.variants.iter().zip(urls) {
            let send = |requests| {
                load::send(
                    protocol,
                    url,
                    &comparison.paths,
                    &comparison.headers,
                    requests,
                )
            };
            send(WARM_UP_REQUESTS)?;
            callgrind.zero()?;
            send(REQUESTS)?;
            let per = callgrind.dump()? as f64 / REQUESTS as f64;
            eprintln!(
                "  {:8} {:32} {:>9.0} instructions/request",
                protocol.label(),
                variant.label,
                per
            );
            values.push(per);
        }
        per_request.push((protocol, values));
    }
    Ok(Counted {
        id: comparison.id.clone(),
        title: comparison.title.clone(),
        variants: comparison.labels_and_roles(),
        per_request,
    })
}

/// An Envoy under callgrind, and the comparisons it serves with, per comparison, the name of
/// each variant's listener there.
pub struct Counter<'a> {
    pub envoy: Envoy,
    pub served: Vec<(&'a Comparison, Vec<String>)>,
}

/// The Envoys under callgrind (their dumps in `dumps`) that serve `comparisons`, forwarding to
/// `sink`: as few as [`MODULES_PER_ENVOY`] allows, started side by side (valgrind runs each on
/// one core).
pub async fn start<'a>(
    comparisons: &'a [Comparison],
    sink: SocketAddr,
    dumps: &Path,
) -> Result<Vec<Counter<'a>>, BenchError> {
    let mut wrapper: Vec<OsString> = CALLGRIND.iter().map(OsString::from).collect();
    let mut out_file = OsString::from("--callgrind-out-file=");
    out_file.push(dumps.join("cg.%p"));
    wrapper.push(out_file);
    let binary = EnvoyBinary::shared()?.under(wrapper);
    let options = envoy_test::EnvoyOptions {
        ready_timeout: READY_TIMEOUT,
        ..comparisons::proxy_options()
    };
    let mut starting = Vec::new();
    for part in envoys(comparisons) {
        let part: Vec<&Comparison> = part.into_iter().map(|index| &comparisons[index]).collect();
        let owned: Vec<Comparison> = part.iter().map(|&comparison| comparison.clone()).collect();
        let (listeners, names) = merge_listeners(&owned);
        eprintln!(
            "bench: instructions per request: starting Envoy under callgrind with {} listeners \
             for {} (minutes: V8 compiles the modules under valgrind)",
            listeners.len(),
            part.iter()
                .map(|comparison| comparison.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // No stats flush timer: its work on the main thread (and the histogram merges it asks
        // of the worker) would land in some counts and not others.
        let bootstrap = comparisons::bootstrap(listeners, sink)
            .extra(serde_json::json!({"stats_flush_on_admin": true}));
        let (binary, options) = (binary.clone(), options.clone());
        let envoy =
            tokio::spawn(async move { Envoy::start_on(&binary, &bootstrap, &options).await });
        starting.push((envoy, part.into_iter().zip(names).collect()));
    }
    let mut counters = Vec::new();
    for (envoy, served) in starting {
        let envoy = envoy.await??;
        check_vms(&envoy)?;
        counters.push(Counter { envoy, served });
    }
    Ok(counters)
}

/// At most this many distinct wasm modules in one Envoy under callgrind. V8 reserves address
/// space for every VM (a module has one on the main thread, one per worker and the base VM it
/// is loaded in), and valgrind gives the whole process 128 GiB: with five modules, a worker's
/// VM of the fifth could not be created (at 132 GB of virtual memory).
pub const MODULES_PER_ENVOY: usize = 3;

/// `comparisons` (by index, in order) split over Envoys of at most [`MODULES_PER_ENVOY`]
/// distinct wasm modules each; a comparison is never split.
fn envoys(comparisons: &[Comparison]) -> Vec<Vec<usize>> {
    let mut parts: Vec<(BTreeSet<PathBuf>, Vec<usize>)> = Vec::new();
    for (index, comparison) in comparisons.iter().enumerate() {
        let modules: BTreeSet<PathBuf> = comparison
            .variants
            .iter()
            .flat_map(|variant| &variant.listener.http_filters)
            .filter_map(|filter| match filter {
                HttpFilter::Wasm(wasm) => Some(wasm.wasm_path.clone()),
                HttpFilter::Raw(_) => None,
            })
            .collect();
        match parts.last_mut() {
            Some((held, indices)) if held.union(&modules).count() <= MODULES_PER_ENVOY => {
                held.extend(modules);
                indices.push(index);
            }
            _ => parts.push((modules, vec![index])),
        }
    }
    parts.into_iter().map(|(_, indices)| indices).collect()
}

/// Fails when Envoy logged that a Wasm VM failed: a worker without the VM runs the listener as
/// if the filter were not there (answering 200), which would count as no filter at all.
fn check_vms(envoy: &Envoy) -> Result<(), BenchError> {
    let log = envoy.log();
    let failures: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("[error][wasm]") || line.contains("[critical][wasm]"))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "Envoy (pid {}) under callgrind: a Wasm VM failed, its filter would be skipped:\n{}",
            envoy.pid(),
            failures.join("\n")
        )
        .into())
    }
}

/// The listeners of all `comparisons` for one Envoy, and per comparison the name each variant's
/// listener has there: a listener that an earlier comparison has already, identical (the no-op
/// floor, no filter), is shared; one whose name an earlier comparison gave to another listener
/// is renamed `<comparison id>-<name>`.
fn merge_listeners(comparisons: &[Comparison]) -> (Vec<Listener>, Vec<Vec<String>>) {
    let mut listeners: Vec<Listener> = Vec::new();
    let names = comparisons
        .iter()
        .map(|comparison| {
            comparison
                .variants
                .iter()
                .map(|variant| {
                    let mut listener = variant.listener.clone();
                    if listeners.contains(&listener) {
                        return listener.name;
                    }
                    if listeners.iter().any(|other| other.name == listener.name) {
                        listener.name = format!("{}-{}", comparison.id, listener.name);
                    }
                    let name = listener.name.clone();
                    listeners.push(listener);
                    name
                })
                .collect()
        })
        .collect();
    (listeners, names)
}

/// The Envoy under callgrind, driven with `callgrind_control`.
struct Callgrind {
    pid: u32,
    /// Where the dumps go (`cg.<pid>.<n>`).
    dir: PathBuf,
    /// The number of the last dump read.
    last_dump: u32,
}

impl Callgrind {
    /// Zeroes the counters of every thread.
    fn zero(&self) -> Result<(), BenchError> {
        self.control("-z")
    }

    /// Dumps the counters and returns the instructions counted since they were zeroed.
    fn dump(&mut self) -> Result<u64, BenchError> {
        self.control("-d")?;
        let (number, path) = newest_dump(&self.dir, self.pid)?
            .filter(|(number, _)| *number > self.last_dump)
            .ok_or_else(|| format!("callgrind wrote no new dump into {}", self.dir.display()))?;
        self.last_dump = number;
        // Bytes, not text: a symbol name that is not UTF-8 must not fail the count.
        let bytes = std::fs::read(&path)?;
        let total = dump_total(&String::from_utf8_lossy(&bytes))
            .ok_or_else(|| format!("{}: no `totals:` or `summary:` line", path.display()))?;
        std::fs::remove_file(&path)?;
        Ok(total)
    }

    /// `callgrind_control FLAG PID`; it waits until callgrind has done it.
    fn control(&self, flag: &str) -> Result<(), BenchError> {
        let output = Command::new("callgrind_control")
            .arg(flag)
            .arg(self.pid.to_string())
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // It prints `Error: …` (and exits 0) when it finds no callgrind run with that pid.
        if !output.status.success() || stdout.contains("Error") {
            return Err(format!(
                "callgrind_control {flag} {} failed ({}): {stdout}{}",
                self.pid,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        Ok(())
    }
}

/// The highest-numbered dump `cg.<pid>.<n>` in `dir`, with its number.
fn newest_dump(dir: &Path, pid: u32) -> Result<Option<(u32, PathBuf)>, BenchError> {
    let prefix = format!("cg.{pid}.");
    let mut newest = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .and_then(|name| name.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(number) = number {
            if newest.as_ref().is_none_or(|(best, _)| number > *best) {
                newest = Some((number, entry.path()));
            }
        }
    }
    Ok(newest)
}

/// The instructions (`Ir`) a callgrind dump counted in all: its `totals:` line (or, in older
/// formats, `summary:`), the column of `Ir` in its `events:` line.
pub fn dump_total(dump: &str) -> Option<u64> {
    let field = |key: &str| dump.lines().find_map(|line| line.strip_prefix(key));
    let column = match field("events:") {
        Some(events) => events.split_whitespace().position(|event| event == "Ir")?,
        None => 0,
    };
    let totals = field("totals:").or_else(|| field("summary:"))?;
    totals.split_whitespace().nth(column)?.parse().ok()
}

/// valgrind's `--version`, e.g. `valgrind-3.19.0`.
fn valgrind_version() -> Result<String, BenchError> {
    let output = Command::new("valgrind").arg("--version").output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparisons::Variant;
    use envoy_test::{RouteConfig, WasmFilter};

    #[test]
    fn the_total_is_the_ir_column_of_the_totals_line() {
        let dump = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 4242\n\
                    cmd:  envoy -c envoy.json\npart: 3\n\ndesc: Timerange: Basic block 1 - 2\n\
                    positions: line\nevents: Ir\nsummary: 180812345\n\n\
                    fn=(1) main\n0 12\n\ntotals: 180812345\n";
        assert_eq!(dump_total(dump), Some(180_812_345));
        // Only `summary:`, and Ir not the first event.
        let two_events = "events: Dr Ir\nsummary: 5 77\nfn=(1)\n0 1 2\n";
        assert_eq!(dump_total(two_events), Some(77));
        assert_eq!(dump_total("events: Dr\ntotals: 5\n"), None);
        assert_eq!(dump_total("events: Ir\n"), None);
    }

    #[test]
    fn the_newest_dump_of_the_pid_is_found() -> Result<(), BenchError> {
        let dir = tempfile::tempdir()?;
        for name in [
            "cg.42", "cg.42.1", "cg.42.10", "cg.42.9", "cg.43.11", "cg.42.x",
        ] {
            std::fs::write(dir.path().join(name), "")?;
        }
        assert_eq!(
            newest_dump(dir.path(), 42)?,
            Some((10, dir.path().join("cg.42.10")))
        );
        assert_eq!(newest_dump(dir.path(), 44)?, None);
        Ok(())
    }

    fn comparison(id: &str, variants: &[(&str, Listener)]) -> Comparison {
        Comparison {
            id: id.into(),
            title: id.into(),
            variants: variants
                .iter()
                .map(|(label, listener)| Variant::new(*label, Role::Probe, listener.clone()))
                .collect(),
            paths: vec!["/".into()],
            headers: Vec::new(),
            table: None,
        }
    }

    #[test]
    fn comparisons_are_packed_into_envoys_by_their_wasm_modules() {
        let with = |modules: &[&str]| {
            let mut listener = Listener::new("l", RouteConfig::to_cluster("sink"));
            for module in modules {
                listener = listener.filter(WasmFilter::new(*module, format!("/{module}.wasm"), ""));
            }
            listener
        };
        let comparisons = [
            comparison(
                "attribution",
                &[("a", with(&["floor"])), ("b", with(&["router"]))],
            ),
            comparison(
                "headers",
                &[("a", with(&["floor"])), ("b", with(&["headers"]))],
            ),
            comparison(
                "fault",
                &[("a", with(&["floor", "fault"])), ("n", with(&[]))],
            ),
            comparison(
                "metrics",
                &[("a", with(&["floor"])), ("b", with(&["metrics"]))],
            ),
            comparison("floor", &[("a", with(&["floor"]))]),
        ];
        assert_eq!(envoys(&comparisons), [vec![0, 1], vec![2, 3, 4]]);
        assert!(envoys(&[]).is_empty());
    }

    #[test]
    fn identical_listeners_are_shared_and_clashing_names_renamed() {
        let to = |name: &str, cluster: &str| Listener::new(name, RouteConfig::to_cluster(cluster));
        let first = comparison(
            "a",
            &[("floor", to("floor", "sink")), ("m", to("module", "x"))],
        );
        let second = comparison(
            "b",
            &[("m", to("module", "y")), ("floor", to("floor", "sink"))],
        );
        let (listeners, names) = merge_listeners(&[first, second]);
        let bound: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(bound, ["floor", "module", "b-module"]);
        assert_eq!(names, [vec!["floor", "module"], vec!["b-module", "floor"]]);
    }
}
