//! The metrics plugin configuration: parsed, validated and compiled once.

use serde::Deserialize;

use super::naming::Naming;
use super::sanitize::label_value;
use crate::error::FieldPath;
use crate::{header_name, ConfigError};

/// The cap's default: generous for a gateway's routes × codes, small for Prometheus.
pub const DEFAULT_MAX_LABEL_SETS: usize = 1000;
/// The largest cap accepted; the shared list of admitted label sets grows by 8 bytes each.
pub const MAX_MAX_LABEL_SETS: usize = 100_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricsSpec {
    #[serde(default)]
    naming: Naming,
    #[serde(default = "default_reporter")]
    reporter: String,
    #[serde(default = "default_max_label_sets")]
    max_label_sets: usize,
    #[serde(default)]
    dimensions: Vec<DimensionSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DimensionSpec {
    name: String,
    request_header: Option<String>,
    response_header: Option<String>,
    attribute: Option<String>,
    value_type: Option<ValueType>,
}

fn default_reporter() -> String {
    // What an Istio gateway reports: it is the source side of the requests it sends.
    "source".to_owned()
}

fn default_max_label_sets() -> usize {
    DEFAULT_MAX_LABEL_SETS
}

/// How an Envoy attribute's bytes are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Text (most attributes: `upstream.address`, `request.protocol`, …).
    #[default]
    String,
    /// A 64-bit integer, which Envoy hands over as 8 little-endian bytes (`response.code`).
    Int,
    /// A boolean, one byte (`connection.mtls`).
    Bool,
}

impl ValueType {
    /// The attribute's value as text; `None` when the bytes do not fit the type.
    pub fn render(self, bytes: &[u8]) -> Option<String> {
        match self {
            ValueType::String => Some(String::from_utf8_lossy(bytes).into_owned()),
            ValueType::Int => {
                let raw: [u8; 8] = bytes.try_into().ok()?;
                Some(i64::from_le_bytes(raw).to_string())
            }
            ValueType::Bool => match bytes {
                [0] => Some("false".to_owned()),
                [1] => Some("true".to_owned()),
                _ => None,
            },
        }
    }
}

/// Where a user dimension's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DimensionSource {
    /// A request header (lowercase name); repeated headers are joined by `,`.
    RequestHeader(String),
    /// A response header (lowercase name).
    ResponseHeader(String),
    /// An Envoy attribute, by path segments (`["upstream", "address"]`).
    Attribute {
        /// Its path segments.
        path: Vec<String>,
        /// How its bytes read as a label value.
        value_type: ValueType,
    },
}

/// The compiled configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Which metric names and labels are emitted.
    pub naming: Naming,
    /// The `reporter` label's value.
    pub reporter: String,
    /// How many distinct label sets get their own series; the rest count under `other`.
    pub max_label_sets: usize,
    /// The user's dimensions' names, in config order (labels after the built-in ones).
    pub dimension_names: Vec<String>,
    /// Their sources, in the same order.
    pub dimension_sources: Vec<DimensionSource>,
}

impl MetricsConfig {
    /// Parses, validates and compiles a metrics plugin config.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let spec: MetricsSpec = crate::config::from_slice(bytes)?;
        compile(spec)
    }
}

fn compile(spec: MetricsSpec) -> Result<MetricsConfig, ConfigError> {
    let root = FieldPath::root();
    if spec.reporter.is_empty() || label_value(&spec.reporter) != spec.reporter {
        return Err(root
            .field("reporter")
            .error("must be non-empty and use only the characters [A-Za-z0-9_.,:/|@+-]"));
    }
    if !(1..=MAX_MAX_LABEL_SETS).contains(&spec.max_label_sets) {
        return Err(root.field("maxLabelSets").error(format!(
            "must be between 1 and {MAX_MAX_LABEL_SETS}, got {}",
            spec.max_label_sets
        )));
    }
    let mut names: Vec<String> = Vec::new();
    let mut sources = Vec::new();
    for (index, dimension) in spec.dimensions.into_iter().enumerate() {
        let path = root.field("dimensions").index(index);
        check_name(&path.field("name"), &dimension.name, spec.naming, &names)?;
        sources.push(compile_source(&path, &dimension)?);
        names.push(dimension.name);
    }
    Ok(MetricsConfig {
        naming: spec.naming,
        reporter: spec.reporter,
        max_label_sets: spec.max_label_sets,
        dimension_names: names,
        dimension_sources: sources,
    })
}

