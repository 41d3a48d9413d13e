//! Sticky weighted splits (beyond Istio, whose weights are random per request): the draw that
//! picks a weighted destination comes from a hash of a header or cookie, so one user stays on
//! one version during a canary. Raising a canary's weight only moves users onto it.

use serde::Deserialize;

use crate::error::FieldPath;
use crate::stream::RequestView;
use crate::ConfigError;

/// `stickyWeights` in the router config: exactly one of `header` or `cookie`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StickySpec {
    /// The request header whose value keeps a client on one destination.
    pub header: Option<String>,
    /// The cookie whose value keeps a client on one destination.
    pub cookie: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    Header(String),
    Cookie(String),
}

impl StickyKey {
    pub fn compile(spec: &StickySpec, path: &FieldPath) -> Result<Self, ConfigError> {
        match (&spec.header, &spec.cookie) {
            (Some(header), None) if crate::header_name::is_valid(header) => {
                Ok(Self::Header(header.to_ascii_lowercase()))
            }
            (Some(_), None) => Err(path.field("header").error("invalid header name")),
            (None, Some(cookie)) if !cookie.is_empty() => Ok(Self::Cookie(cookie.clone())),
            (None, Some(_)) => Err(path.field("cookie").error("cookie name must not be empty")),
            _ => Err(path.error("exactly one of header or cookie must be set")),
        }
    }

    /// The draw for `request`: a hash of its key, or `None` when the request has no key.
    pub fn draw(&self, request: &impl RequestView) -> Option<u64> {
        match self {
            Self::Header(name) => request
                .header(name)
                .map(|value| stable_hash(value.as_bytes())),
            Self::Cookie(name) => {
                let cookies = request.header("cookie")?;
                cookie_value(&cookies, name).map(|value| stable_hash(value.as_bytes()))
            }
        }
    }
}

/// The value of cookie `name` in a `cookie` header (`a=1; b=2`).
fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// FNV-1a with a final mix: the same on every worker, VM and restart.
fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64's finaliser spreads nearby keys over the whole range.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn the_same_key_always_draws_the_same() {
        let key = StickyKey::Header("x-user".to_owned());
        let jason = HeaderList::get("a", "/").with("x-user", "jason");
        assert_eq!(key.draw(&jason), key.draw(&jason.clone()));
        assert_ne!(
            key.draw(&jason),
            key.draw(&HeaderList::get("a", "/").with("x-user", "mary"))
        );
        assert_eq!(key.draw(&HeaderList::get("a", "/")), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn cookies_are_found_by_name() {
        let key = StickyKey::Cookie("session".to_owned());
        let request = HeaderList::get("a", "/").with("cookie", "theme=dark; session=abc; x=1");
        assert_eq!(key.draw(&request), Some(stable_hash(b"abc")));
        assert_eq!(
            key.draw(&HeaderList::get("a", "/").with("cookie", "sessions=abc")),
            None
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn hashes_spread_evenly() {
        let in_lower_half = (0..10_000)
            .filter(|user| stable_hash(format!("user-{user}").as_bytes()) % 100 < 50)
            .count();
        assert!((4_800..=5_200).contains(&in_lower_half), "{in_lower_half}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn exactly_one_source_is_required() {
        let spec = |json: &str| serde_json::from_str::<StickySpec>(json).expect("valid JSON");
        let path = FieldPath::root().field("stickyWeights");
        assert!(StickyKey::compile(&spec("{}"), &path).is_err());
        assert!(StickyKey::compile(&spec(r#"{"header": "a", "cookie": "b"}"#), &path).is_err());
        assert_eq!(
            StickyKey::compile(&spec(r#"{"header": "bad name"}"#), &path)
                .expect_err("invalid")
                .to_string(),
            "stickyWeights.header: invalid header name"
        );
    }
}
