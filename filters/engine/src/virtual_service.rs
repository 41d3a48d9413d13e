//! The VirtualService API as Istio writes it (camelCase JSON), and the router's plugin config.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::fault::HttpFaultInjection;
pub use crate::headers::HeaderOperationsSpec;
pub use crate::percentage::PercentSpec;
pub use crate::request_match::HttpMatchRequest;
use crate::string_match::StringMatchSpec;

/// A VirtualService `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// The hosts it routes (short names resolve in its namespace).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The gateways it binds to; none means the sidecars (`mesh`).
    #[serde(default)]
    pub gateways: Vec<String>,
    /// HTTP routes, in first-match order.
    #[serde(default, deserialize_with = "crate::config::compact")]
    pub http: Vec<HttpRoute>,
    /// Namespaces that see this VirtualService; a gateway in another namespace does not.
    #[serde(default)]
    pub export_to: Vec<String>,
    /// TLS and TCP routes belong to other listeners than an HTTP filter's: accepted, unused.
    #[serde(default)]
    pub tls: Vec<serde_json::Value>,
    /// TCP routes: validated as Istio does, not routed (see `tls`).
    #[serde(default)]
    pub tcp: Vec<serde_json::Value>,
}

/// One entry of `http`: the first whose `match` fits the request wins. Its optional parts
/// are boxed: most routes have none of them, and a 10,000-route table holds 10,000 of these.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRoute {
    /// The route's name (the metrics' and `%ROUTE_NAME%`'s route name).
    pub name: Option<String>,
    /// Match blocks: any may hold; none means every request.
    #[serde(rename = "match", default, deserialize_with = "crate::config::compact")]
    pub matches: Vec<HttpMatchRequest>,
    /// Weighted destinations.
    #[serde(default, deserialize_with = "crate::config::compact")]
    pub route: Vec<HttpRouteDestination>,
    /// Answer with a redirect instead of forwarding.
    pub redirect: Option<Box<HttpRedirect>>,
    /// Answer with a fixed response instead of forwarding.
    pub direct_response: Option<Box<HttpDirectResponse>>,
    /// Rewrite the path or authority before forwarding.
    pub rewrite: Option<Box<HttpRewrite>>,
    /// The route's timeout (`"5s"`).
    pub timeout: Option<String>,
    /// The retry policy.
    pub retries: Option<Box<HttpRetry>>,
    /// A single mirror destination.
    pub mirror: Option<Box<Destination>>,
    /// The share of requests `mirror` copies (100% when unset).
    pub mirror_percentage: Option<PercentSpec>,
    /// Deprecated by Istio in favour of `mirrorPercentage`; still accepted.
    pub mirror_percent: Option<u32>,
    /// Several mirrors, each with its own share.
    #[serde(default)]
    pub mirrors: Vec<HttpMirrorPolicy>,
    /// CORS policy.
    pub cors_policy: Option<Box<CorsPolicySpec>>,
    /// Hand the route to another VirtualService's routes.
    pub delegate: Option<Box<Delegate>>,
    /// Header operations on the request and response.
    pub headers: Option<Box<HeadersSpec>>,
    /// Delay and abort injection.
    pub fault: Option<Box<HttpFaultInjection>>,
}

/// Istio's `Headers`: operations on the request before it goes upstream and on the response.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadersSpec {
    /// Operations on the request.
    pub request: Option<HeaderOperationsSpec>,
    /// Operations on the response.
    pub response: Option<HeaderOperationsSpec>,
}

/// `delegate`: this route's traffic is routed by another VirtualService's `http` routes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Delegate {
    /// The delegate VirtualService's name.
    pub name: String,
    /// Its namespace; the root's when unset.
    pub namespace: Option<String>,
}

/// `corsPolicy`, as Envoy's CORS filter applies it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CorsPolicySpec {
    /// Origins allowed to make cross-origin requests.
    #[serde(default)]
    pub allow_origins: Vec<StringMatchSpec>,
    /// Deprecated by Istio in favour of `allowOrigins`; exact origins.
    #[serde(default)]
    pub allow_origin: Vec<String>,
    /// Methods a preflight may ask for.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers the browser may read.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight's answer.
    pub max_age: Option<String>,
    /// Whether credentials may be sent.
    pub allow_credentials: Option<bool>,
    /// `FORWARD` or `IGNORE` for preflights from origins not allowed.
    pub unmatched_preflights: Option<String>,
}

/// One entry of `mirrors`: a copy of the request goes to `destination`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpMirrorPolicy {
    /// Where the copies go.
    pub destination: Destination,
    /// The share of requests copied (100% when unset).
    pub percentage: Option<PercentSpec>,
}

