//! `timeout` and `retries`, handed to Envoy's router as the per-request `x-envoy-*` headers it
//! honours, so Envoy itself times out and retries. A route without `retries` has Istio's default
//! policy, which the module's route in Envoy carries itself: such a route sends no retry header
//! (see [`super::CUSTOM_RETRIES_HEADER`]).

use std::time::Duration;

use crate::duration;
use crate::error::{ConfigWarning, FieldPath};
use crate::virtual_service::HttpRetry;
use crate::ConfigError;

/// Headers through which a request can steer Envoy's router. The module removes any a client
/// sent: only the VirtualService may set them.
pub const ROUTER_CONTROL_HEADERS: [&str; 11] = [
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-max-retries",
    "x-envoy-retry-on",
    "x-envoy-retry-grpc-on",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-hedge-on-per-try-timeout",
    "x-envoy-upstream-alt-stat-name",
];

/// `retryOn` tokens Envoy takes in `x-envoy-retry-on`.
const HTTP_RETRY_ON: [&str; 11] = [
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
];

/// `retryOn` tokens Envoy takes in `x-envoy-retry-grpc-on`.
const GRPC_RETRY_ON: [&str; 5] = [
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Istio's `retryOn` for a route whose `retries` name none (its default policy's conditions).
const ISTIO_DEFAULT_RETRY_ON: &str = "connect-failure,refused-stream,unavailable,cancelled,503";

/// A route's `timeout` and `retries`, compiled.
pub struct UpstreamPolicy {
    pub timeout: Option<Duration>,
    /// The `x-envoy-*` headers the route sets on every request it forwards.
    pub router_headers: Vec<(&'static str, String)>,
}

pub fn compile(
    timeout: Option<&str>,
    retries: Option<&HttpRetry>,
    path: &FieldPath,
) -> Result<UpstreamPolicy, ConfigError> {
    let timeout = timeout
        .map(|timeout| parse_duration(timeout, &path.field("timeout")))
        .transpose()?;
    Ok(UpstreamPolicy {
        timeout,
        router_headers: router_headers(timeout, retries, path)?,
    })
}

/// Istio's `ValidateHTTPRetry`, and warnings for the fields Envoy takes from the route's
/// `retry_policy` only, which no request header sets: `backoff` (Envoy's base interval comes
/// from `retry_policy.retry_back_off` or the process-wide runtime key
/// `upstream.base_retry_backoff_ms`, 25 ms by default), `retryRemoteLocalities` (a retry
/// priority) and `retryIgnorePreviousHosts: false` (the module's route always has the host
/// predicate that `true`, Istio's default, asks for).
pub fn check_retries(
    retries: Option<&HttpRetry>,
    path: &FieldPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let Some(retries) = retries else {
        return Ok(());
    };
    let path = path.field("retries");
    if retries.attempts < 0 {
        return Err(path.field("attempts").error("attempts cannot be negative"));
    }
    let retry_on = retries.retry_on.as_deref().unwrap_or_default();
    if retries.attempts == 0
        && (retries.per_try_timeout.is_some()
            || !retry_on.is_empty()
            || retries.retry_remote_localities.is_some())
    {
        return Err(path.error(
            "http retry policy configured when attempts are set to 0 (disabled): perTryTimeout, retryOn and retryRemoteLocalities must not be set",
        ));
    }
    if let Some(text) = &retries.per_try_timeout {
        parse_duration(text, &path.field("perTryTimeout"))?;
    }
    if !retry_on.is_empty() {
        for token in retry_on.split(',') {
            let is_status = token
                .parse::<u16>()
                .is_ok_and(|code| KNOWN_STATUS_CODES.contains(&code));
            if !is_status && !HTTP_RETRY_ON.contains(&token) && !GRPC_RETRY_ON.contains(&token) {
                return Err(path
                    .field("retryOn")
                    .error(format!("{token:?} is not a valid retryOn policy")));
            }
        }
    }
    if let Some(text) = &retries.backoff {
        parse_duration(text, &path.field("backoff"))?;
    }
    if retries.attempts == 0 {
        return Ok(());
    }
    if retries.backoff.is_some() {
        warnings.push(path.field("backoff").warning(
            "not applied: Envoy takes the retry back-off from the route's retry_policy.retry_back_off (or the runtime key upstream.base_retry_backoff_ms), and no request header sets it; retries wait Envoy's default (25ms base, 250ms cap)",
        ));
    }
    if retries.retry_remote_localities == Some(true) {
        warnings.push(path.field("retryRemoteLocalities").warning(
            "not applied: Envoy takes a retry priority from the route's retry_policy only, and no request header sets it",
        ));
    }
    // `true` is what the module's route does anyway (pilot's `previous_hosts` predicate).
    if retries.retry_ignore_previous_hosts == Some(false) {
        warnings.push(path.field("retryIgnorePreviousHosts").warning(
            "not applied: the module's route in Envoy always has Istio's previous_hosts retry predicate (Envoy takes retry host predicates from the route's retry_policy only, and no request header sets them)",
        ));
    }
    Ok(())
}

fn router_headers(
    timeout: Option<Duration>,
    retries: Option<&HttpRetry>,
    path: &FieldPath,
) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let mut headers = Vec::new();
    if let Some(timeout) = timeout {
        headers.push(("x-envoy-upstream-rq-timeout-ms", millis(timeout)));
    }
    check_retries(retries, path, &mut Vec::new())?;
    // Istio's default policy is on the route of the module's contract with Envoy itself.
    let Some(retries) = retries else {
        return Ok(headers);
    };
    headers.push((super::CUSTOM_RETRIES_HEADER, "custom".to_owned()));
    let retries_path = path.field("retries");
    let per_try_timeout = retries
        .per_try_timeout
        .as_deref()
        .map(|text| parse_duration(text, &retries_path.field("perTryTimeout")))
        .transpose()?;
    let attempts = retries.attempts;
    let retry_on = retries
        .retry_on
        .as_deref()
        .filter(|retry_on| !retry_on.is_empty())
        .unwrap_or(ISTIO_DEFAULT_RETRY_ON);
    if attempts <= 0 {
        return Ok(headers);
    }
    headers.push(("x-envoy-max-retries", attempts.to_string()));
    let RetryOn {
        http,
        grpc,
        status_codes,
    } = parse_retry_on(retry_on, &retries_path.field("retryOn"))?;
    if !http.is_empty() {
        headers.push(("x-envoy-retry-on", http.join(",")));
    }
    if !grpc.is_empty() {
        headers.push(("x-envoy-retry-grpc-on", grpc.join(",")));
    }
    if !status_codes.is_empty() {
        headers.push(("x-envoy-retriable-status-codes", status_codes.join(",")));
    }
    if let Some(per_try_timeout) = per_try_timeout {
        headers.push((
            "x-envoy-upstream-rq-per-try-timeout-ms",
            millis(per_try_timeout),
        ));
    }
    Ok(headers)
}

