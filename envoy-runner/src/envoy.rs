//! A running Envoy: started from a [`Bootstrap`], ready before it is handed out,
//! and stopped (never left behind) when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use tokio::time::{sleep, timeout, Instant};

use crate::bootstrap::{write_listeners, Bootstrap};
use crate::client::Client;
use crate::envoy_binary::EnvoyBinary;
use crate::error::{Error, Result};
use crate::listener::Listener;
use crate::process::{read_lossy, spawn_logged, temp_dir, terminate, POLL_INTERVAL};

/// How the Envoy process is run.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    /// Worker threads (`--concurrency`); default 2, the cores CI has.
    pub concurrency: u32,
    /// `-l`; default `info`.
    pub log_level: String,
    /// `--component-log-level`, e.g. `wasm:debug`; default none.
    pub component_log_level: Option<String>,
    /// How long Envoy may take to become ready; default 20 s.
    pub ready_timeout: Duration,
    /// `--file-flush-interval-msec`: how often Envoy writes out file access logs; default
    /// none, Envoy's 10 s, too slow for a log a person (or a test) is watching.
    pub file_flush_interval: Option<Duration>,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            concurrency: 2,
            log_level: "info".to_owned(),
            component_log_level: None,
            ready_timeout: Duration::from_secs(20),
            file_flush_interval: None,
        }
    }
}

/// A running, ready Envoy.
///
/// Each instance has its own scratch directory and runs with hot restart disabled,
/// so any number of them can run side by side (cargo runs tests in parallel).
#[derive(Debug)]
pub struct Envoy {
    process: EnvoyProcess,
    admin: SocketAddr,
    /// Listener names and the ports Envoy bound for them.
    listeners: Vec<(String, u16)>,
    admin_client: Client,
    /// The LDS file, when the bootstrap serves its listeners dynamically.
    lds_path: Option<PathBuf>,
}

/// What Envoy made of a listener update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerUpdate {
    Accepted,
    /// Envoy kept the listeners it had (`listener_manager.lds.update_rejected`).
    Rejected,
}

/// How long Envoy may take to act on a changed LDS file.
const LDS_UPDATE_TIMEOUT: Duration = Duration::from_secs(10);

impl Envoy {
    /// Starts Envoy with default [`EnvoyOptions`] and waits until it is ready.
    pub async fn start(bootstrap: &Bootstrap) -> Result<Envoy> {
        Envoy::start_with(bootstrap, &EnvoyOptions::default()).await
    }

    /// Starts Envoy and waits until its admin `/ready` says `LIVE`.
    ///
    /// If Envoy exits first, the error is [`Error::EnvoyFailed`] with its log; if
    /// it is not ready within [`EnvoyOptions::ready_timeout`], it is killed and the
    /// error is [`Error::EnvoyTimeout`].
    pub async fn start_with(bootstrap: &Bootstrap, options: &EnvoyOptions) -> Result<Envoy> {
        let binary = EnvoyBinary::shared()?;
        let dir = temp_dir()?;
        let (config, lds_path) = bootstrap.write_to(dir.path())?;
        let admin_address_file = dir.path().join("admin_address");
        let mut command = binary.command();
        command
            .arg("-c")
            .arg(&config)
            // No shared memory or domain sockets: nothing to collide on between
            // parallel Envoys, and nothing left in /dev/shm afterwards.
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&admin_address_file)
            .arg("--concurrency")
            .arg(options.concurrency.to_string())
            .arg("-l")
            .arg(&options.log_level);
        if let Some(levels) = &options.component_log_level {
            command.arg("--component-log-level").arg(levels);
        }
        if let Some(interval) = options.file_flush_interval {
            command
                .arg("--file-flush-interval-msec")
                .arg(interval.as_millis().max(1).to_string());
        }
        let log_path = dir.path().join("envoy.log");
        let child = spawn_logged(command, &log_path)?;
        let mut process = EnvoyProcess {
            child,
            log_path,
            _dir: dir,
        };

