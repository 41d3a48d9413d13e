//! JSON parsing that reports the path of the field that failed.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::ConfigError;

/// Parses `bytes` as JSON into `T`; errors name the field path, as in
/// `http[0].match[0].uri: unknown field `exactt``.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer
        .end()
        .map_err(|error| ConfigError::new("", error.to_string()))?;
    Ok(value)
}

/// `#[serde(deserialize_with = "crate::config::compact")]` for a `Vec` field repeated per
/// route: serde's `Vec` grows to at least four elements, and a one-element `match` or `route`
/// list would keep three empty slots of a large struct for every route of a 10,000-route table.
/// Shrinking each list as soon as it is read keeps that waste from adding up.
pub fn compact<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    let mut items: Vec<T> = serde::Deserialize::deserialize(deserializer)?;
    items.shrink_to_fit();
    Ok(items)
}

/// Deserializes an already parsed JSON value into `T`, with field paths below `prefix`.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let located = path_error(error);
        match (prefix.is_empty(), located.path.is_empty()) {
            (true, _) => located,
            (false, true) => ConfigError::new(prefix, located.reason),
            (false, false) if located.path.starts_with('[') => {
                ConfigError::new(format!("{prefix}{}", located.path), located.reason)
            }
            (false, false) => {
                ConfigError::new(format!("{prefix}.{}", located.path), located.reason)
            }
        }
    })
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let mut path = crate::error::FieldPath::root();
    for segment in error.path().iter() {
        path = match segment {
            Segment::Seq { index } => path.index(*index),
            Segment::Map { key } => path.field(key),
            Segment::Enum { variant } => path.field(variant),
            Segment::Unknown => path.field("?"),
        };
    }
    let error = error.into_inner();
    let mut reason = error.to_string();
    // The field path says where a field's error is; serde's ` at line 1 column 4012` only
    // repeats it less readably. A syntax error has no path, so it keeps its location.
    if !path.is_root() && error.line() > 0 {
        let location = format!(" at line {} column {}", error.line(), error.column());
        if let Some(without) = reason.strip_suffix(&location) {
            reason.truncate(without.len());
        }
    }
    path.error(readable_reason(&reason))
}

/// serde's reason without the Rust names it carries: `expected struct StringMatchSpec` says
/// nothing to someone who wrote YAML, `expected an object` does.
fn readable_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(at) = rest.find("expected ") {
        let (before, after) = rest.split_at(at + "expected ".len());
        out.push_str(before);
        let word_end = |text: &str| {
            text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len())
        };
        let (replacement, consumed) = if let Some(name) = after.strip_prefix("struct ") {
            ("an object", "struct ".len() + word_end(name))
        } else if let Some(name) = after.strip_prefix("untagged enum ") {
            (
                "one of the allowed forms",
                "untagged enum ".len() + word_end(name),
            )
        } else if let Some(name) = after.strip_prefix("enum ") {
            ("one of the allowed values", "enum ".len() + word_end(name))
        } else {
            let word = &after[..word_end(after)];
            let replacement = match word {
                "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
                "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
                "f32" | "f64" => "a number",
                _ => "",
            };
            (
                replacement,
                if replacement.is_empty() {
                    0
                } else {
                    word.len()
                },
            )
        };
        out.push_str(replacement);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    // `data did not match any variant of untagged enum StatusSpec`
    match out.find("untagged enum ") {
        Some(at) => format!("{}the allowed forms", &out[..at]),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unknown_fields_are_reported_with_their_path() {
        let error = from_slice::<Outer>(br#"{"items": [{"name": "a"}, {"nmae": "b"}]}"#)
            .expect_err("unknown field");
        assert_eq!(error.path, "items[1].nmae");
        assert!(error.reason.starts_with("unknown field `nmae`"), "{error}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wrong_types_are_reported_with_their_path() {
        let error = from_slice::<Outer>(br#"{"items": [{"name": 7}]}"#).expect_err("wrong type");
        assert_eq!(error.path, "items[0].name");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn values_carry_the_prefix() {
        let value = serde_json::json!({"items": [{"name": 1}]});
        let error = from_value::<Outer>(value, "virtualServices[3].spec").expect_err("wrong type");
        assert_eq!(error.path, "virtualServices[3].spec.items[0].name");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reasons_name_no_rust_types() {
        let error =
            from_value::<Outer>(serde_json::json!({"items": [null]}), "").expect_err("null item");
        assert_eq!(
            error.to_string(),
            "items[0]: invalid type: null, expected an object"
        );
        let error =
            from_value::<std::collections::BTreeMap<String, Inner>>(serde_json::json!({"": 1}), "")
                .expect_err("number");
        assert_eq!(
            error.to_string(),
            "[\"\"]: invalid type: integer `1`, expected an object"
        );
        let error = from_value::<Vec<u16>>(serde_json::json!([-1]), "ports").expect_err("sign");
        assert_eq!(
            error.to_string(),
            "ports[0]: invalid value: integer `-1`, expected a non-negative integer"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn trailing_garbage_is_an_error() {
        assert!(from_slice::<Inner>(br#"{"name": "a"} x"#).is_err());
    }
}
