//! Response status conditions: exact codes (`404`) and classes (`5xx`).

use crate::error::FieldPath;
use crate::ConfigError;

use super::spec::StatusSpec;

/// One compiled status condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this status.
    Code(u16),
    /// The hundreds digit: `5` for `5xx`.
    Class(u16),
}

impl StatusMatch {
    /// Compiles one `responseStatus` entry; errors name the field under `path`.
    pub fn compile(spec: &StatusSpec, path: &FieldPath) -> Result<Self, ConfigError> {
        let invalid = |shown: &str| {
            path.error(format!(
                "invalid status {shown:?}: expected a code 100..599 or a class 1xx..5xx"
            ))
        };
        match spec {
            StatusSpec::Code(code) => u16::try_from(*code)
                .ok()
                .filter(|code| (100..=599).contains(code))
                .map(Self::Code)
                .ok_or_else(|| invalid(&code.to_string())),
            StatusSpec::Text(text) => {
                let lower = text.to_ascii_lowercase();
                if let Some(digit) = lower.strip_suffix("xx") {
                    return match digit.as_bytes() {
                        [digit @ b'1'..=b'5'] => Ok(Self::Class(u16::from(digit - b'0'))),
                        _ => Err(invalid(text)),
                    };
                }
                text.parse::<u16>()
                    .ok()
                    .filter(|code| (100..=599).contains(code) && text.len() == 3)
                    .map(Self::Code)
                    .ok_or_else(|| invalid(text))
            }
        }
    }

    /// Whether `status` is this code or in this class.
    pub fn matches(&self, status: u16) -> bool {
        match self {
            Self::Code(code) => *code == status,
            Self::Class(class) => status / 100 == *class,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn compile(json: &str) -> Result<StatusMatch, ConfigError> {
        let spec: StatusSpec = serde_json::from_str(json).expect("status JSON");
        StatusMatch::compile(&spec, &FieldPath::root().field("responseStatus").index(0))
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn codes_match_exactly() {
        for json in ["404", "\"404\""] {
            let status = compile(json).expect("valid");
            assert!(status.matches(404));
            assert!(!status.matches(400));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn classes_match_their_hundred() {
        let class = compile("\"5xx\"").expect("valid");
        assert!(class.matches(500));
        assert!(class.matches(503));
        assert!(class.matches(599));
        assert!(!class.matches(499));
        assert!(!class.matches(600));
        assert_eq!(compile("\"2XX\"").expect("valid"), StatusMatch::Class(2));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn anything_else_is_refused_with_its_path() {
        for json in [
            "99", "600", "70000", "\"6xx\"", "\"x5xx\"", "\"abc\"", "\"0404\"", "\"\"",
        ] {
            let error = compile(json).expect_err(json);
            assert_eq!(error.path, "responseStatus[0]", "{json}");
            assert!(error.reason.starts_with("invalid status"), "{error}");
        }
    }
}