/// A dimension's name becomes a label and a tag regex `(name=\.=(.*?);\.;)`, which is not
/// anchored: a name that ends another label's name (`code` in `response_code`) would match
/// inside that label's tag, so such names are refused.
fn check_name(
    path: &FieldPath,
    name: &str,
    naming: Naming,
    earlier: &[String],
) -> Result<(), ConfigError> {
    let mut bytes = name.bytes();
    let valid = bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if !valid {
        return Err(path.error(format!(
            "{name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        )));
    }
    if name.starts_with("__") {
        return Err(path.error(format!(
            "{name:?}: names starting with __ are reserved by Prometheus"
        )));
    }
    let others = naming
        .labels()
        .iter()
        .copied()
        .chain(earlier.iter().map(String::as_str));
    for other in others {
        if other == name {
            return Err(path.error(format!("{name:?} is already a label")));
        }
        if other.ends_with(name) || name.ends_with(other) {
            return Err(path.error(format!(
                "{name:?} and the label {other:?} end alike, so their tag regexes would match \
                 each other's tags; choose a name that is not a suffix of another"
            )));
        }
    }
    Ok(())
}

fn compile_source(path: &FieldPath, spec: &DimensionSpec) -> Result<DimensionSource, ConfigError> {
    let source = match (&spec.request_header, &spec.response_header, &spec.attribute) {
        (Some(header), None, None) => {
            DimensionSource::RequestHeader(header_source(&path.field("requestHeader"), header)?)
        }
        (None, Some(header), None) => {
            DimensionSource::ResponseHeader(header_source(&path.field("responseHeader"), header)?)
        }
        (None, None, Some(attribute)) => {
            let segments: Vec<String> = attribute.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err(path.field("attribute").error(format!(
                    "{attribute:?} is not an attribute path like \"upstream.address\""
                )));
            }
            DimensionSource::Attribute {
                path: segments,
                value_type: spec.value_type.unwrap_or_default(),
            }
        }
        _ => {
            return Err(
                path.error("exactly one of requestHeader, responseHeader or attribute must be set")
            )
        }
    };
    if spec.value_type.is_some() && !matches!(source, DimensionSource::Attribute { .. }) {
        return Err(path
            .field("valueType")
            .error("only applies to an attribute"));
    }
    Ok(source)
}

fn header_source(path: &FieldPath, header: &str) -> Result<String, ConfigError> {
    if header_name::is_valid(header) {
        Ok(header.to_ascii_lowercase())
    } else {
        Err(path.error(format!("{header:?} is not a valid header name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn error(json: &str) -> String {
        MetricsConfig::from_json(json.as_bytes())
            .expect_err("invalid config")
            .to_string()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn an_empty_object_takes_the_defaults() {
        let config = MetricsConfig::from_json(b"{}").expect("valid");
        assert_eq!(config.naming, Naming::Gateway);
        assert_eq!(config.reporter, "source");
        assert_eq!(config.max_label_sets, DEFAULT_MAX_LABEL_SETS);
        assert!(config.dimension_names.is_empty());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn dimensions_compile_in_order() {
        let config = MetricsConfig::from_json(
            br#"{"reporter": "gateway", "maxLabelSets": 5, "dimensions": [
                {"name": "tenant", "requestHeader": "X-Tenant"},
                {"name": "cache", "responseHeader": "x-cache"},
                {"name": "upstream_address", "attribute": "upstream.address"},
                {"name": "mtls", "attribute": "connection.mtls", "valueType": "bool"}
            ]}"#,
        )
        .expect("valid");
        assert_eq!(config.reporter, "gateway");
        assert_eq!(config.max_label_sets, 5);
        assert_eq!(
            config.dimension_names,
            ["tenant", "cache", "upstream_address", "mtls"]
        );
        assert_eq!(
            config.dimension_sources,
            [
                DimensionSource::RequestHeader("x-tenant".into()),
                DimensionSource::ResponseHeader("x-cache".into()),
                DimensionSource::Attribute {
                    path: vec!["upstream".into(), "address".into()],
                    value_type: ValueType::String
                },
                DimensionSource::Attribute {
                    path: vec!["connection".into(), "mtls".into()],
                    value_type: ValueType::Bool
                },
            ]
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_configs_name_the_field() {
        assert_eq!(
            error(r#"{"maxLabelSets": 0}"#),
            "maxLabelSets: must be between 1 and 100000, got 0"
        );
        assert!(error(r#"{"maxLabelSets": -1}"#).starts_with("maxLabelSets: invalid value"));
        assert!(error(r#"{"reporter": "a b"}"#).starts_with("reporter: must be non-empty"));
        assert!(error(r#"{"dimensions": [{"name": "x"}]}"#)
            .starts_with("dimensions[0]: exactly one of"));
        assert!(error(
            r#"{"dimensions": [{"name": "x", "requestHeader": "a", "attribute": "b"}]}"#
        )
        .starts_with("dimensions[0]: exactly one of"));
        assert!(
            error(r#"{"dimensions": [{"name": "x", "requestHeader": "a b"}]}"#)
                .starts_with("dimensions[0].requestHeader: \"a b\" is not a valid header name")
        );
        assert!(
            error(r#"{"dimensions": [{"name": "x", "attribute": "a..b"}]}"#)
                .starts_with("dimensions[0].attribute:")
        );
        assert_eq!(
            error(r#"{"dimensions": [{"name": "x", "requestHeader": "a", "valueType": "int"}]}"#),
            "dimensions[0].valueType: only applies to an attribute"
        );
        assert!(error(
            r#"{"dimensions": [{"name": "x", "attribute": "a", "valueType": "float"}]}"#
        )
        .starts_with("dimensions[0].valueType: unknown variant `float`"));
        assert!(error(r#"{"dimenssions": []}"#).starts_with("dimenssions: unknown field"));
        assert!(error(r#"{"naming": "prometheus"}"#)
            .starts_with("naming: unknown variant `prometheus`, expected one of"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn dimension_names_must_be_distinct_label_names() {
        let dimension = |name: &str| {
            error(&format!(
                r#"{{"dimensions": [{{"name": "tenant", "requestHeader": "a"}},
                                    {{"name": "{name}", "requestHeader": "b"}}]}}"#
            ))
        };
        assert!(dimension("1x").starts_with("dimensions[1].name: \"1x\" is not a Prometheus"));
        assert!(dimension("a-b").starts_with("dimensions[1].name: \"a-b\" is not a Prometheus"));
        assert!(dimension("__x").contains("reserved"));
        assert_eq!(
            dimension("tenant"),
            "dimensions[1].name: \"tenant\" is already a label"
        );
        assert_eq!(
            dimension("route_name"),
            "dimensions[1].name: \"route_name\" is already a label"
        );
        // Suffixes either way round would let one tag regex match inside the other's tag.
        assert!(dimension("code").contains("\"response_code\" end alike"));
        assert!(dimension("my_tenant").contains("\"tenant\" end alike"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn dimension_names_are_checked_against_the_modes_labels() {
        let dimension = |naming: &str, name: &str| {
            MetricsConfig::from_json(
                format!(
                    r#"{{"naming": "{naming}", "dimensions": [{{"name": "{name}", "requestHeader": "a"}}]}}"#
                )
                .as_bytes(),
            )
            .map(|config| config.naming)
            .map_err(|error| error.to_string())
        };
        assert_eq!(dimension("istio", "tenant"), Ok(Naming::Istio));
        assert_eq!(dimension("istioRoutes", "tenant"), Ok(Naming::IstioRoutes));
        assert_eq!(
            dimension("istio", "source_workload"),
            Err("dimensions[0].name: \"source_workload\" is already a label".to_owned())
        );
        // Not a label of the gateway mode, so free there.
        assert_eq!(dimension("gateway", "source_workload"), Ok(Naming::Gateway));
        assert!(dimension("istio", "workload")
            .is_err_and(|error| error.contains("\"source_workload\" end alike")));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn attribute_values_render_by_type() {
        assert_eq!(
            ValueType::String.render(b"10.0.0.1:80"),
            Some("10.0.0.1:80".into())
        );
        assert_eq!(
            ValueType::Int.render(&404i64.to_le_bytes()),
            Some("404".into())
        );
        assert_eq!(ValueType::Int.render(b"abc"), None);
        assert_eq!(ValueType::Bool.render(&[1]), Some("true".into()));
        assert_eq!(ValueType::Bool.render(&[0]), Some("false".into()));
        assert_eq!(ValueType::Bool.render(&[]), None);
    }
}
