//! HTTP header name rules (RFC 9110 tokens, plus the pseudo-headers Envoy exposes).

/// Whether `name` is a header field name: a non-empty RFC 9110 token, or a `:pseudo` header.
pub fn is_valid(name: &str) -> bool {
    let token = name.strip_prefix(':').unwrap_or(name);
    !token.is_empty() && token.bytes().all(is_token_byte)
}

/// Whether `name` is a non-empty RFC 9110 token (no pseudo-header).
pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_byte)
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn tokens_and_pseudo_headers_are_valid() {
        assert!(is_valid("x-user"));
        assert!(is_valid(":authority"));
        assert!(is_valid("X_Weird~Name"));
        assert!(!is_valid(""));
        assert!(!is_valid(":"));
        assert!(!is_valid("bad header"));
        assert!(!is_valid("bad:header"));
        assert!(!is_valid("new\nline"));
    }
}
