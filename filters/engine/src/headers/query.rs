//! Query-parameter edits on a request's `:path`: `remove` deletes every occurrence, then `set`
//! replaces the first occurrence (dropping the others) or appends one.

use std::collections::BTreeMap;

use crate::error::FieldPath;
use crate::raw_text;
use crate::stream::RequestView;
use crate::ConfigError;

use super::phase::Phase;
use super::spec::QueryParamOperationsSpec;
use super::template::{Template, TemplateInput};

/// Compiled query-parameter edits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParamOperations {
    removals: Vec<String>,
    sets: Vec<(String, Template)>,
}

impl QueryParamOperations {
    /// Compiles `queryParams`; errors name the field under `path`.
    pub fn compile(spec: &QueryParamOperationsSpec, path: &FieldPath) -> Result<Self, ConfigError> {
        let removals = spec
            .remove
            .iter()
            .enumerate()
            .map(|(index, name)| checked_param(name, &path.field("remove").index(index)))
            .collect::<Result<_, _>>()?;
        let sets = compile_sets(&spec.set, &path.field("set"))?;
        Ok(Self { removals, sets })
    }

    /// Whether there is nothing to edit.
    pub fn is_empty(&self) -> bool {
        self.removals.is_empty() && self.sets.is_empty()
    }

    /// `path` with the edits applied. Values are percent-encoded (everything but RFC 3986
    /// unreserved characters); a value that renders empty is skipped, as for headers.
    pub fn apply_to_path<R: RequestView>(
        &self,
        path: &str,
        input: &TemplateInput<'_, R>,
    ) -> String {
        let (before, query) = path.split_once('?').unwrap_or((path, ""));
        let mut pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((key, value)) => (key.to_owned(), format!("={value}")),
                None => (pair.to_owned(), String::new()),
            })
            .collect();
        pairs.retain(|(key, _)| !self.removals.contains(key));
        for (name, template) in &self.sets {
            let value = template.render(input);
            if value.is_empty() {
                continue;
            }
            let encoded = format!("={}", percent_encode(&value));
            match pairs.iter().position(|(key, _)| key == name) {
                Some(first) => {
                    pairs[first].1 = encoded;
                    let mut index = 0;
                    pairs.retain(|(key, _)| {
                        index += 1;
                        index - 1 == first || key != name
                    });
                }
                None => pairs.push((name.clone(), encoded)),
            }
        }
        let mut out = before.to_owned();
        for (index, (key, value)) in pairs.iter().enumerate() {
            out.push(if index == 0 { '?' } else { '&' });
            out.push_str(key);
            out.push_str(value);
        }
        out
    }
}

fn compile_sets(
    values: &BTreeMap<String, String>,
    path: &FieldPath,
) -> Result<Vec<(String, Template)>, ConfigError> {
    values
        .iter()
        .map(|(name, value)| {
            let path = path.field(name);
            let name = checked_param(name, &path)?;
            Ok((name, Template::parse(value, Phase::Request, &path)?))
        })
        .collect()
}

/// A parameter name as it appears in the query: printable ASCII that needs no escaping there.
fn checked_param(name: &str, path: &FieldPath) -> Result<String, ConfigError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && !b"&=#?%".contains(&byte));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(path.error(format!(
            "{name:?} is not a valid query parameter name (printable ASCII without & = # ? % or spaces)"
        )))
    }
}

/// Encodes the bytes `value` stands for ([`raw_text::encode`]), so a copied header value that
/// was not UTF-8 reaches the query as its own bytes, not as its byte escapes.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &byte in raw_text::encode(value).iter() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::test_support::{request_input, FixedAttributes};
    use crate::request::HeaderList;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn operations(json: &str) -> Result<QueryParamOperations, ConfigError> {
        let spec: QueryParamOperationsSpec = serde_json::from_str(json).expect("JSON");
        QueryParamOperations::compile(&spec, &FieldPath::root().field("queryParams"))
    }

    fn edited(json: &str, path: &str) -> String {
        let request = HeaderList::get("a", path).with("x-user", "Jason & co");
        operations(json)
            .expect("compiles")
            .apply_to_path(path, &request_input(&request, &FixedAttributes))
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn set_replaces_the_first_occurrence_and_drops_the_rest() {
        let json = r#"{"set": {"page": "1"}}"#;
        assert_eq!(edited(json, "/p?page=3&q=x&page=4"), "/p?page=1&q=x");
        assert_eq!(edited(json, "/p?q=x"), "/p?q=x&page=1");
        assert_eq!(edited(json, "/p"), "/p?page=1");
        assert_eq!(edited(json, "/p?page"), "/p?page=1");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn remove_deletes_every_occurrence() {
        let json = r#"{"remove": ["debug", "token"]}"#;
        assert_eq!(edited(json, "/p?debug&a=1&token=s&debug=2"), "/p?a=1");
        assert_eq!(edited(json, "/p?token=s"), "/p");
        assert_eq!(edited(json, "/p?a=1"), "/p?a=1");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn values_are_templates_and_percent_encoded() {
        let json =
            r#"{"set": {"user": "%REQ(x-user)%", "lang": "en US", "gone": "%REQ(x-none)%"}}"#;
        assert_eq!(
            edited(json, "/p?a=%20"),
            "/p?a=%20&lang=en%20US&user=Jason%20%26%20co"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn values_that_are_not_utf8_are_percent_encoded_as_their_bytes() {
        let json = r#"{"set": {"user": "%REQ(x-user)%"}}"#;
        let user = raw_text::decode(b"Jos\xe9");
        let request = HeaderList::get("a", "/p").with("x-user", &user);
        let path = raw_text::decode(b"/caf\xe9?q=\xff");
        let edited = operations(json)
            .expect("compiles")
            .apply_to_path(&path, &request_input(&request, &FixedAttributes));
        assert_eq!(&*raw_text::encode(&edited), b"/caf\xe9?q=\xff&user=Jos%E9");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_names_and_values_are_refused() {
        let error = operations(r#"{"set": {"a&b": "1"}}"#).expect_err("bad name");
        assert_eq!(error.path, "queryParams.set.a&b");
        let error = operations(r#"{"remove": ["ok", ""]}"#).expect_err("empty name");
        assert_eq!(error.path, "queryParams.remove[1]");
        let error = operations(r#"{"set": {"a": "%BAD%"}}"#).expect_err("bad template");
        assert!(error.reason.contains("unknown operator %BAD%"), "{error}");
        let error = operations(r#"{"set": {"a": "%RESP(x)%"}}"#).expect_err("response operator");
        assert!(
            error.reason.contains("only available in response"),
            "{error}"
        );
    }
}
