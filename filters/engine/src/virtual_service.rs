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
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub gateways: Vec<String>,
    #[serde(default)]
    pub http: Vec<HttpRoute>,
    /// Namespaces that see this VirtualService; a gateway in another namespace does not.
    #[serde(default)]
    pub export_to: Vec<String>,
    /// TLS and TCP routes belong to other listeners than an HTTP filter's: accepted, unused.
    #[serde(default)]
    pub tls: Vec<serde_json::Value>,
    #[serde(default)]
    pub tcp: Vec<serde_json::Value>,
}

/// One entry of `http`: the first whose `match` fits the request wins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRoute {
    pub name: Option<String>,
    #[serde(rename = "match", default)]
    pub matches: Vec<HttpMatchRequest>,
    #[serde(default)]
    pub route: Vec<HttpRouteDestination>,
    pub redirect: Option<HttpRedirect>,
    pub direct_response: Option<HttpDirectResponse>,
    pub rewrite: Option<HttpRewrite>,
    pub timeout: Option<String>,
    pub retries: Option<HttpRetry>,
    pub mirror: Option<Destination>,
    pub mirror_percentage: Option<PercentSpec>,
    /// Deprecated by Istio in favour of `mirrorPercentage`; still accepted.
    pub mirror_percent: Option<u32>,
    #[serde(default)]
    pub mirrors: Vec<HttpMirrorPolicy>,
    pub cors_policy: Option<CorsPolicySpec>,
    pub delegate: Option<Delegate>,
    pub headers: Option<HeadersSpec>,
    pub fault: Option<HttpFaultInjection>,
}

/// Istio's `Headers`: operations on the request before it goes upstream and on the response.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadersSpec {
    pub request: Option<HeaderOperationsSpec>,
    pub response: Option<HeaderOperationsSpec>,
}

/// `delegate`: this route's traffic is routed by another VirtualService's `http` routes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Delegate {
    pub name: String,
    pub namespace: Option<String>,
}

/// `corsPolicy`, as Envoy's CORS filter applies it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CorsPolicySpec {
    #[serde(default)]
    pub allow_origins: Vec<StringMatchSpec>,
    /// Deprecated by Istio in favour of `allowOrigins`; exact origins.
    #[serde(default)]
    pub allow_origin: Vec<String>,
    #[serde(default)]
    pub allow_methods: Vec<String>,
    #[serde(default)]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    pub max_age: Option<String>,
    pub allow_credentials: Option<bool>,
    pub unmatched_preflights: Option<String>,
}

/// One entry of `mirrors`: a copy of the request goes to `destination`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpMirrorPolicy {
    pub destination: Destination,
    pub percentage: Option<PercentSpec>,
}

/// `redirect`: answer 3xx with a `location` built from the request and these fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRedirect {
    pub uri: Option<String>,
    pub authority: Option<String>,
    pub port: Option<u32>,
    pub derive_port: Option<String>,
    pub scheme: Option<String>,
    pub redirect_code: Option<u32>,
    /// Istio 1.31: replaces the matched `uri` prefix, as Envoy's redirect `prefix_rewrite`.
    pub prefix_rewrite: Option<String>,
}

/// `directResponse`: answer with a fixed status and body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpDirectResponse {
    pub status: u32,
    pub body: Option<HttpBody>,
}

/// A direct response body: text, or base64-encoded bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpBody {
    pub string: Option<String>,
    pub bytes: Option<String>,
}

/// `rewrite`: the path (replacing the matched part, or by regex) and the authority.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRewrite {
    pub uri: Option<String>,
    pub authority: Option<String>,
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegexRewrite {
    #[serde(rename = "match", default)]
    pub pattern: String,
    #[serde(default)]
    pub rewrite: String,
}

/// `retries`: Envoy's router retries, configured per request through `x-envoy-*` headers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRetry {
    #[serde(default)]
    pub attempts: i64,
    pub per_try_timeout: Option<String>,
    pub retry_on: Option<String>,
    pub retry_remote_localities: Option<bool>,
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Istio 1.30: the base interval of Envoy's retry back-off.
    pub backoff: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRouteDestination {
    pub destination: Destination,
    pub weight: Option<i64>,
    pub headers: Option<HeadersSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Destination {
    pub host: String,
    pub subset: Option<String>,
    pub port: Option<PortSelector>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortSelector {
    pub number: u32,
}

/// A VirtualService with the metadata routing needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedVirtualService {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub spec: VirtualServiceSpec,
}

/// The router module's plugin config in its long form; [`RouterConfig::from_json`] also takes a
/// bare VirtualService `spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouterConfig {
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
    /// Set when the config was one bare `spec`: error paths then start at the spec's fields.
    #[serde(skip)]
    bare_spec: bool,
}

/// Name and namespace given to a bare `spec` config.
pub const INLINE_NAME: &str = "inline";

pub fn default_namespace() -> String {
    "default".to_owned()
}

pub fn default_domain_suffix() -> String {
    "svc.cluster.local".to_owned()
}

pub fn default_port() -> u16 {
    80
}

/// 1 MiB, Envoy's default per-connection buffer limit: what Envoy itself holds of a request.
pub fn default_mirror_max_body_bytes() -> u64 {
    1 << 20
}

impl RouterConfig {
    pub fn is_bare_spec(&self) -> bool {
        self.bare_spec
    }

    /// Parses either the long form (`{"virtualServices": [...], ...}`) or one bare `spec`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, crate::ConfigError> {
        let value: serde_json::Value = crate::config::from_slice(bytes)?;
        let is_long_form = value
            .as_object()
            .is_some_and(|object| object.contains_key("virtualServices"));
        if is_long_form {
            crate::config::from_value(value, "")
        } else {
            let spec = crate::config::from_value(value, "")?;
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
                bare_spec: true,
            })
        }
    }
}
