//! `make gateway CONFIG=<dir> PORT=<port> ADMIN_PORT=<port>`: runs Envoy as a stand-in for
//! istio-ingressgateway, built from the Istio resources in `<dir>`, until SIGINT or SIGTERM.
//! Envoy's log follows on stderr.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use envoy_runner::{Envoy, EnvoyOptions};
use gateway::finding::Level;
use gateway::plan::{plan, Options, LISTENER};
use gateway::request::Request;
use gateway::routing::Routing;

const USAGE: &str = "usage: gateway --config DIR [--port PORT] [--port-map N=PORT,...] [--admin-port PORT] [--cache-dir DIR] [--gateway NAME] [--access-log on|off]
       gateway render --config DIR [--output DIR] [--gateway NAMESPACE/NAME]

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
    match runtime.block_on(serve(plan, options.access_log.as_deref())) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    plan: gateway::plan::Plan,
    access_log: Option<&std::path::Path>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let options = EnvoyOptions {
        ready_timeout: Duration::from_secs(60),
        // The access log reaches stdout within a copy interval or two of the request.
        file_flush_interval: Some(FOLLOW_INTERVAL),
        ..EnvoyOptions::default()
    };
    let mut envoy = Envoy::start_with(&plan.bootstrap, &options).await?;
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
    let mut requests = AccessLog::new(access_log);
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ticks = tokio::time::interval(FOLLOW_INTERVAL);
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
        }
    }
    drop(envoy);
    follow(&mut log);
    requests.follow();
    println!("gateway stopped");
    Ok(ExitCode::SUCCESS)
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
    let mut config_dir = None;
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
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Options {
        config_dir: config_dir.ok_or("--config is required")?,
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
