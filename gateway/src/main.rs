//! `make gateway CONFIG=<dir> PORT=<port> ADMIN_PORT=<port>` (`gateway run DIR`): runs Envoy as a
//! stand-in for istio-ingressgateway, built from the Istio resources in `<dir>`, until SIGINT or
//! SIGTERM, and applies every change to `<dir>` to the running Envoy (LDS and CDS from files).
//! Envoy's log follows on stderr.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use envoy_runner::{Envoy, EnvoyOptions, UpdateOutcome};
use gateway::finding::Level;
use gateway::plan::{plan, Options, Plan, LISTENER};
use gateway::request::Request;
use gateway::routing::Routing;
use gateway::watch::{self, Watch};

const USAGE: &str = "usage: gateway run DIR [--port PORT] [--port-map N=PORT,...] [--admin-port PORT] [--cache-dir DIR] [--gateway NAME] [--access-log on|off]
       gateway [run] --config DIR [the same options]
       gateway render --config DIR [--output DIR] [--gateway NAMESPACE/NAME]

run: serves DIR on Envoy until SIGINT or SIGTERM, and applies each change to DIR's *.yaml files
       to the running Envoy (same ports; the old listener's connections drain); a change with
       errors is reported and the last good config keeps serving
  --config DIR       Istio resources: every *.yaml in DIR (multi-document)
  --port PORT        where the Gateway's first HTTP server is served on 127.0.0.1 (default 8080; 0: any free port)
  --port-map 443=8443,...  where the other server ports are served (default: free ports, printed at start)
  --admin-port PORT  Envoy's admin interface on 127.0.0.1 (default 15000; 0: any free port)
  --cache-dir DIR    the Wasm module cache (default $XDG_CACHE_HOME or ~/.cache, /istio-wasm-gateway)
  --gateway NAME     the Gateway (namespace/name or name) to serve (default: the first with a plain
                     HTTP server); `mesh` routes as a sidecar: the VirtualServices without gateways
  --access-log on|off  Istio's access log on stdout (default: $ACCESS_LOG, else on)

       gateway check DIR [--gateway NAME] [--cache-dir DIR]
       gateway explain DIR METHOD URL [-H 'name: value']... [--gateway NAME]
       gateway test DIR CASES.yaml [--gateway NAME]

check: what `gateway --config DIR` would refuse or report, and Istio's cross-reference analysis
       (istioctl analyze), one line per finding; exit status 1 on any error
explain: how the router routes one request (natively, no Envoy): the rules it passed and why,
       the rule and match block that took it, what it decides
test: the requests of CASES.yaml with their expected outcomes (see README); exit status 1 on
       any failure

render: writes the router's WasmPlugin, TrafficExtension and EnvoyFilter for a cluster
  --output DIR       where (default dist/render): wasmplugin/, trafficextension/, envoyfilter/
  --gateway NAME     the Gateway whose VirtualServices the router serves (default: the one
                     `gateway --config DIR` serves)";

/// How often Envoy's log is copied to stderr and its liveness checked.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// How often the config directory is looked at; a change is applied on the poll after the
/// one that saw it, when it held still (see [`Watch::poll`]).
const WATCH_INTERVAL: Duration = Duration::from_millis(300);

/// How long the connections of a replaced listener may stay, each told to close on its next
/// response: istio-agent's default `drainDuration`, with its immediate drain strategy.
const DRAIN_TIME: Duration = Duration::from_secs(45);

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    match args.peek().map(String::as_str) {
        Some("render") => {
            args.next();
            return render(args);
        }
        Some("check" | "explain" | "test") => {
            let command = args.next().unwrap_or_default();
            return tools(&command, args.collect());
        }
        // `run` is also what the gateway does without a command.
        Some("run") => {
            args.next();
        }
        _ => {}
    }
    let mut options = match parse_args(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("gateway: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Envoy writes the access log into a file of this directory, which `serve` copies to stdout.
    let scratch = match tempfile::Builder::new().prefix("gateway-").tempdir() {
        Ok(scratch) => scratch,
        Err(error) => {
            eprintln!("gateway: {error}");
            return ExitCode::FAILURE;
        }
    };
    if options.access_log.is_some() {
        options.access_log = Some(scratch.path().join("access.log"));
    }
    // Before the plan reads the files, so that an edit made meanwhile is applied.
    let watch = Watch::new(&options.config_dir);
    let plan = match plan(&options) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "gateway: {} error(s) in {}; Envoy not started",
                errors.0.len(),
                options.config_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    for line in &plan.summary {
        println!("{line}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gateway: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(plan, &options, watch)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    mut plan: Plan,
    options: &Options,
    mut watch: Watch,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // Listeners and clusters from files Envoy watches, so that a change to the directory
    // reaches the running Envoy (`Envoy::update`) without a restart.
    plan.bootstrap = std::mem::take(&mut plan.bootstrap)
        .with_dynamic_listeners()
        .with_dynamic_clusters();
    let envoy_options = EnvoyOptions {
        ready_timeout: Duration::from_secs(60),
        // The access log reaches stdout within a copy interval or two of the request.
        file_flush_interval: Some(FOLLOW_INTERVAL),
        drain_time: Some(DRAIN_TIME),
        ..EnvoyOptions::default()
    };
    let mut envoy = Envoy::start_with(&plan.bootstrap, &envoy_options).await?;
    // As the next plans will have them, so that an edit that changes nothing is seen as such.
    watch::pin_ports(&mut plan.bootstrap, &envoy.listener_ports());
    let url = |listener: &gateway::plan::ServedListener| -> Result<String, envoy_runner::Error> {
        let scheme = if listener.tls { "https" } else { "http" };
        Ok(format!(
            "{scheme}://127.0.0.1:{}",
            envoy.listener_port(&listener.name)?
        ))
    };
    for listener in &plan.listeners {
        println!(
            "listening on {} for Gateway port {} (listener {})",
            url(listener)?,
            listener.gateway_port,
            listener.name
        );
    }
    let first = plan
        .listeners
        .iter()
        .find(|listener| listener.name == LISTENER);
    println!(
        "gateway listening on {} (Envoy admin: http://{})",
        first.map_or_else(|| envoy.listener_url(LISTENER), url)?,
        envoy.admin_address()
    );
    let _ = std::io::stdout().flush();
    let mut log = std::fs::File::open(envoy.log_path())?;
    let mut requests = AccessLog::new(options.access_log.as_deref());
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ticks = tokio::time::interval(FOLLOW_INTERVAL);
    let mut polls = tokio::time::interval(WATCH_INTERVAL);
    let mut running = Running {
        plan,
        generation: 1,
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = ticks.tick() => {
                follow(&mut log);
                requests.follow();
                if let Some(status) = envoy.exit_status()? {
                    eprintln!("gateway: envoy exited on its own ({status})");
                    return Ok(ExitCode::FAILURE);
                }
            }
            _ = polls.tick() => {
                if watch.poll() {
                    // Envoy's log so far first, so that what the reload prints comes after it.
                    follow(&mut log);
                    running.reload(options, &envoy).await;
                    let _ = std::io::stdout().flush();
                }
            }
        }
    }
    drop(envoy);
    follow(&mut log);
    requests.follow();
    println!("gateway stopped");
    Ok(ExitCode::SUCCESS)
}

/// The config Envoy runs, and how many configs it has run (the first is generation 1).
struct Running {
    plan: Plan,
    generation: u64,
}

impl Running {
    /// Plans the directory again and moves Envoy to the result; on any error (in the files, in
    /// fetching a module, or Envoy's own) says so and leaves Envoy as it was.
    async fn reload(&mut self, options: &Options, envoy: &Envoy) {
        let dir = options.config_dir.display();
        let keeps_serving = format!(
            "the last good config (generation {}) keeps serving",
            self.generation
        );
        // Planning reads files and may fetch modules: not on the runtime's own threads.
        let planned = tokio::task::block_in_place(|| plan(options));
        let mut next = match planned {
            Ok(next) => next,
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!(
                    "gateway: {} error(s) in {dir}; {keeps_serving}",
                    errors.0.len()
                );
                return;
            }
        };
        next.bootstrap = std::mem::take(&mut next.bootstrap)
            .with_dynamic_listeners()
            .with_dynamic_clusters();
        let before = envoy.listener_ports();
        watch::pin_ports(&mut next.bootstrap, &before);
        if watch::restart_only(&self.plan.bootstrap, &next.bootstrap) {
            eprintln!(
                "note: {dir}: the change also touches Envoy's bootstrap (admin, runtime or stats), \
                 which only a restart applies; the listeners and clusters are applied now"
            );
        }
        for note in watch::new_lines(&self.plan.notes, &next.notes) {
            eprintln!("note: {note}");
        }
        if !watch::resources_changed(&self.plan.bootstrap, &next.bootstrap) {
            println!(
                "gateway: {dir} changed; Envoy already runs it (generation {})",
                self.generation
            );
            self.plan = next;
            return;
        }
        let bootstrap = &next.bootstrap;
        match envoy
            .update(&bootstrap.clusters, &bootstrap.listeners)
            .await
        {
            Ok(UpdateOutcome::Accepted) => {}
            Ok(UpdateOutcome::Rejected { what, reason }) => {
                eprintln!("gateway: Envoy rejected the {what} of {dir}: {reason}");
                eprintln!("gateway: {keeps_serving}");
                return;
            }
            Err(error) => {
                // Envoy did not answer as expected: what it runs is not known for sure.
                eprintln!("gateway: applying {dir}: {error}");
                eprintln!(
                    "gateway: Envoy may still run generation {}; restart the gateway if it misbehaves",
                    self.generation
                );
                return;
            }
        }
        self.generation += 1;
        for line in watch::new_lines(&self.plan.summary, &next.summary) {
            println!("{line}");
        }
        for (name, port) in envoy.listener_ports() {
            if !before.iter().any(|(known, _)| *known == name) {
                println!("gateway: listener {name} on http://127.0.0.1:{port}");
            }
        }
        println!("gateway: applied {dir} (generation {})", self.generation);
        self.plan = next;
    }
}

/// Copies what Envoy logged since the last call to stderr.
fn follow(log: &mut std::fs::File) {
    let mut new = Vec::new();
    if log.read_to_end(&mut new).is_ok() && !new.is_empty() {
        let _ = std::io::stderr().write_all(&new);
    }
}

/// The access log file Envoy appends to, copied to stdout as it grows. Envoy creates it once its
/// listener is up, so it is opened on the first copy that finds it.
struct AccessLog<'a> {
    path: Option<&'a std::path::Path>,
    file: Option<std::fs::File>,
}

impl<'a> AccessLog<'a> {
    fn new(path: Option<&'a std::path::Path>) -> Self {
        AccessLog { path, file: None }
    }

    fn follow(&mut self) {
        if self.file.is_none() {
            self.file = self.path.and_then(|path| std::fs::File::open(path).ok());
        }
        if let Some(file) = &mut self.file {
            let mut new = Vec::new();
            if file.read_to_end(&mut new).is_ok() && !new.is_empty() {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(&new);
                let _ = stdout.flush();
            }
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut config_dir: Option<PathBuf> = None;
    let mut port = 8080;
    let mut ports = std::collections::BTreeMap::new();
    let mut admin_port = 15000;
    let mut cache_dir = default_cache_dir();
    let mut gateway = None;
    let mut access_log = gateway::access_log::enabled(std::env::var("ACCESS_LOG").ok().as_deref());
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .filter(|v| !v.is_empty())
                .ok_or(format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--config" => config_dir = Some(PathBuf::from(value()?)),
            "--port" => port = parse_port(&arg, &value()?)?,
            "--port-map" => {
                for pair in value()?.split(',').filter(|pair| !pair.is_empty()) {
                    let (number, local) = pair.split_once('=').ok_or(format!(
                        "--port-map {pair:?}: GATEWAY_PORT=LOCAL_PORT expected"
                    ))?;
                    let number = number
                        .parse::<u32>()
                        .ok()
                        .filter(|number| (1..=65535).contains(number))
                        .ok_or(format!(
                            "--port-map {pair:?}: {number:?} is not a port number"
                        ))?;
                    ports.insert(number, parse_port(&arg, local)?);
                }
            }
            "--admin-port" => admin_port = parse_port(&arg, &value()?)?,
            "--cache-dir" => cache_dir = PathBuf::from(value()?),
            "--gateway" => gateway = Some(value()?),
            "--access-log" => access_log = gateway::access_log::enabled(Some(&value()?)),
            "-h" | "--help" => return Err("help".into()),
            other if other.starts_with('-') => return Err(format!("unknown argument {other:?}")),
            // `gateway run DIR`.
            dir if config_dir.is_none() => config_dir = Some(PathBuf::from(dir)),
            other => {
                return Err(format!(
                    "unexpected argument {other:?}: the config directory is given once"
                ))
            }
        }
    }
    Ok(Options {
        config_dir: config_dir.ok_or("the config directory (DIR or --config DIR) is required")?,
        port,
        ports,
        admin_port,
        cache_dir,
        gateway,
        // The real path is chosen in `main`, next to nothing the user owns.
        access_log: access_log.then(PathBuf::new),
    })
}

fn parse_port(option: &str, value: &str) -> Result<u16, String> {
    value
        .parse()
        .map_err(|_| format!("{option} {value}: not a port number"))
}

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("istio-wasm-gateway")
}

/// `gateway render`: see [`gateway::render`].
fn render(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut config_dir = None;
    let mut output = PathBuf::from("dist/render");
    let mut gateway = None;
    while let Some(arg) = args.next() {
        let value = args.next().filter(|value| !value.is_empty());
        let Some(value) = value else {
            eprintln!("gateway render: {arg} needs a value\n{USAGE}");
            return ExitCode::from(2);
        };
        match arg.as_str() {
            "--config" => config_dir = Some(PathBuf::from(value)),
            "--output" => output = PathBuf::from(value),
            "--gateway" => gateway = Some(value),
            other => {
                eprintln!("gateway render: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(config_dir) = config_dir else {
        eprintln!("gateway render: --config is required\n{USAGE}");
        return ExitCode::from(2);
    };
    let options = gateway::render::RenderOptions {
        config_dir,
        gateway,
    };
    let rendered = match gateway::render::render(&options, &distribution::workspace::root()) {
        Ok(rendered) => rendered,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "gateway render: {} error(s) in {}; nothing written",
                errors.0.len(),
                options.config_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    for note in &rendered.notes {
        eprintln!("note: {note}");
    }
    match gateway::render::write(&rendered, &output) {
        Ok(paths) => {
            println!("rendered for Gateway {}:", rendered.gateway);
            for path in paths {
                println!("  {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gateway render: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `gateway check|explain|test DIR ...`: positional arguments, then `-H`, `--gateway` and
/// `--cache-dir` anywhere after the command.
fn tools(command: &str, args: Vec<String>) -> ExitCode {
    let mut positional = Vec::new();
    let mut headers = Vec::new();
    let mut gateway = None;
    let mut cache_dir = default_cache_dir();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let flag = matches!(
            arg.as_str(),
            "-H" | "--header" | "--gateway" | "--cache-dir"
        );
        if !flag {
            positional.push(arg);
            continue;
        }
        let Some(value) = args.next() else {
            eprintln!("gateway {command}: {arg} needs a value\n{USAGE}");
            return ExitCode::from(2);
        };
        match arg.as_str() {
            "--gateway" => gateway = Some(value),
            "--cache-dir" => cache_dir = PathBuf::from(value),
            _ => headers.push(value),
        }
    }
    let usage = |problem: &str| {
        eprintln!("gateway {command}: {problem}\n{USAGE}");
        ExitCode::from(2)
    };
    let gateway = gateway.as_deref();
    match (command, positional.as_slice()) {
        ("check", [dir]) if headers.is_empty() => check(Path::new(dir), gateway, &cache_dir),
        ("explain", [dir, method, url]) => explain(Path::new(dir), method, url, &headers, gateway),
        ("test", [dir, cases]) if headers.is_empty() => {
            route_test(Path::new(dir), Path::new(cases), gateway)
        }
        ("check", _) => usage("expected DIR"),
        ("explain", _) => usage("expected DIR METHOD URL"),
        _ => usage("expected DIR CASES.yaml"),
    }
}

fn check(dir: &Path, gateway: Option<&str>, cache_dir: &Path) -> ExitCode {
    let findings = gateway::check::check(dir, gateway, cache_dir);
    let count = |level| findings.iter().filter(|f| f.level == level).count();
    let (errors, warnings) = (count(Level::Error), count(Level::Warning));
    let mut lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    lines.push(if errors + warnings == 0 {
        format!(
            "No validation issues found when analyzing {}.",
            dir.display()
        )
    } else {
        format!(
            "{errors} error(s), {warnings} warning(s) in {}",
            dir.display()
        )
    });
    print_lines(&lines);
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The route table of `dir`, its errors printed.
fn routing(command: &str, dir: &Path, gateway: Option<&str>) -> Option<Routing> {
    match gateway::routing::load(dir, gateway) {
        Ok(routing) => Some(routing),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "gateway {command}: {} error(s) in {} (see `gateway check`)",
                errors.0.len(),
                dir.display()
            );
            None
        }
    }
}

fn explain(
    dir: &Path,
    method: &str,
    url: &str,
    headers: &[String],
    gateway: Option<&str>,
) -> ExitCode {
    let request = parse_request(method, url, headers);
    let request = match request {
        Ok(request) => request,
        Err(problem) => {
            eprintln!("gateway explain: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some(routing) = routing("explain", dir, gateway) else {
        return ExitCode::FAILURE;
    };
    print_lines(&gateway::explain::explain(&routing, &request));
    ExitCode::SUCCESS
}

fn route_test(dir: &Path, cases: &Path, gateway: Option<&str>) -> ExitCode {
    let cases = match gateway::route_test::read(cases) {
        Ok(cases) => cases,
        Err(problem) => {
            eprintln!("gateway test: {problem}");
            return ExitCode::from(2);
        }
    };
    let Some(routing) = routing("test", dir, gateway) else {
        return ExitCode::FAILURE;
    };
    let (lines, passed) = gateway::route_test::run(&routing, &cases);
    print_lines(&lines);
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parse_request(method: &str, url: &str, headers: &[String]) -> Result<Request, String> {
    let mut request = Request::new(method, url)?;
    for header in headers {
        request = request.header(header)?;
    }
    Ok(request)
}

/// Writes `lines` to stdout, stopping quietly when the reader has gone (`| head`): the exit
/// status still says what was found.
fn print_lines(lines: &[String]) {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if writeln!(stdout, "{line}").is_err() {
            return;
        }
    }
    let _ = stdout.flush();
}
