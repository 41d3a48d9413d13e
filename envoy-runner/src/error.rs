//! The one error type of running Envoy (and of the test harness built on it).
//!
//! Every failure names what was being done, and failures of Envoy itself carry
//! Envoy's whole log, because "Envoy exited" alone never explains a broken config.

use std::fmt;
use std::io;

/// How many trailing log lines an error's message shows; [`Error::envoy_log`]
/// gives the whole log.
const LOG_TAIL_LINES: usize = 40;

/// A failure of Envoy, or of the process, file or HTTP exchange that drives it.
pub enum Error {
    /// No usable Envoy binary: the message lists every place that was tried.
    EnvoyUnavailable(String),
    /// Envoy said no: it exited during startup, or `--mode validate` rejected the
    /// config, or `--version` failed.
    EnvoyFailed {
        /// What went wrong, e.g. "envoy exited with exit status: 1 during startup".
        reason: String,
        /// Everything Envoy wrote to stdout and stderr.
        log: String,
    },
    /// Envoy (or func-e) neither finished nor became ready in time; it was killed.
    EnvoyTimeout {
        /// What did not happen in time.
        reason: String,
        /// Everything Envoy wrote to stdout and stderr.
        log: String,
    },
    /// A file or process operation failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An HTTP exchange failed, timed out or returned something unusable.
    Http {
        /// Which exchange, e.g. "GET http://127.0.0.1:4000/ready".
        context: String,
        /// What went wrong.
        detail: String,
    },
    /// A listener name that the running Envoy does not have.
    UnknownListener {
        /// The name asked for.
        name: String,
        /// The names Envoy reported.
        known: Vec<String>,
    },
}

impl Error {
    /// Envoy's full log, when the failure came from Envoy itself.
    pub fn envoy_log(&self) -> Option<&str> {
        match self {
            Error::EnvoyFailed { log, .. } | Error::EnvoyTimeout { log, .. } => Some(log),
            _ => None,
        }
    }

    /// A file or process failure while doing `context`.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An HTTP exchange, named by `context`, that went wrong as `detail` says.
    pub fn http(context: impl Into<String>, detail: impl fmt::Display) -> Self {
        Error::Http {
            context: context.into(),
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EnvoyUnavailable(message) => f.write_str(message),
            Error::EnvoyFailed { reason, log } | Error::EnvoyTimeout { reason, log } => {
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                write!(
                    f,
                    "{reason}\n--- last {} lines of the envoy log ---",
                    tail.len()
                )?;
                for line in tail {
                    write!(f, "\n{line}")?;
                }
                Ok(())
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Http { context, detail } => write!(f, "{context}: {detail}"),
            Error::UnknownListener { name, known } => {
                write!(f, "envoy has no listener named {name:?}; it has {known:?}")
            }
        }
    }
}

/// Shows the readable message: a test returning `Err` prints its error with `Debug`.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The result type of running Envoy.
pub type Result<T, E = Error> = std::result::Result<T, E>;
