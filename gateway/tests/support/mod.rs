//! Running the gateway binary against a config directory, and serving a module over http;
//! config directories of one Gateway for [`HOST`], the router, and ServiceEntries and
//! DestinationRules in namespace `shop` ([`write_config`], [`service_entry`],
//! [`destination_rule`]).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use envoy_test::{wasm_module, Client};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;
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

    /// The body of Envoy's admin `path` (`/config_dump?resource=dynamic_active_clusters`).
    pub async fn admin(&self, path: &str) -> Result<String> {
        let response = Client::http1()
            .get(format!("{}{path}", self.admin_url))
            .send()
            .await?;
        if response.status != 200 {
            return Err(format!("admin {path}: {} {}", response.status, response.text()).into());
        }
        Ok(response.text())
    }

    /// The HTTP filters of the listener `gateway` (the one on `PORT`), with the wasm filters'
    /// configs, from Envoy's own config dump.
    pub async fn http_filters(&self) -> Result<Vec<Value>> {
        let dump: Value = serde_json::from_str(
            &self
                .admin("/config_dump?resource=dynamic_listeners")
                .await?,
        )?;
        let filters = dump["configs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|listener| listener["name"] == "gateway")
            .and_then(|listener| {
                listener
                    .pointer(
                        "/active_state/listener/filter_chains/0/filters/0/typed_config/http_filters",
                    )
                    .and_then(Value::as_array)
            })
            .ok_or("no http_filters of listener gateway in the config dump")?;
        Ok(filters.clone())
    }

    /// The value of Envoy's counter or gauge `name` (`cluster.outbound|80||a.shop.svc.cluster.local.upstream_cx_total`).
    pub async fn stat(&self, name: &str) -> Result<u64> {
        // The filter is a regex: the last segment of the name has none of its characters.
        let last = name.rsplit('.').next().unwrap_or(name);
        let stats = self.admin(&format!("/stats?filter={last}")).await?;
        let wanted = format!("{name}: ");
        let value = stats
            .lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .ok_or_else(|| format!("no stat {name} in\n{stats}"))?;
        Ok(value.trim().parse()?)
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

/// The host the Gateway of [`write_config`] serves.
pub const HOST: &str = "shop.example.com";

/// A Gateway for `host` ([`HOST`], or `*` for any authority), the router from dist/, and a
/// VirtualService `shop/shop` for it with the `http` routes given (list items indented two
/// spaces, e.g. [`route`]), plus `registry` (ServiceEntries and DestinationRules).
pub fn write_routed_config(dir: &Path, host: &str, http: &str, registry: &str) -> Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(
        dir.join("gateway.yaml"),
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: istio-system}}\n\
             spec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 80, name: http, protocol: HTTP}}\n    hosts: [\"{host}\"]\n\
             ---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: shop, namespace: shop}}\n\
             spec:\n  hosts: [\"{host}\"]\n  gateways: [istio-system/gw]\n  http:\n{http}\
             ---\napiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: router, namespace: istio-system}}\n\
             spec:\n  selector: {{matchLabels: {{istio: ingressgateway}}}}\n  url: file://{}\n  priority: -100\n",
            wasm_module("router")?.display()
        ),
    )?;
    fs::write(dir.join("registry.yaml"), registry)?;
    Ok(())
}

/// [`write_routed_config`] for [`HOST`] with one route sending everything to `shop:9080`.
pub fn write_config(dir: &Path, registry: &str) -> Result<()> {
    write_routed_config(
        dir,
        HOST,
        "  - name: all\n    route: [{destination: {host: shop, port: {number: 9080}}}]\n",
        registry,
    )
}

/// A route of the VirtualService: paths under `prefix` to `host` (short, in namespace `shop`)
/// on `port`, to its `subset` if one is given.
pub fn route(prefix: &str, host: &str, port: u16, subset: Option<&str>) -> String {
    let subset = subset.map_or_else(String::new, |subset| format!(", subset: {subset}"));
    format!(
        "  - match: [{{uri: {{prefix: {prefix}}}}}]\n    route: [{{destination: {{host: {host}, port: {{number: {port}}}{subset}}}}}]\n"
    )
}

/// A ServiceEntry `name` in namespace `shop` for `name.shop.svc.cluster.local`, one port
/// `number` of `protocol` (named as the protocol in lowercase), and `endpoints` (address, port).
pub fn service_entry_for(
    name: &str,
    number: u16,
    protocol: &str,
    resolution: &str,
    endpoints: &[(&str, u16)],
) -> String {
    let port_name = protocol.to_ascii_lowercase();
    let mut out = format!(
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: shop}}\n\
         spec:\n  hosts: [{name}.shop.svc.cluster.local]\n  resolution: {resolution}\n\
         \x20 ports: [{{number: {number}, name: {port_name}, protocol: {protocol}}}]\n  endpoints:\n"
    );
    for (address, port) in endpoints {
        out.push_str(&format!(
            "  - {{address: {address}, ports: {{{port_name}: {port}}}}}\n"
        ));
    }
    out
}

/// The ServiceEntry `shop` on port 9080 (HTTP).
pub fn service_entry(resolution: &str, endpoints: &[(&str, u16)]) -> String {
    service_entry_for("shop", 9080, "HTTP", resolution, endpoints)
}

/// A DestinationRule `name` in namespace `shop` for host `name` with `traffic_policy` (its
/// fields indented four spaces).
pub fn destination_rule_for(name: &str, traffic_policy: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {name}, namespace: shop}}\n\
         spec:\n  host: {name}\n  trafficPolicy:\n{traffic_policy}"
    )
}

/// The DestinationRule for `shop`.
pub fn destination_rule(traffic_policy: &str) -> String {
    destination_rule_for("shop", traffic_policy)
}

/// The gateway on the directory `scratch/name` of [`write_config`].
pub fn start(name: &str, registry: &str, scratch: &Path) -> Result<Gateway> {
    let dir = scratch.join(name);
    write_config(&dir, registry)?;
    Gateway::start(&dir, &scratch.join("cache"), scratch)
}

/// The gateway on the directory `scratch/name` of [`write_routed_config`].
pub fn start_routed(
    name: &str,
    host: &str,
    http: &str,
    registry: &str,
    scratch: &Path,
) -> Result<Gateway> {
    let dir = scratch.join(name);
    write_routed_config(&dir, host, http, registry)?;
    Gateway::start(&dir, &scratch.join("cache"), scratch)
}

/// `GET /items` for [`HOST`] with `headers`.
pub async fn get(gateway: &Gateway, headers: &[(&str, &str)]) -> Result<envoy_test::Response> {
    get_path(gateway, "/items", headers).await
}

/// `GET path` for [`HOST`] with `headers`, on a connection of its own.
pub async fn get_path(
    gateway: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<envoy_test::Response> {
    get_with(&Client::http1(), gateway, path, headers).await
}

/// `GET path` for [`HOST`] with `headers` through `client` (whose connections it reuses).
pub async fn get_with(
    client: &Client,
    gateway: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<envoy_test::Response> {
    let mut request = client
        .get(format!("{}{path}", gateway.url))
        .header("host", HOST)
        .header("user-agent", "traffic-test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Ok(request.send().await?)
}
