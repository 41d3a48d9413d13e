//! JSON parsing that reports the path of the field that failed.

use serde::de::DeserializeOwned;

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
            (false, false) => {
                ConfigError::new(format!("{prefix}.{}", located.path), located.reason)
            }
        }
    })
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let path = error.path().to_string();
    // serde_path_to_error renders the document root as ".".
    let path = if path == "." { String::new() } else { path };
    ConfigError::new(path, error.into_inner().to_string())
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
    fn trailing_garbage_is_an_error() {
        assert!(from_slice::<Inner>(br#"{"name": "a"} x"#).is_err());
    }
}