/// `redirect`: answer 3xx with a `location` built from the request and these fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRedirect {
    /// The redirect's path.
    pub uri: Option<String>,
    /// The redirect's authority.
    pub authority: Option<String>,
    /// The redirect's port.
    pub port: Option<u32>,
    /// `FROM_PROTOCOL_DEFAULT` or `FROM_REQUEST_PORT` instead of a fixed `port`.
    pub derive_port: Option<String>,
    /// The redirect's scheme.
    pub scheme: Option<String>,
    /// The redirect's status (301 by default).
    pub redirect_code: Option<u32>,
    /// Istio 1.31: replaces the matched `uri` prefix, as Envoy's redirect `prefix_rewrite`.
    pub prefix_rewrite: Option<String>,
}

/// `directResponse`: answer with a fixed status and body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpDirectResponse {
    /// The HTTP status (200..599).
    pub status: u32,
    /// The body, if any.
    pub body: Option<HttpBody>,
}

/// A direct response body: text, or base64-encoded bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpBody {
    /// The body as text.
    pub string: Option<String>,
    /// The body as base64.
    pub bytes: Option<String>,
}

/// `rewrite`: the path (replacing the matched part, or by regex) and the authority.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRewrite {
    /// Replaces the matched path or prefix.
    pub uri: Option<String>,
    /// Replaces the `:authority`.
    pub authority: Option<String>,
    /// Rewrites the path with a regex.
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// Istio's `RegexRewrite`: a path rewrite by regex substitution.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegexRewrite {
    /// The RE2 regex to find in the path.
    #[serde(rename = "match", default)]
    pub pattern: String,
    /// The replacement, with `\1`-style groups.
    #[serde(default)]
    pub rewrite: String,
}

/// `retries`: Envoy's router retries, configured per request through `x-envoy-*` headers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRetry {
    /// How many retries.
    #[serde(default)]
    pub attempts: i64,
    /// Each try's timeout.
    pub per_try_timeout: Option<String>,
    /// Envoy's retry conditions, comma-separated.
    pub retry_on: Option<String>,
    /// Retry in other localities: accepted with a warning, since no request header sets it.
    pub retry_remote_localities: Option<bool>,
    /// Retry on a host other than the previous ones: accepted with a warning, as above.
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Istio 1.30: the base interval of Envoy's retry back-off.
    pub backoff: Option<String>,
}

/// Istio's `HTTPRouteDestination`: a destination with its weight and headers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRouteDestination {
    /// The service.
    pub destination: Destination,
    /// Its share of the route's requests.
    pub weight: Option<i64>,
    /// Header operations for requests sent here.
    pub headers: Option<HeadersSpec>,
}

/// Istio's `Destination`: a service, optionally a subset and a port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Destination {
    /// The service's host (short names resolve in the VirtualService's namespace).
    pub host: String,
    /// The DestinationRule subset.
    pub subset: Option<String>,
    /// The service port.
    pub port: Option<PortSelector>,
}

/// Istio's `PortSelector`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortSelector {
    /// The port number.
    pub number: u32,
}

/// A VirtualService with the metadata routing needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedVirtualService {
    /// The VirtualService's name.
    pub name: String,
    /// Its namespace (`default` when unset).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Its spec.
    pub spec: VirtualServiceSpec,
}

/// The router module's plugin config in its long form; [`RouterConfig::from_json`] also takes a
/// bare VirtualService `spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouterConfig {
    /// The VirtualServices, in config order.
    pub virtual_services: Vec<NamedVirtualService>,
    /// Appended to short hosts: `reviews` in namespace `default` becomes
    /// `reviews.default.<domainSuffix>`.
    #[serde(default = "default_domain_suffix")]
    pub domain_suffix: String,
    /// When set (`namespace/name`), only VirtualServices bound to this gateway apply, as on an
    /// Istio gateway; when unset every VirtualService applies, as plain Envoy users expect.
    pub gateway: Option<String>,
    /// The port of destinations that name none, when `servicePorts` does not know their service
    /// (or is absent); it plays the part of the listener port Istio falls back to.
    #[serde(default = "default_port")]
    pub default_port: u16,
    /// The ports of each service, by fully-qualified host: a destination without a port takes
    /// its service's only one, as in Istio. When set, it is the registry: a destination it
    /// does not list is reported and answered 503 (see `router::service_ports`).
    pub service_ports: Option<BTreeMap<String, Vec<u32>>>,
    /// Beyond Istio: weighted destinations are picked by a hash of this header or cookie, so
    /// one user keeps one version; requests without it are split at random.
    pub sticky_weights: Option<crate::router::StickySpec>,
    /// The largest request body a mirror copies, in bytes. A mirrored request whose body grows
    /// past it is not mirrored (`router.mirror.skipped_body_too_large`): the copy lives in the
    /// VM's memory until the request ends. 0 mirrors only requests without a body.
    #[serde(default = "default_mirror_max_body_bytes")]
    pub mirror_max_body_bytes: u64,
    /// Whether the router publishes the route it chose as the property
    /// [`crate::route_properties::ROUTE`] (one host call per forwarded request), which the
    /// metrics module's `route_name` and `virtual_service` labels read: on by default, so the
    /// labels work without configuring the router for them; off spares the call where no
    /// module or access log reads it.
    #[serde(default = "default_publish_route")]
    pub publish_route: bool,
    /// Set when the config was one bare `spec`: error paths then start at the spec's fields.
    #[serde(skip)]
    bare_spec: bool,
}

