//! A real Prometheus (Debian's `prometheus` package) scraping Envoys on loopback, queried
//! through its HTTP API, the way Grafana queries it.
//!
//! Each [`Prometheus`] has its own scratch directory (config and TSDB), listens on a free
//! loopback port and is stopped when dropped. `PROMETHEUS_BIN` overrides the binary.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};
use serde_json::{json, Value};

use crate::{Client, HarnessError, Result};

/// How long Prometheus gets to exit after SIGTERM before it is killed.
const GRACE_PERIOD: Duration = Duration::from_secs(5);

/// How long Prometheus may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many free ports are tried: another process may take the one picked before
/// Prometheus binds it.
const PORT_ATTEMPTS: usize = 3;

/// The scrape job's name, the `job` label of every scraped series.
pub const PROMETHEUS_JOB: &str = "envoy";

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    address: SocketAddr,
    log_path: PathBuf,
    client: Client,
    _dir: tempfile::TempDir,
}

/// One series of an instant query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// Its labels (`__name__` included when the expression keeps it).
    pub labels: BTreeMap<String, String>,
    /// Its value (NaN and ±Inf as Prometheus gives them).
    pub value: f64,
}

impl PromSample {
    /// The value of label `name`, or "" as PromQL treats a missing label.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

impl Prometheus {
    /// The binary: `PROMETHEUS_BIN`, else `prometheus` on `PATH` (`make system-packages`
    /// installs Debian's).
    pub fn binary() -> Result<PathBuf> {
        if let Some(path) = std::env::var_os("PROMETHEUS_BIN") {
            return Ok(PathBuf::from(path));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("prometheus"))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                io_error(
                    "finding prometheus (install Debian's package: make system-packages, \
                     or set PROMETHEUS_BIN)",
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )
            })
    }

    /// Starts Prometheus scraping `/stats/prometheus` of each admin address in `targets`
    /// every `scrape_interval`, and waits until it is ready.
    pub async fn start(targets: &[SocketAddr], scrape_interval: Duration) -> Result<Self> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::start_once(targets, scrape_interval).await {
                Ok(prometheus) => return Ok(prometheus),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| http_error("starting prometheus", "no attempt")))
    }

    async fn start_once(targets: &[SocketAddr], scrape_interval: Duration) -> Result<Self> {
        let binary = Self::binary()?;
        let dir = tempfile::Builder::new()
            .prefix("prometheus-")
            .tempdir()
            .map_err(|e| io_error("creating a temporary directory", e))?;
        let interval = format!("{}ms", scrape_interval.as_millis());
        let targets: Vec<String> = targets.iter().map(SocketAddr::to_string).collect();
        // JSON is YAML: Prometheus reads this as its config file.
        let config = json!({
            "global": { "scrape_interval": interval, "scrape_timeout": interval },
            "scrape_configs": [{
                "job_name": PROMETHEUS_JOB,
                "metrics_path": "/stats/prometheus",
                "static_configs": [{ "targets": targets }],
            }],
        });
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config.to_string())
            .map_err(|e| io_error(&format!("writing {}", config_path.display()), e))?;
        let address = free_loopback_port()?;
        let log_path = dir.path().join("prometheus.log");
        let mut command = Command::new(&binary);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .arg("--log.level=warn");
        let child = spawn_logged(command, &log_path)?;
        let mut prometheus = Prometheus {
            child,
            address,
            log_path,
            client: Client::http1(),
            _dir: dir,
        };
        prometheus.wait_ready().await?;
        Ok(prometheus)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("{}/-/ready", self.url());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(http_error(
                    "starting prometheus",
                    format!("it exited with {status}:\n{}", read_lossy(&self.log_path)),
                ));
            }
            if let Ok(response) = self.client.get(&url).send().await {
                if response.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(http_error(
                    "starting prometheus",
                    format!(
                        "not ready within {READY_TIMEOUT:?}:\n{}",
                        read_lossy(&self.log_path)
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Everything Prometheus logged.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// Evaluates `expr` at `time` (Unix seconds; now when `None`) through `/api/v1/query`.
    pub async fn query(&self, expr: &str, time: Option<f64>) -> Result<Vec<PromSample>> {
        let mut url = format!("{}/api/v1/query?query={}", self.url(), encode(expr));
        if let Some(time) = time {
            url.push_str(&format!("&time={time:.3}"));
        }
        let data = self.api(&url, expr).await?;
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .map(|series| series.iter().map(sample).collect())
                .unwrap_or_else(|| Ok(Vec::new())),
            Some("scalar") => Ok(vec![PromSample {
                labels: BTreeMap::new(),
                value: number(&data["result"][1]),
            }]),
            other => Err(http_error(
                format!("query {expr}"),
                format!("unexpected result type {other:?}: {data}"),
            )),
        }
    }

    /// The label sets of the series `matcher` selects, through `/api/v1/series` (what
    /// Grafana's `label_values(…)` reads).
    pub async fn series(&self, matcher: &str) -> Result<Vec<BTreeMap<String, String>>> {
        let url = format!("{}/api/v1/series?match[]={}", self.url(), encode(matcher));
        let data = self.api(&url, matcher).await?;
        let series = data.as_array().cloned().unwrap_or_default();
        Ok(series.iter().map(labels).collect())
    }

    async fn api(&self, url: &str, what: &str) -> Result<Value> {
        let response = self.client.get(url).send().await?;
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|e| http_error(format!("prometheus {what}"), format!("not JSON: {e}")))?;
        if response.status != 200 || body["status"] != "success" {
            return Err(http_error(
                format!("prometheus {what}"),
                format!("{}: {body}", response.status),
            ));
        }
        Ok(body["data"].clone())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A loopback port nothing listens on now.
fn free_loopback_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| io_error("finding a free port", e))?;
    listener
        .local_addr()
        .map_err(|e| io_error("finding a free port", e))
}

/// Starts `command` with stdout and stderr both written to the file at `output` (a file never
/// fills up and stalls the child, as a pipe could).
fn spawn_logged(mut command: Command, output: &Path) -> Result<Child> {
    let open_error = |e| io_error(&format!("creating {}", output.display()), e);
    let stdout = File::create(output).map_err(open_error)?;
    let stderr = stdout.try_clone().map_err(open_error)?;
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| io_error(&format!("starting {command:?}"), e))
}

