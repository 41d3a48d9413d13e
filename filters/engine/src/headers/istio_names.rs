//! Istio's rules for the header names a VirtualService's `headers` operate on
//! (`ValidateHTTPHeaderOperationName`, `ValidateHTTPHeaderWithAuthorityOperationName`).

use crate::error::FieldPath;
use crate::ConfigError;

/// `host` in any case, or `:authority`: Envoy's authority, which Istio turns into a rewrite.
pub fn is_authority(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// A name to remove from the request, or to change in the response: not empty, not `host`,
/// not a pseudo-header.
pub fn check_operation_name(name: &str, path: &FieldPath) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(path.error("header name cannot be empty"));
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(path.error(format!("invalid header {name:?}: cannot set Host header")));
    }
    if name.starts_with(':') {
        return Err(path.error(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        )));
    }
    Ok(())
}

/// A name to set or add on the request: the authority (`host`, `:authority`) is allowed,
/// other pseudo-headers are not. Returns whether `name` is the authority.
pub fn check_request_operation_name(name: &str, path: &FieldPath) -> Result<bool, ConfigError> {
    if name.is_empty() {
        return Err(path.error("header name cannot be empty"));
    }
    if is_authority(name) {
        return Ok(true);
    }
    if name.starts_with(':') {
        return Err(path.error(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        )));
    }
    Ok(false)
}
