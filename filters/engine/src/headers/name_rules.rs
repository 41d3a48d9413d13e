//! Which header names an operation may touch: rules that keep a request or response valid.

use crate::error::FieldPath;
use crate::header_name;
use crate::ConfigError;

use super::phase::Phase;

/// What an operation does to the header it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Set,
    Add,
    Remove,
}

/// The pseudo-headers a request operation may `set`; changing them re-routes the request.
const SETTABLE_PSEUDO_HEADERS: [&str; 2] = [":authority", ":path"];

/// Validates `name` for `action` in `phase`; returns it lowercase.
pub fn checked_name(
    name: &str,
    action: Action,
    phase: Phase,
    path: &FieldPath,
) -> Result<String, ConfigError> {
    if !header_name::is_valid(name) {
        return Err(path.error(format!(
            "{name:?} is not a valid header name (an RFC 9110 token)"
        )));
    }
    let name = name.to_ascii_lowercase();
    if name == "host" {
        return Err(path
            .error("Envoy keeps the Host header as the :authority pseudo-header: use :authority"));
    }
    if name.starts_with(':') {
        let allowed = phase == Phase::Request
            && action == Action::Set
            && SETTABLE_PSEUDO_HEADERS.contains(&name.as_str());
        if !allowed {
            return Err(path.error(match phase {
                Phase::Response => format!("{name} is a pseudo-header and cannot be changed in a response"),
                Phase::Request => format!(
                    "{name} is a pseudo-header: only :authority and :path can be changed, and only with set"
                ),
            }));
        }
    }
    Ok(name)
}

/// Validates a `remove` entry ending in `*` (a prefix); returns the lowercase prefix.
pub fn checked_prefix(prefix: &str, path: &FieldPath) -> Result<String, ConfigError> {
    if prefix.is_empty() {
        return Err(
            path.error("\"*\" would remove every header; name a prefix such as x-internal-*")
        );
    }
    if prefix.starts_with(':') || !header_name::is_valid(prefix) {
        return Err(path.error(format!(
            "{prefix:?} is not a valid header name prefix (an RFC 9110 token, no pseudo-headers)"
        )));
    }
    Ok(prefix.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn check(name: &str, action: Action, phase: Phase) -> Result<String, String> {
        checked_name(
            name,
            action,
            phase,
            &FieldPath::root().field("set").field(name),
        )
        .map_err(|error| error.to_string())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn tokens_are_lowercased() {
        assert_eq!(
            check("X-Frame-Options", Action::Set, Phase::Response),
            Ok("x-frame-options".into())
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn invalid_tokens_are_refused() {
        for name in ["bad name", "x:y", "", "x\u{e9}", "new\nline"] {
            let error = check(name, Action::Add, Phase::Request).expect_err(name);
            assert!(error.contains("is not a valid header name"), "{error}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn only_authority_and_path_may_be_set() {
        assert_eq!(
            check(":authority", Action::Set, Phase::Request),
            Ok(":authority".into())
        );
        assert_eq!(
            check(":Path", Action::Set, Phase::Request),
            Ok(":path".into())
        );
        for name in [":method", ":scheme", ":status", ":protocol"] {
            let error = check(name, Action::Set, Phase::Request).expect_err(name);
            assert!(
                error.contains("only :authority and :path can be changed"),
                "{error}"
            );
        }
        for action in [Action::Add, Action::Remove] {
            assert!(check(":path", action, Phase::Request).is_err());
        }
        let error = check(":status", Action::Set, Phase::Response).expect_err(":status");
        assert_eq!(
            error,
            "set.:status: :status is a pseudo-header and cannot be changed in a response"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn host_must_be_written_as_authority() {
        let error = check("Host", Action::Set, Phase::Request).expect_err("host");
        assert!(error.ends_with("use :authority"), "{error}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn prefixes_must_be_tokens() {
        let path = FieldPath::root().field("remove").index(0);
        assert_eq!(
            checked_prefix("X-Internal-", &path),
            Ok("x-internal-".into())
        );
        assert!(checked_prefix("", &path)
            .expect_err("empty")
            .reason
            .contains("every header"));
        assert!(checked_prefix(":", &path).is_err());
        assert!(checked_prefix("bad prefix", &path).is_err());
    }
}
