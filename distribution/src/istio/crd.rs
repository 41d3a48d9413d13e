//! Validation of Istio resources against the OpenAPI v3 schemas of Istio's CRDs, as the
//! Kubernetes API server does it: the structural schema (with `nullable`, unknown fields refused
//! as `kubectl`'s default strict field validation does), `x-kubernetes-list-type` uniqueness, the
//! CEL rules of [`super::cel`], and the object name. Messages follow the API server's wording,
//! e.g. `spec.url in body should be at least 1 chars long`.

use std::path::Path;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{json, Map, Value};

use super::cel;
use super::yaml;
use crate::error::{Context, Error, Result};

pub struct Crds {
    versions: Vec<CrdVersion>,
}

struct CrdVersion {
    /// `group/version`, as a resource's `apiVersion` names it.
    api_version: String,
    kind: String,
    schema: Value,
    validator: jsonschema::Validator,
}

impl Crds {
    /// Loads every CRD version of `crd-all.gen.yaml` (or any multi-document CRD file).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).context(format!("reading {}", path.display()))?;
        Self::parse(&text).context(path.display())
    }

    pub fn parse(text: &str) -> Result<Self> {
        let mut versions = Vec::new();
        for crd in yaml::documents(text)? {
            let spec = &crd["spec"];
            let (Some(group), Some(kind)) =
                (spec["group"].as_str(), spec["names"]["kind"].as_str())
            else {
                continue;
            };
            for version in spec["versions"].as_array().into_iter().flatten() {
                let (Some(name), Some(schema)) = (
                    version["name"].as_str(),
                    version.pointer("/schema/openAPIV3Schema"),
                ) else {
                    continue;
                };
                let validator = jsonschema::draft7::new(&json_schema(schema, true))
                    .map_err(|error| Error::new(format!("{kind} {name} schema: {error}")))?;
                versions.push(CrdVersion {
                    api_version: format!("{group}/{name}"),
                    kind: kind.to_string(),
                    schema: schema.clone(),
                    validator,
                });
            }
        }
        Ok(Crds { versions })
    }

    /// The `openAPIV3Schema` for `apiVersion` and `kind`.
    pub fn schema(&self, api_version: &str, kind: &str) -> Option<&Value> {
        self.find(api_version, kind).map(|version| &version.schema)
    }

    fn find(&self, api_version: &str, kind: &str) -> Option<&CrdVersion> {
        self.versions
            .iter()
            .find(|version| version.api_version == api_version && version.kind == kind)
    }

    /// Every reason the API server would refuse `resource`; empty when it would accept it.
    pub fn validate(&self, resource: &Value) -> Vec<String> {
        let api_version = resource["apiVersion"].as_str().unwrap_or_default();
        let kind = resource["kind"].as_str().unwrap_or_default();
        let Some(version) = self.find(api_version, kind) else {
            return vec![format!(
                "no CRD defines kind {kind:?} in apiVersion {api_version:?}"
            )];
        };
        let mut errors: Vec<String> = version
            .validator
            .iter_errors(resource)
            .map(|e| describe(&e))
            .collect();
        errors.extend(validate_name(resource));
        walk(&version.schema, resource, "", &mut errors);
        errors
    }

    /// The CEL rules in the schema of `kind` (all versions), for checking that each is supported.
    pub fn rules(&self, kind: &str) -> Vec<String> {
        let mut rules = Vec::new();
        for version in self.versions.iter().filter(|version| version.kind == kind) {
            collect_rules(&version.schema, &mut rules);
        }
        rules
    }
}

/// The OpenAPI v3 structural schema as a draft-7 JSON Schema.
fn json_schema(schema: &Value, top_level: bool) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut converted = Map::new();
    for (key, value) in object {
        let value = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, property)| (name.clone(), json_schema(property, false)))
                    .collect(),
            ),
            "items" | "not" => json_schema(value, false),
            "additionalProperties" if value.is_object() => json_schema(value, false),
            "oneOf" | "anyOf" | "allOf" => Value::Array(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| json_schema(s, false))
                    .collect(),
            ),
            // Validated elsewhere (CEL, list types) or not by the API server (formats, docs).
            "nullable" | "format" | "description" => continue,
            key if key.starts_with("x-kubernetes-") => continue,
            _ => value.clone(),
        };
        converted.insert(key.clone(), value);
    }
    if object.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(kind)) = object.get("type") {
            converted.insert("type".to_string(), json!([kind, "null"]));
        }
    }
    let preserves_unknown =
        object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if top_level {
        // The object's envelope: the CRD schema describes spec and status only.
        let properties = converted.entry("properties").or_insert_with(|| json!({}));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("apiVersion".to_string(), json!({"type": "string"}));
            properties.insert("kind".to_string(), json!({"type": "string"}));
            properties.insert("metadata".to_string(), json!({"type": "object"}));
        }
    }
    if object.contains_key("properties")
        && !object.contains_key("additionalProperties")
        && !preserves_unknown
    {
        converted.insert("additionalProperties".to_string(), Value::Bool(false));
    }
    Value::Object(converted)
}

