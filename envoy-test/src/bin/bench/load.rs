//! Load generators: `wrk` for HTTP/1.1 keep-alive, `h2load` for HTTP/2 (h2c), each turned into
//! one [`Sample`] of requests per second and latency percentiles; and [`send`], a fixed number of
//! requests one at a time (for counting instructions, not for load).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stats::percentile;
use crate::BenchError;

/// The wire protocol a round is driven over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    Http1,
    Http2,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Http1, Protocol::Http2];

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }

    /// The command line, for the report.
    pub fn tool(self, connections: u32) -> String {
        match self {
            Protocol::Http1 => format!("wrk -t1 -c{connections} (keep-alive, Lua request list)"),
            Protocol::Http2 => format!(
                "h2load -t1 -c{} -m{H2_STREAMS_PER_CONNECTION} (h2c prior knowledge)",
                connections / H2_STREAMS_PER_CONNECTION
            ),
        }
    }
}

/// h2load multiplexes: the same number of requests in flight as wrk, over fewer connections.
const H2_STREAMS_PER_CONNECTION: u32 = 4;

/// What one load run sends.
#[derive(Debug, Clone)]
pub struct Load<'a> {
    /// `http://127.0.0.1:PORT`.
    pub base_url: &'a str,
    /// Request paths, sent in turn.
    pub paths: &'a [String],
    pub headers: &'a [(String, String)],
    /// Requests in flight.
    pub connections: u32,
    pub duration: Duration,
}

/// One measured run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Sample {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub requests: u64,
    /// Connection errors, failed streams and non-2xx/3xx answers.
    pub failures: u64,
    /// Envoy's CPU time (all threads, user + system) over the run, per request served, in µs;
    /// absent in results saved before it was measured.
    #[serde(default)]
    pub cpu_us_per_request: Option<f64>,
}

/// Runs `load` with the tool for `protocol`; `scratch` holds scripts and logs.
pub fn run(protocol: Protocol, load: &Load, scratch: &Path) -> Result<Sample, BenchError> {
    match protocol {
        Protocol::Http1 => run_wrk(load, scratch),
        Protocol::Http2 => run_h2load(load, scratch),
    }
}

