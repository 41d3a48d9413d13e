//! `corsPolicy`, with the semantics of Envoy's CORS filter: preflights from allowed origins
//! are answered at the gateway, and responses to allowed origins carry the CORS headers.

use crate::duration;
use crate::error::FieldPath;
use crate::stream::RequestView;
use crate::string_match::{MatchOptions, StringMatch, StringMatchSpec};
use crate::virtual_service::CorsPolicySpec;
use crate::ConfigError;

use super::decision::LocalResponse;

/// The HTTP methods Istio allows in `allowMethods` (Go's `net/http` list, and `*`).
const CORS_METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];

#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: Vec<StringMatch>,
    allow_methods: Option<String>,
    allow_headers: Option<String>,
    expose_headers: Option<String>,
    max_age: Option<String>,
    allow_credentials: bool,
    /// `unmatchedPreflights: IGNORE`: answer preflights from other origins without CORS
    /// headers instead of forwarding them (`FORWARD`, the default).
    ignore_unmatched_preflights: bool,
}

/// What CORS makes of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOutcome {
    /// Not a CORS request, or from an origin the policy does not allow: no CORS headers.
    Untouched,
    /// A preflight the gateway answers itself.
    Answer(LocalResponse<'static>),
    /// An actual request from an allowed origin: these headers go on its response.
    AddToResponse(Vec<(&'static str, String)>),
}

impl CorsPolicy {
    pub fn compile(spec: &CorsPolicySpec, path: &FieldPath) -> Result<Self, ConfigError> {
        check(spec, path)?;
        let mut origins = spec
            .allow_origins
            .iter()
            .enumerate()
            .map(|(index, origin)| {
                StringMatch::compile(
                    origin,
                    &path.field("allowOrigins").index(index),
                    MatchOptions::default(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        origins.extend(
            spec.allow_origin
                .iter()
                .map(|origin| {
                    let exact = StringMatchSpec {
                        exact: Some(origin.clone()),
                        ..StringMatchSpec::default()
                    };
                    StringMatch::compile(&exact, path, MatchOptions::default())
                })
                .collect::<Result<Vec<_>, _>>()?,
        );
        let max_age = spec
            .max_age
            .as_deref()
            .map(|text| {
                duration::parse(text)
                    .map(|age| age.as_secs().to_string())
                    .map_err(|reason| path.field("maxAge").error(reason))
            })
            .transpose()?;

        let ignore_unmatched_preflights = match spec.unmatched_preflights.as_deref() {
            None | Some("FORWARD") | Some("UNSPECIFIED") => false,
            Some("IGNORE") => true,
            Some(other) => {
                return Err(path
                    .field("unmatchedPreflights")
                    .error(format!("unknown value {other:?} (FORWARD or IGNORE)")))
            }
        };
        let joined = |values: &[String]| (!values.is_empty()).then(|| values.join(","));
        Ok(Self {
            origins,
            allow_methods: joined(&spec.allow_methods),
            allow_headers: joined(&spec.allow_headers),
            expose_headers: joined(&spec.expose_headers),
            max_age,
            allow_credentials: spec.allow_credentials.unwrap_or(false),
            ignore_unmatched_preflights,
        })
    }

    pub fn evaluate(&self, request: &impl RequestView) -> CorsOutcome {
        let Some(origin) = request.header("origin").filter(|origin| !origin.is_empty()) else {
            return CorsOutcome::Untouched;
        };
        let is_preflight = request.header(":method").as_deref() == Some("OPTIONS")
            && request
                .header("access-control-request-method")
                .is_some_and(|method| !method.is_empty());
        if !self.allows(&origin) {
            return if is_preflight && self.ignore_unmatched_preflights {
                CorsOutcome::Answer(LocalResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: Vec::new(),
                    response_headers: Vec::new(),
                })
            } else {
                CorsOutcome::Untouched
            };
        }
        let mut headers = vec![("access-control-allow-origin", origin.into_owned())];
        if self.allow_credentials {
            headers.push(("access-control-allow-credentials", "true".to_owned()));
        }
        if !is_preflight {
            if let Some(expose) = &self.expose_headers {
                headers.push(("access-control-expose-headers", expose.clone()));
            }
            return CorsOutcome::AddToResponse(headers);
        }
        let optional = [
            ("access-control-allow-methods", &self.allow_methods),
            ("access-control-allow-headers", &self.allow_headers),
            ("access-control-max-age", &self.max_age),
        ];
        headers.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.clone().map(|value| (name, value))),
        );
        CorsOutcome::Answer(LocalResponse {
            status: 200,
            headers,
            body: Vec::new(),
            response_headers: Vec::new(),
        })
    }

    /// Envoy treats a matcher that matches `*` as allowing every origin.
    fn allows(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|allowed| allowed.matches("*") || allowed.matches(origin))
    }
}

/// Istio's `validateCORSPolicy`.
fn check(spec: &CorsPolicySpec, path: &FieldPath) -> Result<(), ConfigError> {
    for (index, origin) in spec.allow_origins.iter().enumerate() {
        let value = origin
            .exact
            .as_deref()
            .or(origin.prefix.as_deref())
            .or(origin.regex.as_deref())
            .unwrap_or_default();
        if value.is_empty() {
            return Err(path
                .field("allowOrigins")
                .index(index)
                .error("'' is not a valid match type for CORS allow origins"));
        }
    }
    for (index, method) in spec.allow_methods.iter().enumerate() {
        if !CORS_METHODS.contains(&method.as_str()) {
            return Err(path
                .field("allowMethods")
                .index(index)
                .error(format!("{method:?} is not a supported HTTP method")));
        }
    }
    for (field, names) in [
        ("allowHeaders", &spec.allow_headers),
        ("exposeHeaders", &spec.expose_headers),
    ] {
        for (index, name) in names.iter().enumerate() {
            let path = path.field(field).index(index);
            if name.is_empty() {
                return Err(path.error("header name cannot be empty"));
            }
            if name != "*" && !crate::header_name::is_token(name) {
                return Err(path.error(format!("header name {name} is not a valid header name")));
            }
        }
    }
    if let Some(text) = &spec.max_age {
        let path = path.field("maxAge");
        let age = duration::parse(text).map_err(|reason| path.error(reason))?;
        if age < std::time::Duration::from_millis(1) {
            return Err(path.error("duration must be greater than 1ms"));
        }
        if age.subsec_nanos() != 0 {
            return Err(if age.subsec_nanos() % 1_000_000 != 0 {
                path.error("only durations to ms precision are supported")
            } else {
                path.error("max_age duration is accurate only to seconds precision")
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn policy(json: &str) -> CorsPolicy {
        let spec: CorsPolicySpec = serde_json::from_str(json).expect("valid corsPolicy JSON");
        CorsPolicy::compile(&spec, &FieldPath::root().field("corsPolicy")).expect("valid")
    }

    fn preflight(origin: &str) -> HeaderList {
        HeaderList::default()
            .with(":method", "OPTIONS")
            .with(":path", "/api")
            .with(":authority", "api.example.com")
            .with("origin", origin)
            .with("access-control-request-method", "PUT")
    }

    const POLICY: &str = r#"{"allowOrigins": [{"exact": "https://app.example.com"}, {"regex": "https://.*\\.dev\\.example\\.com"}],
        "allowMethods": ["GET", "PUT"], "allowHeaders": ["x-token", "content-type"],
        "exposeHeaders": ["x-trace"], "maxAge": "24h", "allowCredentials": true}"#;

    #[wasm_bindgen_test(unsupported = test)]
    fn preflights_from_allowed_origins_are_answered() {
        let CorsOutcome::Answer(response) =
            policy(POLICY).evaluate(&preflight("https://a.dev.example.com"))
        else {
            panic!("expected an answer");
        };
        assert_eq!(response.status, 200);
        assert_eq!(
            response.headers,
            [
                (
                    "access-control-allow-origin",
                    "https://a.dev.example.com".to_owned()
                ),
                ("access-control-allow-credentials", "true".to_owned()),
                ("access-control-allow-methods", "GET,PUT".to_owned()),
                (
                    "access-control-allow-headers",
                    "x-token,content-type".to_owned()
                ),
                ("access-control-max-age", "86400".to_owned()),
            ]
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn actual_requests_get_origin_credentials_and_expose_headers() {
        let request =
            HeaderList::get("api.example.com", "/").with("origin", "https://app.example.com");
        assert_eq!(
            policy(POLICY).evaluate(&request),
            CorsOutcome::AddToResponse(vec![
                (
                    "access-control-allow-origin",
                    "https://app.example.com".to_owned()
                ),
                ("access-control-allow-credentials", "true".to_owned()),
                ("access-control-expose-headers", "x-trace".to_owned()),
            ])
        );
        assert_eq!(
            policy(POLICY).evaluate(&HeaderList::get("api.example.com", "/")),
            CorsOutcome::Untouched
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unmatched_preflights_are_forwarded_or_ignored() {
        assert_eq!(
            policy(POLICY).evaluate(&preflight("https://evil.com")),
            CorsOutcome::Untouched
        );
        let ignoring = policy(
            r#"{"allowOrigins": [{"exact": "https://a.com"}], "unmatchedPreflights": "IGNORE"}"#,
        );
        assert_eq!(
            ignoring.evaluate(&preflight("https://evil.com")),
            CorsOutcome::Answer(LocalResponse {
                status: 200,
                headers: Vec::new(),
                body: Vec::new(),
                response_headers: Vec::new(),
            })
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_wildcard_origin_allows_all_and_echoes_the_origin() {
        let any = policy(r#"{"allowOrigins": [{"exact": "*"}]}"#);
        assert_eq!(
            any.evaluate(&HeaderList::get("a", "/").with("origin", "https://x.org")),
            CorsOutcome::AddToResponse(vec![(
                "access-control-allow-origin",
                "https://x.org".to_owned()
            )])
        );
    }
}
