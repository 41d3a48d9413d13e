//! A running Envoy: started from a [`Bootstrap`], ready before it is handed out,
//! and stopped (never left behind) when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use tokio::time::{sleep, timeout, Instant};

use crate::bootstrap::{write_clusters, write_listeners, Bootstrap, DynamicFiles};
use crate::client::Client;
use crate::cluster::Cluster;
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
    /// `--drain-time-s` with `--drain-strategy immediate`, as istio-agent runs Envoy: a
    /// listener replaced through LDS tells each of its connections to close on its next
    /// response (`Connection: close`, an HTTP/2 GOAWAY), so a keep-alive client moves to the
    /// new listener at once, and closes what is left after this long. Default none: Envoy's
    /// 600 s gradual drain, under which a busy keep-alive connection keeps the old listener's
    /// config for minutes. Whole seconds, at least 1.
    pub drain_time: Option<Duration>,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            concurrency: 2,
            log_level: "info".to_owned(),
            component_log_level: None,
            ready_timeout: Duration::from_secs(20),
            file_flush_interval: None,
            drain_time: None,
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
    /// `--concurrency`: how many workers take each listener.
    workers: u32,
    /// Listener names and the ports Envoy bound for them, read again after each update.
    listeners: Mutex<Vec<(String, u16)>>,
    admin_client: Client,
    /// The LDS and CDS files, when the bootstrap serves listeners or clusters dynamically.
    files: DynamicFiles,
    /// The listeners and clusters as Envoy last accepted them (at first, the bootstrap's):
    /// what [`Envoy::update`] puts back when Envoy rejects part of an update.
    accepted: Mutex<Accepted>,
}

#[derive(Debug, Clone)]
struct Accepted {
    listeners: Vec<Listener>,
    clusters: Vec<Cluster>,
}

/// What Envoy made of an update of its listeners or clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    Accepted,
    /// Envoy said `update_rejected` (`listener_manager.lds.…`, `cluster_manager.cds.…`). With
    /// one resource it keeps what it had; of several, it may have applied the valid ones.
    Rejected,
}

/// [`Update`], by the name it had when only listeners could be updated.
pub type ListenerUpdate = Update;

/// What Envoy made of [`Envoy::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Envoy runs the new clusters and listeners.
    Accepted,
    /// Envoy rejected part of the update, and runs the listeners and clusters it had before.
    Rejected {
        /// `clusters` or `listeners`: which update Envoy rejected.
        what: &'static str,
        /// Envoy's own words: the lines it logged about the rejection (or, when it logged
        /// none, that it said `update_rejected`).
        reason: String,
    },
}

/// One kind of dynamic resource: its file and the counters that say what Envoy made of it.
#[derive(Clone, Copy)]
enum Kind {
    Listeners,
    Clusters,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Listeners => "listeners",
            Kind::Clusters => "clusters",
        }
    }

    /// The stats prefix of the subscription's `update_success` and `update_rejected`.
    fn stats(self) -> &'static str {
        match self {
            Kind::Listeners => "listener_manager.lds",
            Kind::Clusters => "cluster_manager.cds",
        }
    }

    /// What to build the bootstrap with to update this kind.
    fn builder(self) -> &'static str {
        match self {
            Kind::Listeners => "Bootstrap::with_dynamic_listeners",
            Kind::Clusters => "Bootstrap::with_dynamic_clusters",
        }
    }
}

