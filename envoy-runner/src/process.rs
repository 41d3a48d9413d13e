//! Child processes that never outlive the harness and never block it forever, and
//! the scratch directories that hold their config and output.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::error::{Error, Result};

/// How long a terminated process gets to exit cleanly before it is killed.
const GRACE_PERIOD: Duration = Duration::from_secs(5);

/// How often a waiting loop looks at a child again.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Starts `command` with stdout and stderr both written to the file at `output`.
///
/// One file for both streams keeps Envoy's lines in the order it wrote them, and a
/// file (unlike a pipe) can never fill up and stall the child.
pub(crate) fn spawn_logged(mut command: Command, output: &Path) -> Result<Child> {
    let open_error = |e| Error::io(format!("creating {}", output.display()), e);
    let stdout = File::create(output).map_err(open_error)?;
    let stderr = stdout.try_clone().map_err(open_error)?;
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| Error::io(format!("starting {command:?}"), e))
}

/// Runs `command` to completion, giving up (and killing it) after `timeout`.
///
/// Returns its exit status and everything it printed.
pub(crate) fn run_bounded(
    command: Command,
    output: &Path,
    timeout: Duration,
) -> Result<(ExitStatus, String)> {
    let description = format!("{command:?}");
    let mut child = spawn_logged(command, output)?;
    let deadline = Instant::now() + timeout;
    loop {
        let status = child
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for {description}"), e))?;
        if let Some(status) = status {
            return Ok((status, read_lossy(output)));
        }
        if Instant::now() >= deadline {
            terminate(&mut child);
            return Err(Error::EnvoyTimeout {
                reason: format!("{description} did not finish within {timeout:?}"),
                log: read_lossy(output),
            });
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Stops `child`: SIGTERM so Envoy shuts down cleanly, then SIGKILL if it is still
/// there after [`GRACE_PERIOD`]. Always reaps it, so no zombie is left either.
pub(crate) fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // Failure means the process is already gone, which is what we want.
    let _ = kill_process(Pid::from_child(child), Signal::TERM);
    let deadline = Instant::now() + GRACE_PERIOD;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(None) => thread::sleep(POLL_INTERVAL),
            _ => return,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A text file's content; unreadable bytes are replaced rather than failing, because
/// the callers only ever show it to a person.
pub(crate) fn read_lossy(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

/// A fresh scratch directory, removed when the returned guard drops.
pub(crate) fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("envoy-test-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory", e))
}
