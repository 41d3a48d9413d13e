//! One finding of `gateway check`, printed as `istioctl analyze` prints its messages: a level,
//! Istio's message code when Istio has one, then where (file, resource, field) and what.

use std::fmt;

use crate::error::ResourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// Istio's analysis message code (`IST0101`), for the findings Istio reports too.
    pub code: Option<&'static str>,
    /// Where and what: `file: Kind ns/name: field: message`.
    pub text: String,
}

impl Finding {
    pub fn new(level: Level, code: Option<&'static str>, at: ResourceError) -> Self {
        Finding {
            level,
            code,
            text: at.to_string(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Info => "Info",
        };
        match self.code {
            Some(code) => write!(f, "{level} [{code}] {}", self.text),
            None => write!(f, "{level} {}", self.text),
        }
    }
}
