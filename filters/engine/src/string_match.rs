//! Istio's `StringMatch`: `exact`, `prefix` or RE2-style `regex`, the regex matching the whole value.

use std::sync::OnceLock;

use regex::Regex;
use regex_automata::nfa::thompson;
use regex_syntax::hir::{Hir, HirKind};
use serde::Deserialize;

use crate::error::FieldPath;
use crate::raw_text;
use crate::ConfigError;

/// Istio limits regexes to 1024 characters (Envoy's RE2 program size budget).
pub const MAX_REGEX_LEN: usize = 1024;

/// `StringMatch` as written in a VirtualService: exactly one of the three fields is set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct StringMatchSpec {
    /// The whole value, exactly.
    pub exact: Option<String>,
    /// The start of the value.
    pub prefix: Option<String>,
    /// An RE2 regex that must match the whole value.
    pub regex: Option<String>,
}

/// How a compiled [`StringMatch`] treats its spec.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchOptions {
    /// Whether `prefix: ""` is allowed (Istio allows it for `uri` only).
    pub allow_empty_prefix: bool,
    /// Compare `exact` and `prefix` ASCII case-insensitively (`ignoreUriCase`).
    pub ignore_case: bool,
    /// Whether `{}` (no field set) is allowed, meaning "present" (headers and query params).
    pub allow_presence: bool,
}

/// A validated, compiled `StringMatch`.
#[derive(Debug, Clone)]
pub enum StringMatch {
    /// The whole value.
    Exact {
        /// The text to compare with.
        value: String,
        /// Compare ASCII letters case-insensitively.
        ignore_case: bool,
    },
    /// The start of the value.
    Prefix {
        /// The text to compare with.
        value: String,
        /// Compare ASCII letters case-insensitively.
        ignore_case: bool,
    },
    /// An RE2 regex over the whole value.
    Regex(FullMatchRegex),
    /// `{}`: any value matches, as long as there is one.
    Present,
}

/// Which one of a [`StringMatchSpec`]'s fields is set, once the spec is known to be valid
/// but before anything is compiled.
enum SpecKind<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Regex(&'a str),
    Present,
}

impl<'a> SpecKind<'a> {
    /// Istio's checks on the spec's shape: exactly one field set (or none, where presence is
    /// allowed), no empty prefix where Istio refuses one.
    fn of(
        spec: &'a StringMatchSpec,
        path: &FieldPath,
        options: MatchOptions,
    ) -> Result<Self, ConfigError> {
        match (&spec.exact, &spec.prefix, &spec.regex) {
            (Some(value), None, None) => Ok(Self::Exact(value)),
            (None, Some(value), None) => {
                if value.is_empty() && !options.allow_empty_prefix {
                    return Err(path
                        .field("prefix")
                        .error("prefix string match should not be empty"));
                }
                Ok(Self::Prefix(value))
            }
            (None, None, Some(pattern)) => Ok(Self::Regex(pattern)),
            (None, None, None) if options.allow_presence => Ok(Self::Present),
            (None, None, None) => Err(path.error("one of exact, prefix or regex must be set")),
            _ => Err(path.error("only one of exact, prefix or regex may be set")),
        }
    }
}

impl StringMatch {
    /// Compiles a spec with exactly one of `exact`, `prefix`, `regex`; errors name the field.
    pub fn compile(
        spec: &StringMatchSpec,
        path: &FieldPath,
        options: MatchOptions,
    ) -> Result<Self, ConfigError> {
        let ignore_case = options.ignore_case;
        // Literals in decoded form compare with decoded header values byte for byte.
        match SpecKind::of(spec, path, options)? {
            SpecKind::Exact(value) => Ok(Self::Exact {
                value: raw_text::decode_literal(value).into_owned(),
                ignore_case,
            }),
            SpecKind::Prefix(value) => Ok(Self::Prefix {
                value: raw_text::decode_literal(value).into_owned(),
                ignore_case,
            }),
            SpecKind::Regex(pattern) => {
                FullMatchRegex::new(pattern, &path.field("regex")).map(Self::Regex)
            }
            SpecKind::Present => Ok(Self::Present),
        }
    }

