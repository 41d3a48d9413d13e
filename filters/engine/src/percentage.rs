//! Istio's `Percent` (`{value: 12.5}`), applied as Envoy applies it: a fraction per million.

use serde::Deserialize;

use crate::error::FieldPath;
use crate::ConfigError;

/// `Percent` as written in a VirtualService.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PercentSpec {
    #[serde(default)]
    pub value: f64,
}

/// A validated percentage, held as Envoy's `FractionalPercent` with a `MILLION` denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentage {
    per_million: u64,
}

impl Percentage {
    pub const ALL: Self = Self {
        per_million: 1_000_000,
    };

    /// Validates `0 <= value <= 100`; Istio keeps 4 decimals (`0.0001` steps).
    pub fn compile(spec: &PercentSpec, path: &FieldPath) -> Result<Self, ConfigError> {
        if !(0.0..=100.0).contains(&spec.value) {
            return Err(path.field("value").error(format!(
                "percentage {} must be in the range [0, 100]",
                spec.value
            )));
        }
        Ok(Self {
            per_million: (spec.value * 10_000.0).round() as u64,
        })
    }

    /// Whether a uniform random `draw` falls inside the percentage.
    pub fn hit(self, draw: u64) -> bool {
        draw % 1_000_000 < self.per_million
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn percentage(value: f64) -> Result<Percentage, ConfigError> {
        Percentage::compile(
            &PercentSpec { value },
            &FieldPath::root().field("mirrorPercentage"),
        )
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn hits_are_counted_per_million() {
        let tenth = percentage(0.1).expect("valid");
        assert_eq!(
            (0..1_000_000).filter(|&draw| tenth.hit(draw)).count(),
            1_000
        );
        let smallest = percentage(0.0001).expect("valid");
        assert!(smallest.hit(0) && !smallest.hit(1));
        assert!(!percentage(0.0).expect("valid").hit(0));
        assert!(Percentage::ALL.hit(999_999));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn out_of_range_values_are_refused() {
        assert_eq!(
            percentage(100.5).expect_err("too large").to_string(),
            "mirrorPercentage.value: percentage 100.5 must be in the range [0, 100]"
        );
        assert!(percentage(-1.0).is_err());
        assert!(percentage(f64::NAN).is_err());
    }
}
