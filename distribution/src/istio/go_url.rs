//! The URL parsing behind the Kubernetes CEL library's `isURL()` and `url()`: Go's
//! `net/url.ParseRequestURI` (an absolute URI or an absolute path, no fragment). The CRD rule on a
//! WasmPlugin's `url` is written in those terms, so its verdicts must be Go's, not WHATWG's.

/// The parts the CRD rules look at.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedUrl {
    /// Lowercased, as Go stores it; empty for an absolute path.
    pub scheme: String,
}

/// `url.ParseRequestURI(text)`: `None` where Go returns an error.
pub fn parse_request_uri(text: &str) -> Option<ParsedUrl> {
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) || text.is_empty() {
        return None;
    }
    if text == "*" {
        return Some(ParsedUrl {
            scheme: String::new(),
        });
    }
    let (scheme, rest) = split_scheme(text)?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = match rest.strip_suffix('?') {
        Some(without) if rest.matches('?').count() == 1 => without,
        _ => rest.split_once('?').map_or(rest, |(before, _query)| before),
    };
    if !rest.starts_with('/') {
        // An opaque URI ("mailto:x") parses when it has a scheme; a relative path never does.
        return (!scheme.is_empty()).then_some(ParsedUrl { scheme });
    }
    let path = if !scheme.is_empty() && rest.starts_with("//") && !rest.starts_with("///") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(slash) => (&after[..slash], &after[slash..]),
            None => (after, ""),
        };
        if !valid_authority(authority) {
            return None;
        }
        path
    } else {
        rest
    };
    unescape_ok(path, Mode::Path).then_some(ParsedUrl { scheme })
}

/// Go's `getScheme`: letters, then letters, digits, `+`, `-`, `.` up to a colon.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    for (index, byte) in text.bytes().enumerate() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if index > 0 => {}
            b':' if index == 0 => return None, // "missing protocol scheme"
            b':' => return Some((&text[..index], &text[index + 1..])),
            _ => return Some(("", text)),
        }
    }
    Some(("", text))
}

fn valid_authority(authority: &str) -> bool {
    let host = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let valid_userinfo = userinfo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
            if !valid_userinfo || !unescape_ok(userinfo, Mode::UserInfo) {
                return false;
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    valid_host(host)
}

fn valid_host(host: &str) -> bool {
    if host.starts_with('[') {
        let Some(close) = host.rfind(']') else {
            return false; // "missing ']' in host"
        };
        return valid_optional_port(&host[close + 1..]) && unescape_ok(&host[..=close], Mode::Host);
    }
    if let Some(colon) = host.rfind(':') {
        if !valid_optional_port(&host[colon..]) {
            return false;
        }
    }
    unescape_ok(host, Mode::Host)
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    UserInfo,
}

/// Go's `unescape` as a check: `%` must start two hex digits; a host allows only `%25` or
/// escapes of non-ASCII bytes, and only the characters Go lets through unescaped.
fn unescape_ok(text: &str, mode: Mode) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let hex = |offset: usize| {
                bytes
                    .get(index + offset)
                    .and_then(|b| (*b as char).to_digit(16))
            };
            let (Some(high), Some(_low)) = (hex(1), hex(2)) else {
                return false;
            };
            if mode == Mode::Host && high < 8 && &text[index..index + 3] != "%25" {
                return false;
            }
            index += 3;
            continue;
        }
        if mode == Mode::Host && byte < 0x80 && !host_char_allowed(byte) {
            return false;
        }
        index += 1;
    }
    true
}

fn host_char_allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(text: &str) -> Option<String> {
        parse_request_uri(text).map(|url| url.scheme)
    }

    #[test]
    fn absolute_urls_parse_with_their_lowercased_scheme() {
        assert_eq!(
            scheme("oci://private-registry:5000/openid-connect/openid:latest").as_deref(),
            Some("oci")
        );
        assert_eq!(
            scheme("file:///opt/filters/openid.wasm").as_deref(),
            Some("file")
        );
        assert_eq!(scheme("HTTP://test").as_deref(), Some("http"));
        assert_eq!(scheme("fake://example.com").as_deref(), Some("fake"));
        assert_eq!(scheme("/absolute/path").as_deref(), Some(""));
        assert_eq!(scheme("http://[::1]:80/x").as_deref(), Some("http"));
    }

    #[test]
    fn what_go_refuses_is_refused() {
        assert_eq!(scheme("test"), None, "relative path");
        assert_eq!(scheme(""), None);
        assert_eq!(scheme("://x"), None, "missing protocol scheme");
        assert_eq!(scheme("http://#%blah$#@"), None, "'#' in userinfo");
        assert_eq!(scheme("#%blah$#@"), None);
        assert_eq!(scheme("http://host:port/"), None, "invalid port");
        assert_eq!(scheme("http://ho st/"), None, "space in host");
        assert_eq!(scheme("http://host/%zz"), None, "bad escape");
        assert_eq!(scheme("http://[::1/"), None, "missing ]");
    }
}