/// SIGTERM, then SIGKILL after [`GRACE_PERIOD`]; always reaped.
fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // Failure means the process is already gone, which is what we want.
    let _ = kill_process(Pid::from_child(child), Signal::TERM);
    let deadline = Instant::now() + GRACE_PERIOD;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            _ => return,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A text file's content, for showing to a person.
fn read_lossy(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

fn io_error(context: &str, source: std::io::Error) -> HarnessError {
    HarnessError::Io {
        context: context.to_owned(),
        source,
    }
}

fn http_error(context: impl Into<String>, detail: impl std::fmt::Display) -> HarnessError {
    HarnessError::Http {
        context: context.into(),
        detail: detail.to_string(),
    }
}

fn sample(series: &Value) -> Result<PromSample> {
    Ok(PromSample {
        labels: labels(&series["metric"]),
        value: number(&series["value"][1]),
    })
}

fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Prometheus sends sample values as strings ("1.5", "NaN", "+Inf").
fn number(value: &Value) -> f64 {
    match value.as_str() {
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(text) => text.parse().unwrap_or(f64::NAN),
        None => f64::NAN,
    }
}

/// Percent-encodes a query parameter (everything but unreserved characters).
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_encoded() {
        assert_eq!(
            encode(r#"sum(x{a=~"b.*"}[5s])"#),
            "sum%28x%7Ba%3D~%22b.%2A%22%7D%5B5s%5D%29"
        );
    }

    #[test]
    fn values_come_as_strings() {
        assert_eq!(number(&json!("1.5")), 1.5);
        assert!(number(&json!("NaN")).is_nan());
        assert_eq!(number(&json!("+Inf")), f64::INFINITY);
    }
}