/// The codes Go's `http.StatusText` names, which Istio takes as `retryOn` status codes.
const KNOWN_STATUS_CODES: [u16; 62] = [
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
    305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
    416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 510, 511,
];

struct RetryOn<'a> {
    http: Vec<&'a str>,
    grpc: Vec<&'a str>,
    status_codes: Vec<&'a str>,
}

/// Splits Istio's `retryOn` into Envoy's HTTP and gRPC conditions and status codes; status
/// codes imply `retriable-status-codes`, as Istio adds it.
fn parse_retry_on<'a>(retry_on: &'a str, path: &FieldPath) -> Result<RetryOn<'a>, ConfigError> {
    let mut parsed = RetryOn {
        http: Vec::new(),
        grpc: Vec::new(),
        status_codes: Vec::new(),
    };
    for token in retry_on
        .split(',')
        .map(str::trim)
        .filter(|token| !token.is_empty())
    {
        if HTTP_RETRY_ON.contains(&token) {
            parsed.http.push(token);
        } else if GRPC_RETRY_ON.contains(&token) {
            parsed.grpc.push(token);
        } else if token
            .parse::<u16>()
            .is_ok_and(|code| (100..=599).contains(&code))
        {
            parsed.status_codes.push(token);
        } else {
            return Err(path.error(format!("{token:?} is not a valid retryOn policy")));
        }
    }
    if !parsed.status_codes.is_empty() && !parsed.http.contains(&"retriable-status-codes") {
        parsed.http.push("retriable-status-codes");
    }
    Ok(parsed)
}

