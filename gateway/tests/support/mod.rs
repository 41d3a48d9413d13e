//! Running the gateway binary against a config directory, and serving a module over http.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A running `gateway` process; stopped with SIGTERM when dropped.
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `http://127.0.0.1:PORT` of Envoy's admin interface.
    pub admin_url: String,
    /// What it printed before it listened: one line per filter and cluster.
    pub summary: Vec<String>,
    stderr_path: std::path::PathBuf,
    /// What it printed after it listened (the access log), kept by the reader thread, which
    /// reads stdout until the gateway exits, so that the gateway never writes into a closed pipe.
    later: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// Starts the gateway on free ports and waits until it says it is listening.
    pub fn start(config: &Path, cache: &Path, scratch: &Path) -> Result<Gateway> {
        Self::start_with(config, cache, scratch, &[])
    }

    /// [`Gateway::start`] with more arguments, e.g. `["--gateway", "mesh"]`.
    pub fn start_with(
        config: &Path,
        cache: &Path,
        scratch: &Path,
        args: &[&str],
    ) -> Result<Gateway> {
        Self::launch(&["--config"], config, cache, scratch, args)
    }

    /// `gateway run DIR` on free ports, with more arguments; waits until it is listening.
    pub fn run(config: &Path, cache: &Path, scratch: &Path, args: &[&str]) -> Result<Gateway> {
        Self::launch(&["run"], config, cache, scratch, args)
    }

    /// The gateway with `leading` before the config directory.
    fn launch(
        leading: &[&str],
        config: &Path,
        cache: &Path,
        scratch: &Path,
        args: &[&str],
    ) -> Result<Gateway> {
        let stderr_path = scratch.join(format!(
            "gateway-{}.stderr",
            config.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(leading)
            .arg(config)
            .args(["--port", "0", "--admin-port", "0"])
            .arg("--cache-dir")
            .arg(cache)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path)?)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (lines, received) = mpsc::channel();
        let later = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&later);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if let Err(mpsc::SendError(line)) = lines.send(line) {
                    if let Ok(mut kept) = kept.lock() {
                        kept.push(line);
                    }
                }
            }
        });
        let mut gateway = Gateway {
            child,
            url: String::new(),
            admin_url: String::new(),
            summary: Vec::new(),
            stderr_path,
            later,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            match received.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("gateway listening on ") {
                        let (url, admin) = rest
                            .split_once(" (Envoy admin: ")
                            .ok_or_else(|| format!("unexpected line {line:?}"))?;
                        gateway.url = url.to_string();
                        gateway.admin_url = admin.trim_end_matches(')').to_string();
                        // From now on the reader thread keeps the lines in `later`.
                        drop(received);
                        return Ok(gateway);
                    }
                    gateway.summary.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Err(format!("the gateway did not start:\n{}", gateway.stderr()).into())
    }

    /// The URL of the listener for Gateway port `number`, from the gateway's
    /// `listening on URL for Gateway port N (listener NAME)` lines.
    pub fn listener(&self, number: u32) -> Option<String> {
        let wanted = format!(" for Gateway port {number} (");
        self.summary.iter().find_map(|line| {
            let rest = line.strip_prefix("listening on ")?;
            let (url, _) = rest.split_once(&wanted)?;
            Some(url.to_string())
        })
    }

    /// What the gateway wrote to stderr: notes, then Envoy's log.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The lines it printed after it listened: Istio's access log, one line per request.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.later
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }

    /// Waits up to 5 s (the gateway copies the log every 200 ms) for `count` lines that contain
    /// `needle`, and returns every line that does.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> Vec<String> {
        self.wait_for_line(needle, count, Duration::from_secs(5))
    }

    /// Waits up to `limit` until `count` lines printed after it listened contain `needle`;
    /// returns every line that does.
    pub fn wait_for_line(&self, needle: &str, count: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let found: Vec<String> = self
                .stdout_lines()
                .into_iter()
                .filter(|line| line.contains(needle))
                .collect();
            if found.len() >= count || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `limit` until stderr contains `needle` `count` times; returns whether it did.
    pub fn wait_for_stderr(&self, needle: &str, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.stderr().matches(needle).count() >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status (killed after 15 s).
    pub fn stop(mut self) -> Result<std::process::ExitStatus> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let _ = kill_process(Pid::from_child(&self.child), Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

/// Runs the gateway expecting it to refuse the config: its exit status and stderr.
pub fn run_expect_failure(
    config: &Path,
    cache: &Path,
) -> Result<(std::process::ExitStatus, String)> {
    let stderr_path = cache.with_extension("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--port", "0", "--admin-port", "0", "--config"])
        .arg(config)
        .arg("--cache-dir")
        .arg(cache)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path)?)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok((status, std::fs::read_to_string(&stderr_path)?));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    Err(format!(
        "the gateway accepted the config and ran:\n{}",
        std::fs::read_to_string(&stderr_path)?
    )
    .into())
}

/// A loopback HTTP/1.1 server answering every request with `body`; stops when dropped.
pub struct FileServer {
    pub url_base: String,
    task: JoinHandle<()>,
}

impl FileServer {
    pub async fn start(body: Vec<u8>) -> Result<FileServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url_base = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let header = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(header.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                });
            }
        });
        Ok(FileServer { url_base, task })
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
