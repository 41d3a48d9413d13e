//! Header bytes as text, losslessly.
//!
//! Envoy hands a filter header values as bytes, and accepts bytes that are not UTF-8 (HTTP's
//! obs-text: `x-name: Jos\xe9`). The engine works on `str`, so the host shell converts at the
//! boundary with [`decode`] and converts back with [`encode`] when it writes a value:
//!
//! - every valid UTF-8 sequence stands for itself, so ordinary values cost nothing;
//! - every other byte `b` becomes one *byte escape*, the code point `U+10FF00 + b` (the last 256
//!   code points of Supplementary Private Use Area-B);
//! - a valid sequence that encodes a code point of that escape range is escaped byte by byte too,
//!   so every escape in decoded text came from exactly one byte and the round trip is exact.
//!
//! Comparing decoded values is comparing bytes: two values decode to equal text exactly when
//! their bytes are equal, and one starts (or ends) with a decoded config literal exactly when its
//! bytes do. That is what Envoy's exact, prefix and suffix matchers compare. A regex sees each
//! escape as U+FFFD ([`for_regex`]), as RE2 decodes a byte that is not UTF-8 leniently. Values a
//! module copies (`%REQ(x)%`, a rewritten path's rest) keep their escapes and [`encode`]
//! restores the original bytes.

use std::borrow::Cow;

/// The first code point of the escape range: byte `b` escapes to `ESCAPE_BASE + b`.
const ESCAPE_BASE: u32 = 0x10_FF00;

/// `decode` of bytes: borrowed when they are plain UTF-8 with no code point of the escape range.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if !holds_escape_range(text) => Cow::Borrowed(text),
        _ => Cow::Owned(decode_escaping(bytes)),
    }
}

/// [`decode`] for an owned buffer: no copy when it is plain UTF-8.
pub fn decode_owned(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) if !holds_escape_range(&text) => text,
        Ok(text) => decode_escaping(text.as_bytes()),
        Err(error) => decode_escaping(error.as_bytes()),
    }
}

/// The bytes `text` stands for: the inverse of [`decode`].
pub fn encode(text: &str) -> Cow<'_, [u8]> {
    if !has_escapes(text) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut bytes = Vec::with_capacity(text.len());
    for character in text.chars() {
        match escaped_byte(character) {
            Some(byte) => bytes.push(byte),
            None => {
                let mut buffer = [0; 4];
                bytes.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    Cow::Owned(bytes)
}

/// Whether `text` holds byte escapes, i.e. stood for bytes that are not plain UTF-8.
pub fn has_escapes(text: &str) -> bool {
    holds_escape_range(text)
}

/// Whether `text` is plain UTF-8 text as it stands (no byte escapes).
pub fn is_plain(text: &str) -> bool {
    !has_escapes(text)
}

/// `text` with every byte escape replaced by U+FFFD, the replacement character: what a regex
/// sees of a value that is not UTF-8. Envoy's RE2 decodes such bytes leniently (its `.*`
/// matches `Jos\xe9`, checked against Envoy in `envoy-test/tests/hostile.rs`); a regex
/// here matches the same on this form. Borrowed when there is nothing to replace.
pub fn for_regex(text: &str) -> Cow<'_, str> {
    if !has_escapes(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|character| {
                if escaped_byte(character).is_some() {
                    char::REPLACEMENT_CHARACTER
                } else {
                    character
                }
            })
            .collect(),
    )
}

/// A config literal (always valid UTF-8) in decoded form, so it compares with decoded values
/// byte for byte; only a literal holding escape-range code points changes.
pub fn decode_literal(literal: &str) -> Cow<'_, str> {
    decode(literal.as_bytes())
}

fn escaped_byte(character: char) -> Option<u8> {
    u32::from(character)
        .checked_sub(ESCAPE_BASE)
        .and_then(|offset| u8::try_from(offset).ok())
}

fn escape(byte: u8) -> char {
    // ESCAPE_BASE + 0xFF = U+10FFFF, the last valid code point; no surrogate is in the range.
    char::from_u32(ESCAPE_BASE + u32::from(byte)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The escape range's code points are U+10FF00..=U+10FFFF, encoded `F4 8F BC..=BF xx`: a cheap
/// byte scan finds them.
fn holds_escape_range(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .windows(3)
        .any(|window| window[0] == 0xF4 && window[1] == 0x8F && window[2] >= 0xBC)
}

fn decode_escaping(mut bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() + 8);
    while !bytes.is_empty() {
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(valid) => (valid, &[][..]),
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                // `valid_up_to` is a char boundary of valid UTF-8.
                (std::str::from_utf8(valid).unwrap_or_default(), rest)
            }
        };
        for character in valid.chars() {
            if escaped_byte(character).is_some() {
                let mut buffer = [0; 4];
                for byte in character.encode_utf8(&mut buffer).bytes() {
                    text.push(escape(byte));
                }
            } else {
                text.push(character);
            }
        }
        // The first byte after the valid part cannot start a valid sequence here: escape it
        // alone and go on from the next byte (a later byte may start a valid sequence).
        if let Some((&invalid, after)) = rest.split_first() {
            text.push(escape(invalid));
            bytes = after;
        } else {
            bytes = rest;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn plain_utf8_is_borrowed_unchanged() {
        assert!(matches!(decode("José".as_bytes()), Cow::Borrowed("José")));
        assert!(matches!(encode("José"), Cow::Borrowed(b) if b == "José".as_bytes()));
        assert_eq!(decode_owned(b"abc".to_vec()), "abc");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn invalid_bytes_round_trip() {
        let cases: [&[u8]; 7] = [
            b"Jos\xe9",
            b"\xff\xfe",
            b"caf\xc3\xa9\xe9",
            b"\xc3",
            b"\xe2\x82",
            b"\x80abc\xc3\xa9",
            b"\xf4\x8f\xbf\xbf-literal-escape-range",
        ];
        for bytes in cases {
            let text = decode(bytes);
            assert!(has_escapes(&text), "{bytes:?}");
            assert_eq!(&*encode(&text), bytes);
            assert_eq!(decode_owned(bytes.to_vec()), text);
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn comparisons_are_byte_comparisons() {
        // Latin-1 é is not UTF-8 é: an exact match on "José" must not take "Jos\xe9".
        assert_ne!(decode(b"Jos\xe9"), "José");
        assert!(decode(b"Jos\xe9").starts_with("Jos"));
        assert!(decode(b"/api/\xff").starts_with("/api/"));
        assert!(!decode(b"/a\xc3").starts_with("/a\u{c3}"));
        assert_eq!(decode_literal("José"), "José");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn every_byte_pair_round_trips() {
        for first in 0..=255u8 {
            for second in [0x00, 0x41, 0x80, 0xbf, 0xc3, 0xff] {
                let bytes = [first, second, b'x'];
                assert_eq!(&*encode(&decode(&bytes)), &bytes[..]);
            }
        }
    }
}
