//! Label values made safe for stat names that Envoy's tag regexes take apart.
//!
//! A tag is encoded as `name=.=value;.;` and extracted by `(name=\.=(.*?);\.;)`: a value holding
//! `;` could end its tag early, and one holding `=` could pose as another tag (`x=.=`). Values
//! therefore keep only characters that are safe in a stat name and a Prometheus label, and the
//! rest become `_`.

/// The longest value kept, in bytes; longer values are cut, so one header cannot make a stat
/// name of kilobytes.
pub const MAX_VALUE_LEN: usize = 128;

/// What an absent or empty value becomes, as in Istio's labels.
pub const UNKNOWN: &str = "unknown";

/// `value` with every character outside `[A-Za-z0-9_.,:/|@+-]` replaced by `_`, cut to
/// [`MAX_VALUE_LEN`] bytes; empty becomes [`UNKNOWN`].
pub fn label_value(value: &str) -> String {
    if value.is_empty() {
        return UNKNOWN.to_owned();
    }
    value
        .chars()
        .take(MAX_VALUE_LEN)
        .map(|c| if is_safe(c) { c } else { '_' })
        .collect()
}

fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.,:/|@+-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn ordinary_values_pass_unchanged() {
        for value in [
            "reviews.default.svc.cluster.local",
            "outbound|9080|v1|reviews.default.svc.cluster.local",
            "prod/shop",
            "UT,URX",
            "HTTP/1.1",
            "v1-beta+2",
        ] {
            assert_eq!(label_value(value), value);
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn tag_delimiters_and_other_characters_become_underscores() {
        assert_eq!(label_value("a;.;b"), "a_._b");
        assert_eq!(label_value("route_name=.=x"), "route_name_._x");
        assert_eq!(label_value("a b\"c\\d\ne"), "a_b_c_d_e");
        assert_eq!(label_value("café"), "caf_");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn empty_is_unknown() {
        assert_eq!(label_value(""), "unknown");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn long_values_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(label_value(&long).len(), MAX_VALUE_LEN);
        let wide = "é".repeat(1000);
        assert_eq!(label_value(&wide), "_".repeat(MAX_VALUE_LEN));
    }
}
