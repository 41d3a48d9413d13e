//! `rewrite`: how the upstream path and authority differ from the client's.

use regex::Regex;

use crate::error::FieldPath;
use crate::string_match::check_regex;
use crate::virtual_service::HttpRewrite;
use crate::ConfigError;

/// A compiled `rewrite`.
#[derive(Debug, Clone, Default)]
pub struct Rewrite {
    pub path: Option<PathRewrite>,
    pub authority: Option<String>,
}

#[derive(Debug, Clone)]
pub enum PathRewrite {
    /// `uri`: replaces the part of the path the route matched (Envoy's `prefix_rewrite`).
    MatchedPart(String),
    /// `uriRegexRewrite`: every match in the path (query excluded) is substituted, as RE2's
    /// `GlobalReplace` does in Envoy's `regex_rewrite`.
    Regex {
        pattern: Regex,
        substitution: String,
    },
}

impl Rewrite {
    pub fn compile(spec: &HttpRewrite, path: &FieldPath) -> Result<Self, ConfigError> {
        let uri = spec.uri.as_deref().filter(|uri| !uri.is_empty());
        let authority = spec
            .authority
            .clone()
            .filter(|authority| !authority.is_empty());
        let path_rewrite = match (uri, &spec.uri_regex_rewrite) {
            (Some(_), Some(_)) => {
                return Err(path.error("rewrite may only contain one of uri or uriRegexRewrite"))
            }
            (None, None) if authority.is_none() => {
                return Err(path.error(
                    "rewrite must specify at least one of uri, uriRegexRewrite, or authority",
                ))
            }
            (Some(uri), None) => Some(PathRewrite::MatchedPart(uri.to_owned())),
            (None, Some(regex_rewrite)) => {
                if regex_rewrite.pattern.is_empty() || regex_rewrite.rewrite.is_empty() {
                    return Err(path.field("uriRegexRewrite").error(
                        "uriRegexRewrite requires both rewrite and match fields to be specified",
                    ));
                }
                let regex_path = path.field("uriRegexRewrite").field("match");
                check_regex(&regex_rewrite.pattern, &regex_path)?;
                let pattern = Regex::new(&regex_rewrite.pattern)
                    .map_err(|error| regex_path.error(error.to_string()))?;
                Some(PathRewrite::Regex {
                    pattern,
                    substitution: to_rust_substitution(&regex_rewrite.rewrite),
                })
            }
            (None, None) => None,
        };
        Ok(Self {
            path: path_rewrite,
            authority,
        })
    }
}

impl PathRewrite {
    /// The new `:path`, given the request's and the length of the part the route matched.
    pub fn apply(&self, path: &str, matched_len: usize) -> String {
        match self {
            Self::MatchedPart(replacement) => {
                let rest = path.get(matched_len..).unwrap_or("");
                format!("{replacement}{rest}")
            }
            Self::Regex {
                pattern,
                substitution,
            } => {
                let (before_query, query) = match path.find('?') {
                    Some(at) => path.split_at(at),
                    None => (path, ""),
                };
                // Substituting into a path that is not UTF-8 would lose its bytes: unchanged.
                if crate::raw_text::has_escapes(before_query) {
                    return path.to_owned();
                }
                let rewritten = pattern.replace_all(before_query, substitution.as_str());
                format!("{rewritten}{query}")
            }
        }
    }
}

/// RE2 substitutions write groups as `\1`; Rust's as `${1}`, with a literal `$` as `$$`.
fn to_rust_substitution(re2: &str) -> String {
    let mut out = String::with_capacity(re2.len());
    let mut chars = re2.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(digit) if digit.is_ascii_digit() => {
                    chars.next();
                    out.push_str(&format!("${{{digit}}}"));
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn rewrite(json: &str) -> Result<Rewrite, ConfigError> {
        let spec: HttpRewrite = serde_json::from_str(json).expect("valid rewrite JSON");
        Rewrite::compile(&spec, &FieldPath::root().field("rewrite"))
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn uri_replaces_the_matched_prefix_keeping_the_rest_and_query() {
        let uri = rewrite(r#"{"uri": "/"}"#)
            .expect("valid")
            .path
            .expect("path");
        assert_eq!(uri.apply("/v1/users?id=1", "/v1/".len()), "/users?id=1");
        // Envoy's well-known edge: prefix "/v1" rewritten to "/" leaves a double slash.
        assert_eq!(uri.apply("/v1/users", "/v1".len()), "//users");
        let whole = rewrite(r#"{"uri": "/new"}"#)
            .expect("valid")
            .path
            .expect("path");
        assert_eq!(whole.apply("/old?x=1", "/old".len()), "/new?x=1");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn regex_rewrite_substitutes_groups_globally_outside_the_query() {
        let regex = rewrite(r#"{"uriRegexRewrite": {"match": "^/service/([^/]+)(/.*)$", "rewrite": "\\2/instance/\\1"}}"#)
            .expect("valid")
            .path
            .expect("path");
        assert_eq!(
            regex.apply("/service/foo/v1/api?x=/service/a/b", 0),
            "/v1/api/instance/foo?x=/service/a/b"
        );
        let global = rewrite(r#"{"uriRegexRewrite": {"match": "a", "rewrite": "$"}}"#)
            .expect("valid")
            .path
            .expect("path");
        assert_eq!(global.apply("/aba", 0), "/$b$");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn uri_and_regex_rewrite_are_exclusive() {
        assert_eq!(
            rewrite(r#"{"uri": "/", "uriRegexRewrite": {"match": "a", "rewrite": "b"}}"#)
                .expect_err("both")
                .to_string(),
            "rewrite: rewrite may only contain one of uri or uriRegexRewrite"
        );
        assert_eq!(
            rewrite(r#"{"uriRegexRewrite": {"match": "(", "rewrite": "b"}}"#)
                .expect_err("bad regex")
                .to_string(),
            "rewrite.uriRegexRewrite.match: unclosed group"
        );
    }
}
