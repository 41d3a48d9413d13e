//! Istio's `Percent` (`{value: 12.5}`) and Envoy's `FractionalPercent`, into which Istio
//! translates it: faults and mirrors select requests this way.

use serde::Deserialize;

use crate::error::FieldPath;
use crate::ConfigError;

/// Istio's `Percent`: a double in `[0, 100]`; `{}` is 0.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PercentSpec {
    /// The percentage, 0 to 100, with up to four decimals that count.
    #[serde(default)]
    pub value: f64,
}

/// `numerator / denominator` of requests, decided as Envoy does: a random draw is enabled when
/// `draw % denominator < numerator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FractionalPercent {
    numerator: u32,
    denominator: u32,
}

const HUNDRED: u32 = 100;
const MILLION: u32 = 1_000_000;

impl FractionalPercent {
    /// Never enabled: what an absent percentage means.
    pub const ZERO: Self = Self {
        numerator: 0,
        denominator: HUNDRED,
    };

    /// Always enabled: what an absent mirror percentage means.
    pub const ALL: Self = Self {
        numerator: HUNDRED,
        denominator: HUNDRED,
    };

    /// `percent` out of a hundred, as Istio translates the deprecated integer `percent`.
    pub fn per_hundred(percent: i32, path: &FieldPath) -> Result<Self, ConfigError> {
        u32::try_from(percent)
            .ok()
            .filter(|&percent| percent <= HUNDRED)
            .map(|numerator| Self {
                numerator,
                denominator: HUNDRED,
            })
            .ok_or_else(|| path.error(format!("percentage {percent} is not in range 0..100")))
    }

    /// Istio's `Percent{value}`: 0, or 0.0001 to 100; Istio sends Envoy
    /// `uint32(value * 10000)` per million, truncating, and so does this.
    pub fn from_istio(value: f64, path: &FieldPath) -> Result<Self, ConfigError> {
        let valid = value.is_finite() && (value == 0.0 || (0.0001..=100.0).contains(&value));
        if !valid {
            return Err(path.error(format!(
                "percentage {value} is neither 0.0, nor in range [0.0001, 100.0]"
            )));
        }
        // In range, so the truncating conversion cannot saturate.
        Ok(Self {
            numerator: (value * 10_000.0) as u32,
            denominator: MILLION,
        })
    }

    /// Istio's mirror percentage: 0 to 100, sent to Envoy as `uint32(value * 10000)` per
    /// million, so that a share under 0.0001% mirrors nothing.
    pub fn from_istio_mirror(value: f64, path: &FieldPath) -> Result<Self, ConfigError> {
        if !(0.0..=100.0).contains(&value) {
            return Err(path.error(format!(
                "mirror percentage must be within 0 and 100 (it has {value})"
            )));
        }
        Ok(Self {
            numerator: (value * 10_000.0) as u32,
            denominator: MILLION,
        })
    }

    /// The numerator over [`FractionalPercent::denominator`].
    pub fn numerator(self) -> u32 {
        self.numerator
    }

    /// Envoy's `MILLION` denominator.
    pub fn denominator(self) -> u32 {
        self.denominator
    }

    /// Whether a request with random draw `draw` is selected.
    pub fn enabled(self, draw: u64) -> bool {
        draw % u64::from(self.denominator) < u64::from(self.numerator)
    }

    /// This percentage lowered to `percent` out of a hundred when that is smaller: how a
    /// `x-envoy-fault-*-percentage` header applies, the configured percentage being the cap.
    pub fn capped_at_percent(self, percent: u32) -> Self {
        let requested = percent.saturating_mul(self.denominator / HUNDRED);
        Self {
            numerator: requested.min(self.numerator),
            ..self
        }
    }
}
