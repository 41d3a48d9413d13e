//! Configuration errors that name the offending field.

use std::fmt;

/// A configuration error: where it is (`http[2].match[0].uri.regex`) and why (`unclosed group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field's path, e.g. `http[2].match[0].uri.regex`.
    pub path: String,
    /// Why the value is refused.
    pub reason: String,
}

impl ConfigError {
    /// An error at `path` (as written by [`FieldPath`]) for `reason`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A field path under construction, rendered as `http[2].match[0].uri`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// The config document itself, before any field.
    pub fn root() -> Self {
        Self::default()
    }

    /// Whether this is the document itself, with no field named yet.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path of a named field (or map key) below this one. An empty key is written
    /// `[""]`, so that `headers[""]` reads as the empty name it is.
    pub fn field(&self, name: &str) -> Self {
        if name.is_empty() {
            Self(format!("{}[\"\"]", self.0))
        } else if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// The path of a list element below this one.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// `Some(i)` when the path ends in `[i]`: the position of the element it names.
    pub fn last_index(&self) -> Option<usize> {
        let inner = self.0.strip_suffix(']')?;
        let (_, digits) = inner.rsplit_once('[')?;
        digits.parse().ok()
    }

    /// `number` as a port (1..65535), or an error at this path.
    pub fn port(&self, number: u32) -> Result<u16, ConfigError> {
        u16::try_from(number)
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| self.error(format!("port {number} must be in 1..65535")))
    }

    /// An error located at this path.
    pub fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.0.clone(), reason)
    }

    /// A warning located at this path.
    pub fn warning(&self, reason: impl Into<String>) -> ConfigWarning {
        ConfigWarning {
            path: self.0.clone(),
            reason: reason.into(),
        }
    }
}

/// Something a config does that is accepted but not applied exactly as Istio would, or that
/// Istio's validation itself only warns about: compiled, and reported for the host to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The field's path, e.g. `http[0].retries.backoff`.
    pub path: String,
    /// What is accepted but worth reporting.
    pub reason: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn paths_render_like_field_accessors() {
        let path = FieldPath::root()
            .field("http")
            .index(2)
            .field("match")
            .index(0)
            .field("uri");
        assert_eq!(path.to_string(), "http[2].match[0].uri");
        assert_eq!(
            path.field("regex").error("unclosed group").to_string(),
            "http[2].match[0].uri.regex: unclosed group"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn empty_keys_are_written_as_empty_strings() {
        let path = FieldPath::root().field("headers").field("set").field("");
        assert_eq!(path.to_string(), "headers.set[\"\"]");
        assert_eq!(FieldPath::root().field("").to_string(), "[\"\"]");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn root_errors_have_no_path_prefix() {
        assert_eq!(
            ConfigError::new("", "empty config").to_string(),
            "empty config"
        );
    }
}
