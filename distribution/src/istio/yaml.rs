//! Multi-document YAML, as `kubectl` reads a file, turned into JSON values.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Every non-empty document of `text`, in order.
pub fn documents(text: &str) -> Result<Vec<Value>> {
    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|error| Error::new(format!("YAML document {}: {error}", index + 1)))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}