    /// Istio's verdict on a spec, as [`StringMatch::compile`] gives it, without compiling
    /// anything: a regex is parsed, not built (validation runs before the compile, which
    /// would otherwise build each regex twice; the compiled-size limit is the compile's).
    pub fn check(
        spec: &StringMatchSpec,
        path: &FieldPath,
        options: MatchOptions,
    ) -> Result<(), ConfigError> {
        match SpecKind::of(spec, path, options)? {
            SpecKind::Regex(pattern) => check_regex(pattern, &path.field("regex")),
            SpecKind::Exact(_) | SpecKind::Prefix(_) | SpecKind::Present => Ok(()),
        }
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact {
                value: expected,
                ignore_case: false,
            } => value == expected,
            Self::Exact {
                value: expected,
                ignore_case: true,
            } => value.eq_ignore_ascii_case(expected),
            Self::Prefix {
                value: prefix,
                ignore_case: false,
            } => value.starts_with(prefix.as_str()),
            Self::Prefix {
                value: prefix,
                ignore_case: true,
            } => value
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix)),
            Self::Regex(regex) => regex.is_full_match(value),
            Self::Present => true,
        }
    }
}

/// A regex that must match the whole input, as RE2's `FullMatch` (and so Istio) does.
///
/// The pattern is parsed (and so validated) once, when the config is compiled; the matcher is
/// built on first use. A large route table's `uri` regexes are decided by the path index and
/// never need their own matcher, and building 10,000 of them would dominate config compile
/// time and memory.
#[derive(Debug, Clone)]
pub struct FullMatchRegex {
    pattern: Box<str>,
    /// Literal strings every full match contains (see [`required_literals`]).
    required_literals: Box<[Box<[u8]>]>,
    anchored: OnceLock<Option<Regex>>,
}

/// The compiled size the `regex` crate allows by default; checked when the config is compiled,
/// so that a pattern the matcher would refuse is refused there.
const COMPILED_SIZE_LIMIT: usize = 10 << 20;

impl FullMatchRegex {
    /// Compiles `pattern` as RE2 anchored at both ends; errors name the field under `path`.
    pub fn new(pattern: &str, path: &FieldPath) -> Result<Self, ConfigError> {
        // Checking the pattern alone matters: wrapping an unchecked `a)|(b` in an anchoring
        // group would compile into a different regex instead of failing.
        let hir = parse_regex(pattern, path)?;
        thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .which_captures(thompson::WhichCaptures::None)
                    .shrink(false)
                    .nfa_size_limit(Some(COMPILED_SIZE_LIMIT)),
            )
            .build_from_hir(&hir)
            .map_err(|_| {
                path.error(format!(
                    "compiled regex exceeds size limit of {COMPILED_SIZE_LIMIT} bytes"
                ))
            })?;
        let mut literals = Vec::new();
        required_literals(&hir, &mut literals);
        Ok(Self {
            pattern: pattern.into(),
            required_literals: literals.into_iter().map(Vec::into_boxed_slice).collect(),
            anchored: OnceLock::new(),
        })
    }

    /// The pattern as written in the config.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Byte strings that occur in every value this regex fully matches (possibly none).
    pub fn required_literals(&self) -> &[Box<[u8]>] {
        &self.required_literals
    }

    /// Whether the whole of `value` matches. A byte that is not UTF-8 counts as U+FFFD, as
    /// RE2 (Envoy's engine) decodes it ([`raw_text::for_regex`]).
    pub fn is_full_match(&self, value: &str) -> bool {
        let value = raw_text::for_regex(value);
        self.anchored
            .get_or_init(|| Regex::new(&format!(r"\A(?:{})\z", self.pattern)).ok())
            .as_ref()
            .is_some_and(|regex| regex.is_match(&value))
    }
}

/// Collects literals that every match of `hir` contains: literal runs of concatenations and
/// of what must occur at least once; nothing from alternations or optional parts.
fn required_literals(hir: &Hir, out: &mut Vec<Vec<u8>>) {
    match hir.kind() {
        HirKind::Literal(literal) => out.push(literal.0.to_vec()),
        HirKind::Capture(capture) => required_literals(&capture.sub, out),
        HirKind::Repetition(repetition) if repetition.min > 0 => {
            required_literals(&repetition.sub, out)
        }
        HirKind::Concat(parts) => {
            let mut run: Vec<u8> = Vec::new();
            for part in parts {
                match part.kind() {
                    HirKind::Literal(literal) => run.extend_from_slice(&literal.0),
                    _ => {
                        if !run.is_empty() {
                            out.push(std::mem::take(&mut run));
                        }
                        required_literals(part, out);
                    }
                }
            }
            if !run.is_empty() {
                out.push(run);
            }
        }
        HirKind::Empty
        | HirKind::Class(_)
        | HirKind::Look(_)
        | HirKind::Repetition(_)
        | HirKind::Alternation(_) => {}
    }
}

/// Istio's checks on a regex: not empty, at most [`MAX_REGEX_LEN`] long, valid syntax.
pub fn check_regex(pattern: &str, path: &FieldPath) -> Result<(), ConfigError> {
    parse_regex(pattern, path).map(drop)
}

