//! `redirect`: a 3xx answer whose `location` Envoy's rules build from the request
//! (`Http::Utility::newUri`), with the parts Istio's `HTTPRedirect` replaces.

use crate::error::FieldPath;
use crate::stream::RequestView;
use crate::virtual_service::HttpRedirect;
use crate::ConfigError;

#[derive(Debug, Clone)]
pub struct Redirect {
    pub status: u16,
    scheme: Option<String>,
    authority: Option<String>,
    port: RedirectPort,
    path: Option<RedirectPath>,
}

/// How the location's path comes from the request's.
#[derive(Debug, Clone)]
enum RedirectPath {
    /// `uri`: the whole path is replaced; the query stays unless `uri` has its own.
    Whole(String),
    /// `prefixRewrite`: the part the route matched is replaced, the rest (query included)
    /// kept, as Envoy's `prefix_rewrite` does.
    MatchedPrefix(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedirectPort {
    /// No port in the location, unless the request's authority keeps its own.
    Unchanged,
    Fixed(u16),
    /// `derivePort: FROM_REQUEST_PORT`: the port the request arrived on.
    FromRequest,
}

impl Redirect {
    pub fn compile(spec: &HttpRedirect, path: &FieldPath) -> Result<Self, ConfigError> {
        let non_empty = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
        let (uri, prefix_rewrite) = (non_empty(&spec.uri), non_empty(&spec.prefix_rewrite));
        if uri.is_some() && prefix_rewrite.is_some() {
            return Err(path.error("redirect may only specify one of uri or prefix_rewrite"));
        }
        if uri.is_none()
            && prefix_rewrite.is_none()
            && non_empty(&spec.authority).is_none()
            && non_empty(&spec.scheme).is_none()
            && spec.port.is_none()
            && spec.derive_port.is_none()
        {
            return Err(path.error("redirect must specify URI, authority, scheme, or port"));
        }
        let status = match spec.redirect_code {
            None | Some(0) => 301,
            Some(code @ (301 | 302 | 303 | 307 | 308)) => code as u16,
            Some(code @ 300..=399) => {
                // Istio's validation takes any 3xx, but its translation knows only these five
                // and leaves any other without a route action, which Envoy refuses.
                return Err(path.field("redirectCode").error(format!(
                    "{code} is not a supported redirect code (301, 302, 303, 307 or 308)"
                )));
            }
            Some(code) => {
                return Err(path
                    .field("redirectCode")
                    .error(format!("{code} is not a valid redirect code, must be 3xx")))
            }
        };
        let scheme = non_empty(&spec.scheme);
        if scheme
            .as_deref()
            .is_some_and(|scheme| scheme != "http" && scheme != "https")
        {
            return Err(path
                .field("scheme")
                .error("invalid redirect scheme, must be \"http\" or \"https\""));
        }
        let port = match (spec.port, spec.derive_port.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(path.error("only one of port or derivePort may be set"));
            }
            // Istio's `port: 0` sets no port.
            (Some(0), None) => RedirectPort::Unchanged,
            (Some(port), None) => RedirectPort::Fixed(u16::try_from(port).map_err(|_| {
                path.field("port")
                    .error(format!("port number {port} must be in the range 1..65535"))
            })?),
            (None, Some("FROM_REQUEST_PORT")) => RedirectPort::FromRequest,
            (None, Some("FROM_PROTOCOL_DEFAULT")) | (None, None) => RedirectPort::Unchanged,
            (None, Some(other)) => {
                return Err(path.field("derivePort").error(format!(
                    "unknown value {other:?} (FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT)"
                )))
            }
        };
        Ok(Self {
            status,
            scheme,
            authority: non_empty(&spec.authority),
            port,
            path: match (uri, prefix_rewrite) {
                (Some(uri), _) => Some(RedirectPath::Whole(uri)),
                (None, Some(prefix)) => Some(RedirectPath::MatchedPrefix(prefix)),
                (None, None) => None,
            },
        })
    }

    /// The `location` for `request`, of whose `:path` the route matched the first
    /// `matched_len` bytes.
    pub fn location(&self, request: &impl RequestView, matched_len: usize) -> String {
        let forwarded_proto = request
            .header("x-forwarded-proto")
            .or_else(|| request.header(":scheme"))
            .map(|scheme| scheme.into_owned())
            .unwrap_or_else(|| "http".to_owned());
        let scheme = self
            .scheme
            .clone()
            .unwrap_or_else(|| forwarded_proto.clone());
        let port = match self.port {
            RedirectPort::Unchanged => None,
            RedirectPort::Fixed(port) => Some(port),
            RedirectPort::FromRequest => request.destination_port(),
        };
        // Istio writes no port for 80 with http or 443 with https, the scheme being the
        // redirect's or else the gateway server's; the request's authority then keeps its own.
        let server_scheme = if request.downstream_tls() {
            "https"
        } else {
            "http"
        };
        let port = match (port, self.scheme.as_deref().unwrap_or(server_scheme)) {
            (Some(80), "http") | (Some(443), "https") | (None, _) => String::new(),
            (Some(port), _) => format!(":{port}"),
        };
        let host = match &self.authority {
            Some(authority) => authority.clone(),
            None => {
                let authority = request.header(":authority").unwrap_or_default();
                request_host(&authority, &scheme, &forwarded_proto, !port.is_empty()).to_owned()
            }
        };
        let request_path = request.header(":path").unwrap_or_default();
        let path = match &self.path {
            Some(RedirectPath::MatchedPrefix(prefix)) => {
                format!(
                    "{prefix}{}",
                    request_path.get(matched_len..).unwrap_or_default()
                )
            }
            Some(RedirectPath::Whole(new_path)) if new_path.contains('?') => new_path.clone(),
            Some(RedirectPath::Whole(new_path)) => match request_path.find('?') {
                Some(query_start) => format!("{new_path}{}", &request_path[query_start..]),
                None => new_path.clone(),
            },
            None => request_path.into_owned(),
        };
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{host}{port}{slash}{path}")
    }
}

/// The request's host for the location: its port goes when a new port replaces it, or when
/// the scheme changes and the port was that of the old scheme (`:80` for http, `:443` for https).
fn request_host<'a>(
    authority: &'a str,
    new_scheme: &str,
    request_scheme: &str,
    new_port: bool,
) -> &'a str {
    let port_start = if authority.starts_with('[') {
        authority.rfind("]:").map(|at| at + 1)
    } else {
        authority.rfind(':')
    };
    let Some(port_start) = port_start else {
        return authority;
    };
    let request_port = &authority[port_start..];
    let default_port_of_old_scheme = new_scheme != request_scheme
        && ((request_scheme == "https" && request_port == ":443")
            || (request_scheme == "http" && request_port == ":80"));
    if new_port || default_port_of_old_scheme {
        &authority[..port_start]
    } else {
        authority
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn redirect(json: &str) -> Result<Redirect, ConfigError> {
        let spec: HttpRedirect = serde_json::from_str(json).expect("valid redirect JSON");
        Redirect::compile(&spec, &FieldPath::root().field("redirect"))
    }

    fn request(authority: &str, path: &str) -> HeaderList {
        HeaderList::get(authority, path).with("x-forwarded-proto", "http")
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn uri_replaces_the_path_and_keeps_the_query() {
        let redirect = redirect(r#"{"uri": "/v2/login"}"#).expect("valid");
        assert_eq!(redirect.status, 301);
        assert_eq!(
            redirect.location(&request("shop.com", "/login?next=%2F"), 0),
            "http://shop.com/v2/login?next=%2F"
        );
        let with_query = self::redirect(r#"{"uri": "/a?b=c"}"#).expect("valid");
        assert_eq!(
            with_query.location(&request("shop.com", "/x?y=z"), 0),
            "http://shop.com/a?b=c"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn authority_scheme_and_port() {
        let https = redirect(r#"{"scheme": "https", "redirectCode": 308}"#).expect("valid");
        assert_eq!(https.status, 308);
        assert_eq!(
            https.location(&request("shop.com:80", "/a"), 0),
            "https://shop.com/a"
        );
        assert_eq!(
            https.location(&request("shop.com:8080", "/a"), 0),
            "https://shop.com:8080/a"
        );
        let moved = redirect(r#"{"authority": "new.shop.com", "port": 8443}"#).expect("valid");
        assert_eq!(
            moved.location(&request("shop.com:80", "/a"), 0),
            "http://new.shop.com:8443/a"
        );
        let port_only = redirect(r#"{"port": 9000}"#).expect("valid");
        assert_eq!(
            port_only.location(&request("[::1]:80", "/a"), 0),
            "http://[::1]:9000/a"
        );
    }

    /// Istio's `ApplyRedirect` omits a default port, so Envoy keeps the request's authority as
    /// it came (found by the differential test, `envoy-test/tests/differential.rs`).
    #[wasm_bindgen_test(unsupported = test)]
    fn the_default_port_of_the_scheme_is_not_written() {
        let to_80 = redirect(r#"{"port": 80, "uri": "/login"}"#).expect("valid");
        assert_eq!(
            to_80.location(&request("shop.com", "/a"), 0),
            "http://shop.com/login"
        );
        assert_eq!(
            to_80.location(&request("shop.com:8080", "/a"), 0),
            "http://shop.com:8080/login"
        );
        // The server's scheme decides, not the client's x-forwarded-proto.
        assert_eq!(
            to_80.location(
                &HeaderList::get("shop.com", "/a").with("x-forwarded-proto", "https"),
                0
            ),
            "https://shop.com/login"
        );
        assert_eq!(
            to_80.location(&request("shop.com", "/a").over_tls(), 0),
            "http://shop.com:80/login"
        );
        let to_443 = redirect(r#"{"port": 443, "scheme": "https"}"#).expect("valid");
        assert_eq!(
            to_443.location(&request("shop.com:8080", "/a"), 0),
            "https://shop.com:8080/a"
        );
        let derived = redirect(r#"{"derivePort": "FROM_REQUEST_PORT"}"#).expect("valid");
        assert_eq!(
            derived.location(&request("shop.com:8080", "/a").on_port(80), 0),
            "http://shop.com:8080/a"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn derive_port_from_the_request() {
        let derived =
            redirect(r#"{"scheme": "https", "derivePort": "FROM_REQUEST_PORT"}"#).expect("valid");
        assert_eq!(
            derived.location(&request("shop.com:8080", "/a").on_port(8443), 0),
            "https://shop.com:8443/a"
        );
        let protocol_default =
            redirect(r#"{"scheme": "https", "derivePort": "FROM_PROTOCOL_DEFAULT"}"#)
                .expect("valid");
        assert_eq!(
            protocol_default.location(&request("shop.com:80", "/a").on_port(80), 0),
            "https://shop.com/a"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn invalid_redirects_name_the_field() {
        assert_eq!(
            redirect(r#"{"redirectCode": 300, "uri": "/"}"#).expect_err("code").to_string(),
            "redirect.redirectCode: 300 is not a supported redirect code (301, 302, 303, 307 or 308)"
        );
        assert_eq!(
            redirect("{}").expect_err("empty").to_string(),
            "redirect: redirect must specify URI, authority, scheme, or port"
        );
        assert!(redirect(r#"{"port": 1, "derivePort": "FROM_REQUEST_PORT"}"#).is_err());
        assert!(redirect(r#"{"derivePort": "SOMETIMES"}"#).is_err());
    }
}