/// Name and namespace given to a bare `spec` config.
pub const INLINE_NAME: &str = "inline";

/// The namespace of a VirtualService that names none.
pub fn default_namespace() -> String {
    "default".to_owned()
}

/// The cluster domain that completes short hosts.
pub fn default_domain_suffix() -> String {
    "svc.cluster.local".to_owned()
}

/// The port of a destination that names none and that `servicePorts` does not list.
pub fn default_port() -> u16 {
    80
}

/// The route is published unless the config says otherwise (the metrics module reads it).
pub fn default_publish_route() -> bool {
    true
}

/// 1 MiB, Envoy's default per-connection buffer limit: what Envoy itself holds of a request.
pub fn default_mirror_max_body_bytes() -> u64 {
    1 << 20
}

impl RouterConfig {
    /// Whether the config was one bare VirtualService spec (so error paths start at its fields).
    pub fn is_bare_spec(&self) -> bool {
        self.bare_spec
    }

    /// Parses either the long form (`{"virtualServices": [...], ...}`) or one bare `spec`,
    /// straight into the typed config: a first pass over the bytes only reads the top-level
    /// keys to tell the forms apart, so no JSON tree of a large config is ever built.
    pub fn from_json(bytes: &[u8]) -> Result<Self, crate::ConfigError> {
        if config_form(bytes)? == ConfigForm::Long {
            crate::config::from_slice(bytes)
        } else {
            let spec = crate::config::from_slice(bytes)?;
            Ok(Self {
                virtual_services: vec![NamedVirtualService {
                    name: INLINE_NAME.to_owned(),
                    namespace: default_namespace(),
                    spec,
                }],
                domain_suffix: default_domain_suffix(),
                gateway: None,
                default_port: default_port(),
                service_ports: None,
                sticky_weights: None,
                mirror_max_body_bytes: default_mirror_max_body_bytes(),
                publish_route: default_publish_route(),
                bare_spec: true,
            })
        }
    }
}

/// The two shapes of a router config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigForm {
    /// `{"virtualServices": [...], "gateway": ..., ...}`.
    Long,
    /// One VirtualService `spec`; also anything that is not a JSON object, whose typed parse
    /// then says what is wrong.
    Bare,
}

/// Which form `bytes` has, from its top-level keys alone (values are skipped unparsed); JSON
/// that does not parse is the error, as it would be in either form.
fn config_form(bytes: &[u8]) -> Result<ConfigForm, crate::ConfigError> {
    struct TopLevelKeys;
    impl<'de> serde::de::Visitor<'de> for TopLevelKeys {
        type Value = ConfigForm;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a router config")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<ConfigForm, A::Error> {
            // serde_json checks that the map was read to its end, so every value is skipped.
            let mut form = ConfigForm::Bare;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "virtualServices" {
                    form = ConfigForm::Long;
                }
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(form)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde::Deserializer::deserialize_map(&mut deserializer, TopLevelKeys) {
        Ok(form) => Ok(form),
        // Not an object: the typed parse of the bare form says what it should be.
        Err(error) if error.classify() == serde_json::error::Category::Data => Ok(ConfigForm::Bare),
        Err(error) => Err(crate::ConfigError::new("", error.to_string())),
    }
}

#[cfg(test)]
mod form_tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn both_forms_parse_without_a_json_tree() {
        let long = br#"{"gateway": "istio-system/gw", "virtualServices": [{"name": "a", "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}}]}]}}]}"#;
        let config = RouterConfig::from_json(long).expect("long form");
        assert!(!config.is_bare_spec());
        assert_eq!(config.gateway.as_deref(), Some("istio-system/gw"));
        let bare = br#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}}]}]}"#;
        let config = RouterConfig::from_json(bare).expect("bare form");
        assert!(config.is_bare_spec());
        assert_eq!(config.virtual_services.len(), 1);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_syntax_error_after_the_form_is_known_is_reported_as_such() {
        let error = RouterConfig::from_json(br#"{"virtualServices": [], "gateway": }"#)
            .expect_err("syntax error");
        assert_eq!(error.path, "");
        assert!(
            error.reason.starts_with("expected value at line 1"),
            "{error}"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_field_error_names_the_field_without_a_location() {
        let error = RouterConfig::from_json(br#"{"hosts": ["*"], "http": [{"timeout": 5}]}"#)
            .expect_err("wrong type");
        assert_eq!(error.path, "http[0].timeout");
        assert!(!error.reason.contains("line"), "{error}");
        let error = RouterConfig::from_json(br#""x""#).expect_err("not an object");
        assert!(error.reason.contains("expected an object"), "{error}");
    }
}