fn run_wrk(load: &Load, scratch: &Path) -> Result<Sample, BenchError> {
    let script = scratch.join("requests.lua");
    std::fs::write(&script, wrk_script(load.paths, load.headers))?;
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{}", load.connections)])
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .args(["--timeout", "5s", "-s"])
        .arg(&script)
        .arg(load.base_url)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("BENCH "))
        .ok_or_else(|| {
            format!(
                "wrk printed no result ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("wrk result {line:?}: {error}"))?;
    let [requests, duration_us, errors, non_2xx, p50, p99, p999] = numbers[..] else {
        return Err(format!("wrk result {line:?}: expected 7 numbers").into());
    };
    Ok(Sample {
        rps: requests / (duration_us / 1e6),
        p50_us: p50,
        p99_us: p99,
        p999_us: p999,
        requests: requests as u64,
        failures: (errors + non_2xx) as u64,
        cpu_us_per_request: None,
    })
}

/// A wrk script that cycles through the paths (pre-formatted requests, so Lua costs little)
/// and prints one `BENCH` line: requests, duration µs, errors, non-2xx, p50, p99, p99.9 µs.
fn wrk_script(paths: &[String], headers: &[(String, String)]) -> String {
    let mut script = String::from("local paths = {\n");
    for path in paths {
        let _ = writeln!(script, "  {path:?},");
    }
    script.push_str("}\nlocal headers = {\n");
    for (name, value) in headers {
        let _ = writeln!(script, "  [{name:?}] = {value:?},");
    }
    script.push_str(
        r#"}
local prepared = {}
local turn = 0
init = function(args)
  for i, path in ipairs(paths) do prepared[i] = wrk.format("GET", path, headers) end
end
request = function()
  turn = turn % #prepared + 1
  return prepared[turn]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %.1f %.1f %.1f\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#,
    );
    script
}

/// Sends `requests` requests to `base_url`, cycling through `paths`, one at a time over one
/// connection (`h2load -c1 -m1`; with `--h1` for HTTP/1.1, else h2c prior knowledge), and fails
/// unless every one was answered 2xx.
pub fn send(
    protocol: Protocol,
    base_url: &str,
    paths: &[String],
    headers: &[(String, String)],
    requests: u64,
) -> Result<(), BenchError> {
    let mut command = Command::new("h2load");
    command.args(["-t1", "-c1", "-m1", &format!("-n{requests}")]);
    if protocol == Protocol::Http1 {
        command.arg("--h1");
    }
    for (name, value) in headers {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    command.args(paths.iter().map(|path| format!("{base_url}{path}")));
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    all_answered(&stdout, requests).map_err(|problem| {
        format!(
            "h2load {} to {base_url}: {problem} ({}):\n{stdout}{}",
            protocol.label(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into()
    })
}

/// Whether h2load's summary says that all of `requests` succeeded with a 2xx status: its lines
/// `requests: N total, N started, N done, N succeeded, 0 failed, 0 errored, 0 timeout` and
/// `status codes: N 2xx, 0 3xx, 0 4xx, 0 5xx`.
fn all_answered(stdout: &str, requests: u64) -> Result<(), String> {
    let count = |prefix: &str, what: &str| -> Option<u64> {
        let line = stdout.lines().find_map(|line| line.strip_prefix(prefix))?;
        line.split(", ").find_map(|field| {
            let (number, name) = field.trim().split_once(' ')?;
            (name == what).then(|| number.parse().ok()).flatten()
        })
    };
    let succeeded = count("requests: ", "succeeded").ok_or("no `requests:` summary")?;
    let ok = count("status codes: ", "2xx").ok_or("no `status codes:` summary")?;
    if succeeded == requests && ok == requests {
        Ok(())
    } else {
        Err(format!(
            "{succeeded} of {requests} requests succeeded, {ok} answered 2xx"
        ))
    }
}

fn run_h2load(load: &Load, scratch: &Path) -> Result<Sample, BenchError> {
    let log = scratch.join("h2load.log");
    // h2load appends to its log file: start each run with an empty one.
    if log.exists() {
        std::fs::remove_file(&log)?;
    }
    let mut command = Command::new("h2load");
    command
        .args([
            "-t1",
            &format!("-c{}", load.connections / H2_STREAMS_PER_CONNECTION),
        ])
        .arg(format!("-m{H2_STREAMS_PER_CONNECTION}"))
        .arg(format!("-D{}", load.duration.as_secs().max(1)))
        .arg(format!("--log-file={}", log.display()));
    for (name, value) in load.headers {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    command.args(
        load.paths
            .iter()
            .map(|path| format!("{}{path}", load.base_url)),
    );
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rps = stdout
        .lines()
        .find_map(|line| line.strip_prefix("finished in "))
        .and_then(|rest| rest.split(", ").nth(1))
        .and_then(|field| field.strip_suffix(" req/s"))
        .and_then(|number| number.parse::<f64>().ok())
        .ok_or_else(|| format!("h2load printed no rate ({}): {stdout}", output.status))?;
    let mut latencies = Vec::new();
    let mut failures = 0;
    for row in std::fs::read_to_string(&log)?.lines() {
        let mut columns = row.split('\t').skip(1);
        let status: i32 = columns.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
        let latency: Option<f64> = columns.next().and_then(|s| s.parse().ok());
        if !(200..400).contains(&status) {
            failures += 1;
        }
        latencies.extend(latency);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Sample {
        rps,
        p50_us: percentile(&latencies, 50.0),
        p99_us: percentile(&latencies, 99.0),
        p999_us: percentile(&latencies, 99.9),
        requests: latencies.len() as u64,
        failures,
        cpu_us_per_request: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = "finished in 2.51s, 398.41 req/s, 61.47KB/s
requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 1000 2xx, 0 3xx, 0 4xx, 0 5xx
";

    #[test]
    fn every_request_answered_2xx_is_a_success() {
        assert_eq!(all_answered(SUMMARY, 1000), Ok(()));
    }

    #[test]
    fn a_failed_or_non_2xx_request_is_an_error() {
        assert!(all_answered(SUMMARY, 1001).is_err());
        let not_found = SUMMARY.replace("1000 2xx, 0 3xx, 0 4xx", "999 2xx, 0 3xx, 1 4xx");
        assert_eq!(
            all_answered(&not_found, 1000),
            Err("1000 of 1000 requests succeeded, 999 answered 2xx".to_owned())
        );
        let reset = SUMMARY.replace(
            "1000 done, 1000 succeeded, 0 failed",
            "1000 done, 998 succeeded, 2 failed",
        );
        assert!(all_answered(&reset, 1000).is_err());
        assert!(all_answered("connect failed", 1000).is_err());
    }
}