        let admin_client = Client::http1();
        let admin = process
            .wait_ready(&admin_client, &admin_address_file, options.ready_timeout)
            .await?;
        let listeners = listener_ports(&admin_client, admin).await?;
        Ok(Envoy {
            process,
            admin,
            listeners,
            admin_client,
            lds_path,
        })
    }

    /// Starts Envoy expecting it to refuse `bootstrap`, and returns its log.
    ///
    /// It is an error if Envoy starts after all, or fails for any other reason (not
    /// found, timed out).
    pub async fn start_expect_failure(bootstrap: &Bootstrap) -> Result<String> {
        match Envoy::start(bootstrap).await {
            Err(Error::EnvoyFailed { log, .. }) => Ok(log),
            Err(other) => Err(other),
            Ok(envoy) => Err(Error::EnvoyFailed {
                reason: "envoy started, but the test expected it to refuse the config".into(),
                log: envoy.log(),
            }),
        }
    }

    /// The port Envoy bound for listener `name`.
    pub fn listener_port(&self, name: &str) -> Result<u16> {
        self.listeners
            .iter()
            .find(|(listener, _)| listener == name)
            .map(|(_, port)| *port)
            .ok_or_else(|| Error::UnknownListener {
                name: name.to_owned(),
                known: self.listeners.iter().map(|(n, _)| n.clone()).collect(),
            })
    }

    /// `http://127.0.0.1:PORT` for listener `name`; append the path.
    pub fn listener_url(&self, name: &str) -> Result<String> {
        Ok(format!("http://127.0.0.1:{}", self.listener_port(name)?))
    }

    /// The admin interface's address.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin
    }

    /// `GET`s `path` (e.g. `/clusters`) from the admin interface: status and body.
    pub async fn admin_get(&self, path: &str) -> Result<(u16, String)> {
        admin_get(&self.admin_client, self.admin, path).await
    }

    /// Replaces the listeners served through LDS (see [`Bootstrap::with_dynamic_listeners`])
    /// and waits, bounded, until Envoy accepts or rejects them.
    pub async fn update_listeners(&self, listeners: &[Listener]) -> Result<ListenerUpdate> {
        let Some(lds_path) = &self.lds_path else {
            return Err(Error::http(
                "updating listeners",
                "this Envoy's listeners are static; build it with Bootstrap::with_dynamic_listeners",
            ));
        };
        let before = self.lds_counters().await?;
        write_listeners(lds_path, listeners)?;
        let deadline = std::time::Instant::now() + LDS_UPDATE_TIMEOUT;
        while std::time::Instant::now() < deadline {
            let (accepted, rejected) = self.lds_counters().await?;
            if rejected > before.1 {
                return Ok(ListenerUpdate::Rejected);
            }
            if accepted > before.0 {
                return Ok(ListenerUpdate::Accepted);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::http(
            "updating listeners",
            format!("Envoy neither accepted nor rejected the update within {LDS_UPDATE_TIMEOUT:?}"),
        ))
    }

    /// `listener_manager.lds.update_success` and `update_rejected`.
    async fn lds_counters(&self) -> Result<(u64, u64)> {
        let (_, body) = self
            .admin_get("/stats?filter=^listener_manager\\.lds\\.update_(success|rejected)$")
            .await?;
        let counter = |name: &str| {
            body.lines()
                .find_map(|line| {
                    line.strip_prefix(name)?
                        .strip_prefix(": ")?
                        .trim()
                        .parse()
                        .ok()
                })
                .unwrap_or(0)
        };
        Ok((
            counter("listener_manager.lds.update_success"),
            counter("listener_manager.lds.update_rejected"),
        ))
    }

    /// All stats in Prometheus text format.
    pub async fn stats_prometheus(&self) -> Result<String> {
        let (status, body) = self.admin_get("/stats/prometheus").await?;
        if status == 200 {
            Ok(body)
        } else {
            Err(Error::http(
                "GET /stats/prometheus",
                format!("status {status}: {body}"),
            ))
        }
    }

    /// The Envoy process's id (for reading its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Everything Envoy has logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The file Envoy logs to, for following it as it grows.
    pub fn log_path(&self) -> &Path {
        &self.process.log_path
    }

    /// Envoy's exit status once it has exited on its own, `None` while it runs.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        self.process.exit_status()
    }
}

/// The Envoy child process and its scratch directory, which live and die together.
#[derive(Debug)]
struct EnvoyProcess {
    child: Child,
    log_path: PathBuf,
    /// Holds the config, the admin address file and the log; removed on drop.
    _dir: TempDir,
}

impl EnvoyProcess {
    /// Waits for the admin address, then for `/ready` to answer 200 `LIVE`.
    async fn wait_ready(
        &mut self,
        client: &Client,
        admin_address_file: &Path,
        limit: Duration,
    ) -> Result<SocketAddr> {
        let deadline = Instant::now() + limit;
        let mut admin = None;
        loop {
            if let Some(status) = self.exit_status()? {
                return Err(Error::EnvoyFailed {
                    reason: format!("envoy exited with {status} during startup"),
                    log: self.log(),
                });
            }
            if admin.is_none() {
                admin = read_admin_address(admin_address_file);
            }
            if let Some(admin) = admin {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if let Ok(Ok((200, body))) =
                    timeout(remaining, admin_get(client, admin, "/ready")).await
                {
                    if body.trim() == "LIVE" {
                        return Ok(admin);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::EnvoyTimeout {
                    reason: format!("envoy was not ready within {limit:?}"),
                    log: self.log(),
                });
            }
            sleep(POLL_INTERVAL).await;
        }
    }

    fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| Error::io("checking on the envoy process", e))
    }

    fn log(&self) -> String {
        read_lossy(&self.log_path)
    }
}

impl Drop for EnvoyProcess {
    /// Stops Envoy; when a test is failing, shows Envoy's log in the test output.
    fn drop(&mut self) {
        terminate(&mut self.child);
        if std::thread::panicking() {
            eprintln!(
                "---- envoy log ({}) ----\n{}\n---- end of envoy log ----",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// The admin address Envoy wrote, once the whole of it is there.
fn read_admin_address(path: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

async fn admin_get(client: &Client, admin: SocketAddr, path: &str) -> Result<(u16, String)> {
    let response = client.get(format!("http://{admin}{path}")).send().await?;
    Ok((response.status, response.text()))
}

/// Each listener's name and bound port, from `GET /listeners?format=json`.
async fn listener_ports(client: &Client, admin: SocketAddr) -> Result<Vec<(String, u16)>> {
    let context = "GET /listeners?format=json";
    let (status, body) = admin_get(client, admin, "/listeners?format=json").await?;
    if status != 200 {
        return Err(Error::http(context, format!("status {status}: {body}")));
    }
    let listing: Value = serde_json::from_str(&body).map_err(|e| Error::http(context, e))?;
    let statuses = listing["listener_statuses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    statuses
        .iter()
        .map(|listener| {
            let name = listener["name"].as_str();
            let port = listener["local_address"]["socket_address"]["port_value"]
                .as_u64()
                .and_then(|port| u16::try_from(port).ok());
            match (name, port) {
                (Some(name), Some(port)) => Ok((name.to_owned(), port)),
                _ => Err(Error::http(context, format!("unexpected entry {listener}"))),
            }
        })
        .collect()
}