/// The API server's message for a schema violation.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let path = field_path(error.instance_path().as_str());
    let at = if path.is_empty() {
        "<root>".to_string()
    } else {
        path.clone()
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            let full = if path.is_empty() {
                property
            } else {
                format!("{path}.{property}")
            };
            format!("{full}: Required value")
        }
        ValidationErrorKind::MinLength { limit } => {
            format!("{at} in body should be at least {limit} chars long")
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("{at} in body should be at most {limit} chars long")
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!("{at} in body should match '{pattern}'")
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("{at} in body should be greater than or equal to {limit}")
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{at} in body should be less than or equal to {limit}")
        }
        ValidationErrorKind::MaxItems { limit } => {
            format!("{at}: Too many: must have at most {limit} items")
        }
        ValidationErrorKind::MaxProperties { limit } => {
            format!("{at}: Too many: must have at most {limit} properties")
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => single.to_string(),
                TypeKind::Multiple(_) => "the declared types".to_string(),
            };
            format!(
                "{at} in body must be of type {expected}: \"{}\"",
                json_type(error.instance())
            )
        }
        ValidationErrorKind::Enum { options } => {
            format!(
                "{at}: Unsupported value: {}: supported values: {options}",
                error.instance()
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                let full = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                format!("unknown field \"{full}\"")
            })
            .collect::<Vec<_>>()
            .join(", "),
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!("{at}: Invalid value: must validate one and only one schema (oneOf)")
        }
        _ => format!("{at}: {error}"),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `/spec/match/0/ports/0` → `spec.match[0].ports[0]`.
fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.bytes().all(|b| b.is_ascii_digit()) && !segment.is_empty() {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}

/// `metadata.name` (required, an RFC 1123 subdomain) and `metadata.namespace` (an RFC 1123 label).
fn validate_name(resource: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    match resource.pointer("/metadata/name").and_then(Value::as_str) {
        None => errors.push("metadata.name: Required value: name or generateName is required".to_string()),
        Some(name) if !is_subdomain(name) => errors.push(format!(
            "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case \
             alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        )),
        Some(_) => {}
    }
    if let Some(namespace) = resource
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        if namespace.len() > 63 || namespace.contains('.') || !is_subdomain(namespace) {
            errors.push(format!(
                "metadata.namespace: Invalid value: \"{namespace}\": a lowercase RFC 1123 label"
            ));
        }
    }
    errors
}

fn is_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The Kubernetes extensions: CEL rules and list-type uniqueness, wherever the value has them.
fn walk(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    let at = if path.is_empty() { "<root>" } else { path };
    for validation in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let rule = validation["rule"].as_str().unwrap_or_default();
        let message = validation["message"].as_str().unwrap_or(rule);
        match cel::evaluate(rule, value) {
            Ok(true) => {}
            Ok(false) => errors.push(format!(
                "{at}: Invalid value: \"{}\": {message}",
                json_type(value)
            )),
            Err(cel::UnsupportedRule(rule)) => {
                errors.push(format!("{at}: unsupported CEL rule {rule:?}"))
            }
        }
    }
    if let Some(items) = value.as_array() {
        check_list_type(schema, items, path, errors);
        for (index, item) in items.iter().enumerate() {
            walk(&schema["items"], item, &format!("{path}[{index}]"), errors);
        }
    }
    if let Some(object) = value.as_object() {
        for (name, field) in object {
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match schema["properties"].get(name) {
                Some(property) => walk(property, field, &child, errors),
                None if schema["additionalProperties"].is_object() => {
                    walk(&schema["additionalProperties"], field, &child, errors)
                }
                None => {}
            }
        }
    }
}

fn check_list_type(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<String>) {
    let key_of = |item: &Value| -> Value {
        match schema["x-kubernetes-list-type"].as_str() {
            Some("map") => Value::Object(
                schema["x-kubernetes-list-map-keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|key| {
                        (
                            key.to_string(),
                            item.get(key).cloned().unwrap_or(Value::Null),
                        )
                    })
                    .collect(),
            ),
            _ => item.clone(),
        }
    };
    if !matches!(
        schema["x-kubernetes-list-type"].as_str(),
        Some("map" | "set")
    ) {
        return;
    }
    let keys: Vec<Value> = items.iter().map(key_of).collect();
    for (index, key) in keys.iter().enumerate() {
        if keys[..index].contains(key) {
            errors.push(format!("{path}[{index}]: Duplicate value: {key}"));
        }
    }
}

fn collect_rules(schema: &Value, rules: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            for validation in object
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(rule) = validation["rule"].as_str() {
                    rules.push(rule.to_string());
                }
            }
            for (key, child) in object {
                if key != "x-kubernetes-validations" {
                    collect_rules(child, rules);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_rules(item, rules)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_become_api_server_field_paths() {
        assert_eq!(
            field_path("/spec/match/0/ports/0"),
            "spec.match[0].ports[0]"
        );
        assert_eq!(field_path(""), "");
        assert_eq!(
            field_path("/spec/selector/matchLabels/a~1b"),
            "spec.selector.matchLabels.a/b"
        );
    }

    #[test]
    fn nullable_becomes_a_null_type_and_unknown_fields_are_refused() {
        let schema = json!({"type": "object", "properties": {"priority": {"type": "integer", "nullable": true}}});
        assert_eq!(
            json_schema(&schema, false),
            json!({"type": "object", "additionalProperties": false,
                   "properties": {"priority": {"type": ["integer", "null"]}}})
        );
    }
}