fn parse_regex(pattern: &str, path: &FieldPath) -> Result<Hir, ConfigError> {
    if pattern.is_empty() {
        return Err(path.error("regex string match should not be empty"));
    }
    if pattern.len() > MAX_REGEX_LEN {
        return Err(path.error(format!(
            "regex is too large, max length allowed is {MAX_REGEX_LEN}"
        )));
    }
    regex_syntax::Parser::new()
        .parse(pattern)
        .map_err(|error| path.error(syntax_reason(&error)))
}

/// The short reason of a syntax error (`unclosed group`), without the multi-line caret drawing.
fn syntax_reason(error: &regex_syntax::Error) -> String {
    match error {
        regex_syntax::Error::Parse(error) => error.kind().to_string(),
        regex_syntax::Error::Translate(error) => error.kind().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn spec(json: &str) -> StringMatchSpec {
        serde_json::from_str(json).expect("valid StringMatch JSON")
    }

    fn compile(json: &str, options: MatchOptions) -> Result<StringMatch, ConfigError> {
        StringMatch::compile(&spec(json), &FieldPath::root().field("uri"), options)
    }

    fn matcher(json: &str) -> StringMatch {
        compile(json, MatchOptions::default()).expect("compiles")
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn exact_matches_only_the_whole_value() {
        let exact = matcher(r#"{"exact": "/productpage"}"#);
        assert!(exact.matches("/productpage"));
        assert!(!exact.matches("/productpage/"));
        assert!(!exact.matches("/ProductPage"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn prefix_is_a_plain_string_prefix() {
        let prefix = matcher(r#"{"prefix": "/api"}"#);
        assert!(prefix.matches("/api"));
        assert!(prefix.matches("/api/v1"));
        assert!(prefix.matches("/apiary"));
        assert!(!prefix.matches("/ap"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn ignore_case_applies_to_exact_and_prefix() {
        let options = MatchOptions {
            ignore_case: true,
            ..MatchOptions::default()
        };
        let exact = compile(r#"{"exact": "/Login"}"#, options).expect("compiles");
        assert!(exact.matches("/LOGIN"));
        let prefix = compile(r#"{"prefix": "/API/"}"#, options).expect("compiles");
        assert!(prefix.matches("/api/v1"));
        assert!(!prefix.matches("/ap"));
        // A multi-byte character straddling the prefix length must not panic.
        assert!(!prefix.matches("/ap\u{e9}"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn regex_must_match_the_whole_value() {
        let regex = matcher(r#"{"regex": "/v[0-9]+/.*"}"#);
        assert!(regex.matches("/v1/users"));
        assert!(!regex.matches("/api/v1/users"));
        let alternation = matcher(r#"{"regex": "a|b"}"#);
        assert!(alternation.matches("a"));
        assert!(!alternation.matches("ab"));
        let flags_stay_inside = matcher(r#"{"regex": "(?m)a$"}"#);
        assert!(!flags_stay_inside.matches("a\nb"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn invalid_regexes_name_the_field_and_reason() {
        let error =
            compile(r#"{"regex": "/(a"}"#, MatchOptions::default()).expect_err("unclosed group");
        assert_eq!(error.to_string(), "uri.regex: unclosed group");
        let error =
            compile(r#"{"regex": "a)|(b"}"#, MatchOptions::default()).expect_err("unopened group");
        assert_eq!(error.path, "uri.regex");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn istio_limits_are_enforced() {
        let long = format!(r#"{{"regex": "{}"}}"#, "a".repeat(MAX_REGEX_LEN + 1));
        assert!(compile(&long, MatchOptions::default())
            .expect_err("too long")
            .reason
            .contains("max length allowed is 1024"));
        assert!(compile(r#"{"regex": ""}"#, MatchOptions::default()).is_err());
        assert!(compile(r#"{"prefix": ""}"#, MatchOptions::default()).is_err());
        let uri = MatchOptions {
            allow_empty_prefix: true,
            ..MatchOptions::default()
        };
        assert!(compile(r#"{"prefix": ""}"#, uri).is_ok());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn exactly_one_kind_is_required_unless_presence_is_allowed() {
        assert!(
            compile(r#"{"exact": "a", "prefix": "b"}"#, MatchOptions::default())
                .expect_err("two kinds")
                .reason
                .contains("only one")
        );
        assert!(compile("{}", MatchOptions::default()).is_err());
        let presence = MatchOptions {
            allow_presence: true,
            ..MatchOptions::default()
        };
        assert!(compile("{}", presence).expect("presence").matches(""));
    }
}
