//! What a mirrored copy of a request looks like, as Envoy's shadowing makes it.

use std::time::Duration;

/// Mirrored requests wait at most this long when the route sets no timeout (Envoy's own
/// shadowing then waits forever; a module's HTTP call needs a bound).
pub const DEFAULT_MIRROR_TIMEOUT: Duration = Duration::from_secs(60);

/// The authority of a mirrored copy: `-shadow` after the host, before any port
/// (`api.example.com:8080` → `api.example.com-shadow:8080`), as Envoy and Istio mark them.
pub fn shadow_authority(authority: &str) -> String {
    let port_start = if authority.starts_with('[') {
        authority.rfind("]:").map(|at| at + 1)
    } else {
        authority.rfind(':')
    };
    match port_start {
        Some(at) => format!("{}-shadow{}", &authority[..at], &authority[at..]),
        None => format!("{authority}-shadow"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn shadow_suffix_goes_before_the_port() {
        assert_eq!(
            shadow_authority("api.example.com"),
            "api.example.com-shadow"
        );
        assert_eq!(
            shadow_authority("api.example.com:8080"),
            "api.example.com-shadow:8080"
        );
        assert_eq!(shadow_authority("[::1]:80"), "[::1]-shadow:80");
    }
}
