//! The syntax Envoy's header formatter accepts in a header value, as Istio checks it before it
//! hands a VirtualService's `headers` to Envoy (`ValidateHTTPHeaderValue`, a port of Envoy's
//! `HeaderParser`): `%%`, and `%NAME%` or `%NAME(args)%` operators, whatever their name.

/// Where the scanner is inside a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Literal,
    Name,
    ExpectArray,
    ExpectString,
    String,
    ExpectDelimiterOrEnd,
    ExpectArgsEnd,
    ExpectVariableEnd,
}

/// Istio's check of a header value: no control characters but tab, and operators that Envoy's
/// parser can delimit.
pub fn check_value(value: &str) -> Result<(), String> {
    if value
        .bytes()
        .any(|b| (b <= 0x08) || (0x0a..=0x1f).contains(&b) || b == 0x7f)
    {
        return Err(format!("header value configuration {value} is invalid"));
    }
    let mut state = State::Literal;
    let mut position = 0;
    let bytes = value.as_bytes();
    while position < bytes.len() {
        let (next, skip) = step(state, bytes, position)
            .map_err(|reason| format!("header value configuration: {reason}"))?;
        state = next;
        position += 1 + skip;
    }
    if state != State::Literal {
        return Err(format!(
            "header value configuration: Un-terminated variable expression '{value}'"
        ));
    }
    Ok(())
}

/// The length of the operator at the start of `text` (which follows its opening `%`), its
/// closing `%` included, as Envoy's parser delimits it; `None` if it is not terminated.
pub fn operator_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut state = State::Name;
    let mut position = 0;
    while position < bytes.len() {
        let (next, skip) = step(state, bytes, position).ok()?;
        position += 1 + skip;
        if next == State::Literal {
            return Some(position);
        }
        state = next;
    }
    None
}

/// One character of Envoy's state machine: the next state and how many extra bytes it consumed.
fn step(state: State, bytes: &[u8], position: usize) -> Result<(State, usize), &'static str> {
    let byte = bytes.get(position).copied().unwrap_or_default();
    let next_byte = bytes.get(position + 1).copied();
    let space = byte == b' ';
    Ok(match state {
        State::Literal if byte != b'%' => (State::Literal, 0),
        State::Literal => match next_byte {
            None => return Err("invalid header configuration. Un-escaped %"),
            Some(b'%') => (State::Literal, 1),
            Some(_) => (State::Name, 0),
        },
        State::Name => match byte {
            b'%' => (State::Literal, 0),
            b'(' => (State::ExpectArray, 0),
            _ => (State::Name, 0),
        },
        State::ExpectArray => match byte {
            b'[' => (State::ExpectString, 0),
            _ if space => (State::ExpectArray, 0),
            // A bare argument: consumed as a string up to `)`.
            _ => (State::String, 0),
        },
        State::ExpectDelimiterOrEnd => match byte {
            b',' => (State::ExpectString, 0),
            b']' => (State::ExpectArgsEnd, 0),
            _ if space => (State::ExpectDelimiterOrEnd, 0),
            _ => return Err("invalid header configuration. Expecting ',', ']', or whitespace"),
        },
        State::ExpectString => match byte {
            b'"' => (State::String, 0),
            _ if space => (State::ExpectString, 0),
            _ => return Err("invalid header configuration. Expecting '\"'"),
        },
        State::String => match byte {
            b'\\' if next_byte.is_none() => {
                return Err("invalid header configuration. Un-terminated backslash in JSON string")
            }
            b'\\' => (State::String, 1),
            b')' => (State::ExpectVariableEnd, 0),
            b'"' => (State::ExpectDelimiterOrEnd, 0),
            _ => (State::String, 0),
        },
        State::ExpectArgsEnd => match byte {
            b')' => (State::ExpectVariableEnd, 0),
            _ if space => (State::ExpectArgsEnd, 0),
            _ => return Err("invalid header configuration. Expecting ')' or whitespace"),
        },
        State::ExpectVariableEnd => match byte {
            b'%' => (State::Literal, 0),
            _ if space => (State::ExpectVariableEnd, 0),
            _ => return Err("invalid header configuration. Expecting '%' or whitespace after"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// Istio's `TestValidateHTTPHeaderValue` table.
    #[wasm_bindgen_test(unsupported = test)]
    fn istio_header_value_cases() {
        for valid in [
            "foo",
            "%HOSTNAME%",
            "100%%",
            "prefix %HOSTNAME% suffix",
            "%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%",
            "%DYNAMIC_METADATA(com.test.my_filter)%",
        ] {
            assert_eq!(check_value(valid), Ok(()), "{valid}");
        }
        for invalid in ["%START_TIME%%", "abc%123"] {
            assert!(check_value(invalid).is_err(), "{invalid}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn operators_are_delimited_as_envoy_does() {
        assert_eq!(operator_len("HOSTNAME% rest"), Some("HOSTNAME%".len()));
        assert_eq!(
            operator_len("DYNAMIC_METADATA([\"a\", \"b\"])%x"),
            Some("DYNAMIC_METADATA([\"a\", \"b\"])%".len())
        );
        assert_eq!(
            operator_len("START_TIME(%s)%"),
            Some("START_TIME(%s)%".len())
        );
        assert_eq!(operator_len("UNTERMINATED"), None);
        assert!(check_value("tab\tis fine").is_ok());
        assert!(check_value("bell\u{7}").is_err());
    }
}
