//! Content digests as OCI writes them: `sha256:<64 lowercase hex>`.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        let hash = Sha256::digest(bytes);
        Digest {
            hex: hash.iter().map(|byte| format!("{byte:02x}")).collect(),
        }
    }

    /// Parses `sha256:<hex>`; other algorithms are refused (istio-agent only checks sha256).
    pub fn parse(text: &str) -> Result<Self> {
        let hex = text.strip_prefix("sha256:").ok_or_else(|| {
            Error::new(format!(
                "digest {text:?}: only sha256 digests are supported"
            ))
        })?;
        Self::from_hex(hex).map_err(|error| error.context(format!("digest {text:?}")))
    }

    /// A bare 64-character lowercase hex sha256, as in a WasmPlugin's `sha256` field.
    pub fn from_hex(hex: &str) -> Result<Self> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest {
                hex: hex.to_string(),
            })
        } else {
            Err(Error::new("expected 64 lowercase hex characters"))
        }
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    pub fn verify(&self, bytes: &[u8], what: &str) -> Result<()> {
        let actual = Digest::of(bytes);
        if &actual == self {
            Ok(())
        } else {
            Err(Error::new(format!(
                "{what}: content has digest {actual}, expected {self}"
            )))
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}