/// How long Envoy may take to act on a changed LDS or CDS file.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long what Envoy accepted may take to warm: Wasm VMs start on every worker, which on a
/// loaded machine takes seconds.
const WARM_TIMEOUT: Duration = Duration::from_secs(60);

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
        Envoy::start_on(EnvoyBinary::shared()?, bootstrap, options).await
    }

    /// [`Envoy::start_with`] on `binary`, e.g. [`EnvoyBinary::shared`] run
    /// [`under`](EnvoyBinary::under) a profiler (then give it a `ready_timeout` to match:
    /// under valgrind, V8 takes minutes to compile the modules). [`Envoy::pid`] is the
    /// wrapper's, which is Envoy's when the wrapper execs it (as valgrind does).
    pub async fn start_on(
        binary: &EnvoyBinary,
        bootstrap: &Bootstrap,
        options: &EnvoyOptions,
    ) -> Result<Envoy> {
        let dir = temp_dir()?;
        let (config, files) = bootstrap.write_to(dir.path())?;
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
        if let Some(drain) = options.drain_time {
            command
                .arg("--drain-time-s")
                .arg(drain.as_secs().max(1).to_string())
                .arg("--drain-strategy")
                .arg("immediate");
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
        let envoy = Envoy {
            process,
            admin,
            workers: options.concurrency,
            listeners: Mutex::new(listeners),
            admin_client,
            files,
            accepted: Mutex::new(Accepted {
                listeners: bootstrap.listeners.clone(),
                clusters: bootstrap.clusters.clone(),
            }),
        };
        if bootstrap.dynamic_listeners {
            envoy.pin_free_ports(&bootstrap.listeners).await?;
        }
        Ok(envoy)
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
        let listeners = self.listener_ports();
        listeners
            .iter()
            .find(|(listener, _)| listener == name)
            .map(|(_, port)| *port)
            .ok_or_else(|| Error::UnknownListener {
                name: name.to_owned(),
                known: listeners.iter().map(|(n, _)| n.clone()).collect(),
            })
    }

    /// Every listener's name and the port Envoy bound for it, as of the start or the last
    /// update: what a new config must bind to keep its clients' ports.
    pub fn listener_ports(&self) -> Vec<(String, u16)> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
        let (outcome, _) = self.apply(Kind::Listeners, listeners, &[]).await?;
        if outcome == Update::Accepted {
            self.refresh_listener_ports(listeners).await?;
            self.pin_free_ports(listeners).await?;
        }
        Ok(outcome)
    }

    /// Replaces the clusters served through CDS (see [`Bootstrap::with_dynamic_clusters`]) and
    /// waits, bounded, until Envoy accepts or rejects them. A cluster that changed warms
    /// before it takes over; one that is gone is removed at once, in-flight requests and all.
    pub async fn update_clusters(&self, clusters: &[Cluster]) -> Result<Update> {
        Ok(self.apply(Kind::Clusters, &[], clusters).await?.0)
    }

    /// Moves a running Envoy to new clusters and listeners (both dynamic, see
    /// [`Bootstrap::with_dynamic_listeners`] and [`Bootstrap::with_dynamic_clusters`]), matched
    /// by name, in the order that never routes a request to a cluster Envoy does not have:
    /// the new and changed clusters first (those that are going away kept for now), then the
    /// listeners, then the clusters that are gone removed.
    ///
    /// A listener whose name stays and whose address does not keeps its socket: only its
    /// filter chain is replaced, and the connections of the old one drain (see
    /// [`EnvoyOptions::drain_time`]); new connections get the new chain. Each step waits,
    /// bounded, for Envoy's verdict; when Envoy rejects one, the listeners and clusters it
    /// had are written back (and their acceptance awaited), so a rejected update leaves
    /// Envoy as it was. An `Err` is a failure to talk to Envoy, or Envoy not answering in
    /// time, not a rejection.
    pub async fn update(
        &self,
        clusters: &[Cluster],
        listeners: &[Listener],
    ) -> Result<UpdateOutcome> {
        for kind in [Kind::Clusters, Kind::Listeners] {
            self.file(kind)?;
        }
        let before = self.accepted().clusters;
        // The clusters only the old config has, kept until the listeners stop using them.
        let mut both = clusters.to_vec();
        both.extend(
            before
                .iter()
                .filter(|old| !clusters.iter().any(|new| new.name == old.name))
                .cloned(),
        );
        let (outcome, reason) = self.apply(Kind::Clusters, &[], &both).await?;
        if outcome == Update::Rejected {
            self.restore(Kind::Clusters).await?;
            return Ok(rejected(Kind::Clusters, reason));
        }
        let (outcome, reason) = self.apply(Kind::Listeners, listeners, &[]).await?;
        if outcome == Update::Rejected {
            self.restore(Kind::Listeners).await?;
            self.restore(Kind::Clusters).await?;
            return Ok(rejected(Kind::Listeners, reason));
        }
        if both.len() > clusters.len() {
            let (outcome, reason) = self.apply(Kind::Clusters, &[], clusters).await?;
            if outcome == Update::Rejected {
                // Removing clusters cannot be invalid; should Envoy differ, say so.
                return Err(Error::http(
                    "removing clusters",
                    format!("Envoy rejected the clusters it had accepted with others: {reason}"),
                ));
            }
        }
        self.refresh_listener_ports(listeners).await?;
        self.pin_free_ports(listeners).await?;
        Ok(UpdateOutcome::Accepted)
    }

    /// When some of `listeners` (just accepted) asked for port 0, writes them again with the
    /// ports Envoy bound. Envoy replaces a listener whose address changes whole: new sockets,
    /// and the connections queued on the old ones are reset. One whose address stays only has
    /// its filter chains swapped, its sockets and queued connections kept. With the bound port
    /// in the file, a later update that keeps that port (as [`Envoy::listener_ports`] gives
    /// it) is the gentle kind. This runs before the caller has the port, so no client is
    /// connected yet.
    async fn pin_free_ports(&self, listeners: &[Listener]) -> Result<()> {
        if listeners.iter().all(|listener| listener.port != 0) {
            return Ok(());
        }
        let ports = self.listener_ports();
        let pinned: Vec<Listener> = listeners
            .iter()
            .map(|listener| {
                let mut listener = listener.clone();
                let bound = ports.iter().find(|(name, _)| *name == listener.name);
                if let (0, Some((_, port))) = (listener.port, bound) {
                    listener.port = *port;
                }
                listener
            })
            .collect();
        match self.apply(Kind::Listeners, &pinned, &[]).await? {
            (Update::Accepted, _) => Ok(()),
            (Update::Rejected, reason) => Err(Error::http(
                "writing the listeners with the ports Envoy bound",
                format!("Envoy rejected them: {reason}"),
            )),
        }
    }

    /// The listeners and clusters as Envoy last accepted them.
    fn accepted(&self) -> Accepted {
        self.accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The file Envoy reads `kind` from, or the error that says it is static.
    fn file(&self, kind: Kind) -> Result<&Path> {
        let file = match kind {
            Kind::Listeners => &self.files.lds,
            Kind::Clusters => &self.files.cds,
        };
        file.as_deref().ok_or_else(|| {
            Error::http(
                format!("updating {}", kind.name()),
                format!(
                    "this Envoy's {} are static; build it with {}",
                    kind.name(),
                    kind.builder()
                ),
            )
        })
    }

    /// Writes `listeners` or `clusters` (per `kind`) to Envoy's file and waits for its verdict;
    /// on a rejection, also what Envoy logged about it. Records what Envoy accepted.
    async fn apply(
        &self,
        kind: Kind,
        listeners: &[Listener],
        clusters: &[Cluster],
    ) -> Result<(Update, String)> {
        let path = self.file(kind)?;
        let before = self.counters(kind).await?;
        let logged = self.log().len();
        // Each worker takes each new or changed listener, and says so (see `wait_workers`).
        let changed = {
            let record = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
            listeners
                .iter()
                .filter(|new| {
                    !record
                        .listeners
                        .iter()
                        .any(|old| old.name == new.name && old.to_json() == new.to_json())
                })
                .count()
        };
        let workers_before = self.worker_counters().await?;
        match kind {
            Kind::Listeners => write_listeners(path, listeners)?,
            Kind::Clusters => write_clusters(path, clusters)?,
        }
        let deadline = std::time::Instant::now() + UPDATE_TIMEOUT;
        while std::time::Instant::now() < deadline {
            let (accepted, rejected) = self.counters(kind).await?;
            if rejected > before.1 {
                return Ok((Update::Rejected, self.rejection(kind, logged).await));
            }
            if accepted > before.0 {
                {
                    let mut record = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
                    match kind {
                        Kind::Listeners => record.listeners = listeners.to_vec(),
                        Kind::Clusters => record.clusters = clusters.to_vec(),
                    }
                }
                self.wait_warm(kind).await?;
                if let Kind::Listeners = kind {
                    let expected = changed as u64 * u64::from(self.workers);
                    self.wait_workers(workers_before, expected).await?;
                }
                return Ok((Update::Accepted, String::new()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::http(
            format!("updating {}", kind.name()),
            format!("Envoy neither accepted nor rejected the update within {UPDATE_TIMEOUT:?}"),
        ))
    }

    /// Writes back the `kind` resources Envoy last accepted, after it rejected others.
    async fn restore(&self, kind: Kind) -> Result<()> {
        let accepted = self.accepted();
        let (outcome, reason) = self
            .apply(kind, &accepted.listeners, &accepted.clusters)
            .await?;
        match outcome {
            Update::Accepted => Ok(()),
            Update::Rejected => Err(Error::http(
                format!("restoring the {} Envoy had", kind.name()),
                format!("Envoy rejected what it had accepted before: {reason}"),
            )),
        }
    }

    /// What Envoy logged about a rejected `kind` update since the log was `logged` bytes long.
    /// It logs the rejection as it counts it, but flushes its log on its own schedule, so this
    /// waits a little for the line.
    async fn rejection(&self, kind: Kind, logged: usize) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let log = self.log();
            let lines: Vec<&str> = log
                .get(logged..)
                .unwrap_or_default()
                .lines()
                .filter(|line| line.contains("rejected"))
                .collect();
            if !lines.is_empty() {
                return lines.join("\n");
            }
            if std::time::Instant::now() >= deadline {
                return format!("{}.update_rejected (nothing in Envoy's log)", kind.stats());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Reads the bound ports again, until every listener of `listeners` has one: a new listener
    /// may still be warming right after Envoy accepted it.
    async fn refresh_listener_ports(&self, listeners: &[Listener]) -> Result<()> {
        let deadline = std::time::Instant::now() + UPDATE_TIMEOUT;
        loop {
            let ports = listener_ports(&self.admin_client, self.admin).await?;
            let missing: Vec<&str> = listeners
                .iter()
                .map(|listener| listener.name.as_str())
                .filter(|name| !ports.iter().any(|(bound, _)| bound == name))
                .collect();
            if missing.is_empty() || std::time::Instant::now() >= deadline {
                *self
                    .listeners
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = ports;
                if missing.is_empty() {
                    return Ok(());
                }
                return Err(Error::http(
                    "GET /listeners?format=json",
                    format!("Envoy accepted listeners {missing:?} but has not bound them within {UPDATE_TIMEOUT:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `update_success` and `update_rejected` of `kind`'s subscription.
    async fn counters(&self, kind: Kind) -> Result<(u64, u64)> {
        let prefix = kind.stats();
        let values = self
            .stat_values(&[
                &format!("{prefix}.update_success"),
                &format!("{prefix}.update_rejected"),
            ])
            .await?;
        Ok((values[0], values[1]))
    }

    /// The values of the counters or gauges `names`, in order (0 for one Envoy does not have).
    async fn stat_values(&self, names: &[&str]) -> Result<Vec<u64>> {
        let pattern: Vec<String> = names.iter().map(|name| name.replace('.', "\\.")).collect();
        let filter = format!("^({})$", pattern.join("|"));
        let (_, body) = self.admin_get(&format!("/stats?filter={filter}")).await?;
        let value = |name: &str| {
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
        Ok(names.iter().map(|name| value(name)).collect())
    }

    /// `listener_manager.listener_create_success` and `listener_create_failure`: one per
    /// worker that took (or failed to take) a listener.
    async fn worker_counters(&self) -> Result<(u64, u64)> {
        let values = self
            .stat_values(&[
                "listener_manager.listener_create_success",
                "listener_manager.listener_create_failure",
            ])
            .await?;
        Ok((values[0], values[1]))
    }

    /// Waits until the workers have taken `expected` more listeners than `before`. A warmed
    /// listener is handed to each worker asynchronously: until a worker has it, that worker
    /// accepts new connections into the old filter chain (draining, so they answer once and
    /// close), and a client reconnecting right after the update could get the old config.
    async fn wait_workers(&self, before: (u64, u64), expected: u64) -> Result<()> {
        let deadline = std::time::Instant::now() + WARM_TIMEOUT;
        loop {
            let (created, failed) = self.worker_counters().await?;
            if failed > before.1 {
                return Err(Error::http(
                    "updating listeners",
                    format!(
                        "a worker could not take a listener (listener_manager.listener_create_failure); see Envoy's log:\n{}",
                        self.log()
                    ),
                ));
            }
            if created >= before.0 + expected {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::http(
                    "updating listeners",
                    format!(
                        "{} of {expected} listener hand-overs to the workers within {WARM_TIMEOUT:?}",
                        created - before.0
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits, bounded, for Envoy to have no `kind` resource warming. Envoy counts an
    /// update as a success when it takes it, but a new listener (or filter chain) serves only
    /// once its filters are ready, the Wasm VMs started on every worker, and a new cluster
    /// only once its first endpoints are known: until then the old ones keep serving.
    async fn wait_warm(&self, kind: Kind) -> Result<()> {
        let deadline = std::time::Instant::now() + WARM_TIMEOUT;
        let gauge = match kind {
            Kind::Listeners => "listener_manager.total_listeners_warming",
            Kind::Clusters => "cluster_manager.warming_clusters",
        };
        loop {
            if self.stat_values(&[gauge]).await?[0] == 0 {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::http(
                    format!("updating {}", kind.name()),
                    format!("Envoy accepted them, but {gauge} is not 0 after {WARM_TIMEOUT:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

fn rejected(kind: Kind, reason: String) -> UpdateOutcome {
    UpdateOutcome::Rejected {
        what: kind.name(),
        reason,
    }
}