/// Istio durations: at least 1ms, in whole milliseconds.
fn parse_duration(text: &str, path: &FieldPath) -> Result<Duration, ConfigError> {
    let value = duration::parse(text).map_err(|reason| path.error(reason))?;
    if value < Duration::from_millis(1) {
        return Err(path.error("duration must be at least 1ms"));
    }
    if value.subsec_nanos() % 1_000_000 != 0 {
        return Err(path.error("only durations to ms precision are supported"));
    }
    Ok(value)
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn headers(
        timeout: Option<&str>,
        retries: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>, ConfigError> {
        let retries: Option<HttpRetry> =
            retries.map(|json| serde_json::from_str(json).expect("valid retries JSON"));
        compile(
            timeout,
            retries.as_ref(),
            &FieldPath::root().field("http").index(0),
        )
        .map(|policy| policy.router_headers)
    }

    fn pairs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect()
    }

    /// Istio's default policy is on the module's route in Envoy: no header says it.
    #[wasm_bindgen_test(unsupported = test)]
    fn unset_retries_send_no_header() {
        assert!(headers(None, None).expect("valid").is_empty());
        assert_eq!(
            pairs(&headers(Some("1s"), None).expect("valid")),
            [("x-envoy-upstream-rq-timeout-ms", "1000")]
        );
    }

    /// A `retries` without `retryOn` keeps the default policy's conditions, as pilot's
    /// `ConvertPolicy` does, on the contract's route without a policy.
    #[wasm_bindgen_test(unsupported = test)]
    fn attempts_alone_keep_istios_default_conditions() {
        let headers = headers(None, Some(r#"{"attempts": 5}"#)).expect("valid");
        assert_eq!(
            pairs(&headers),
            [
                ("x-route-retries", "custom"),
                ("x-envoy-max-retries", "5"),
                (
                    "x-envoy-retry-on",
                    "connect-failure,refused-stream,retriable-status-codes"
                ),
                ("x-envoy-retry-grpc-on", "unavailable,cancelled"),
                ("x-envoy-retriable-status-codes", "503"),
            ]
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn timeout_and_retries_become_router_headers() {
        let headers = headers(
            Some("1.5s"),
            Some(r#"{"attempts": 3, "perTryTimeout": "250ms", "retryOn": "5xx,reset,429,deadline-exceeded"}"#),
        )
        .expect("valid");
        assert_eq!(
            pairs(&headers),
            [
                ("x-envoy-upstream-rq-timeout-ms", "1500"),
                ("x-route-retries", "custom"),
                ("x-envoy-max-retries", "3"),
                ("x-envoy-retry-on", "5xx,reset,retriable-status-codes"),
                ("x-envoy-retry-grpc-on", "deadline-exceeded"),
                ("x-envoy-retriable-status-codes", "429"),
                ("x-envoy-upstream-rq-per-try-timeout-ms", "250"),
            ]
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn zero_attempts_disable_retries() {
        // The route without a retry policy, and nothing to retry on.
        assert_eq!(
            pairs(&headers(None, Some(r#"{"attempts": 0}"#)).expect("valid")),
            [("x-route-retries", "custom")]
        );
        assert_eq!(
            headers(None, Some(r#"{"attempts": 0, "retryOn": "5xx"}"#))
                .expect_err("conflict")
                .path,
            "http[0].retries"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_values_name_the_field() {
        assert_eq!(
            headers(Some("0.5ms"), None)
                .expect_err("too short")
                .to_string(),
            "http[0].timeout: duration must be at least 1ms"
        );
        assert_eq!(
            headers(Some("1.0005s"), None)
                .expect_err("sub-ms")
                .to_string(),
            "http[0].timeout: only durations to ms precision are supported"
        );
        assert_eq!(
            headers(None, Some(r#"{"attempts": 1, "retryOn": "5xx,sometimes"}"#))
                .expect_err("token")
                .to_string(),
            "http[0].retries.retryOn: \"sometimes\" is not a valid retryOn policy"
        );
        assert!(headers(None, Some(r#"{"attempts": -1}"#)).is_err());
        assert!(headers(None, Some(r#"{"attempts": 1, "perTryTimeout": "soon"}"#)).is_err());
    }
}
