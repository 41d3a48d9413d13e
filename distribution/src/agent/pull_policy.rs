//! `imagePullPolicy`, and when a cached module may stand in for a pull.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// `UNSPECIFIED_POLICY` or absent: `IfNotPresent`, except `Always` for `oci://…:latest`.
    #[default]
    Unspecified,
    IfNotPresent,
    Always,
}

impl PullPolicy {
    /// The CRD's enum values.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "UNSPECIFIED_POLICY" => Ok(PullPolicy::Unspecified),
            "IfNotPresent" => Ok(PullPolicy::IfNotPresent),
            "Always" => Ok(PullPolicy::Always),
            other => Err(Error::new(format!(
                "unknown pull policy {other:?} (UNSPECIFIED_POLICY, IfNotPresent or Always)"
            ))),
        }
    }

    /// Whether a module pulled before under the same URL may be used without pulling again when
    /// no checksum names it (istio-agent's `shouldIgnoreResourceVersion`). A known checksum always
    /// finds its cached module, whatever the policy, as in istio-agent.
    pub fn reuses_pulled(self, url: &str) -> bool {
        match self {
            PullPolicy::Always => false,
            PullPolicy::IfNotPresent => true,
            PullPolicy::Unspecified => !(url.starts_with("oci://") && url.ends_with(":latest")),
        }
    }
}
