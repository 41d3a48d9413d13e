//! The router's own stats, as `wasmcustom.router.*`.

use host::Counter;

/// What happened to mirrors: `router.mirror.sent`, `router.mirror.skipped_body_too_large`
/// (past `mirrorMaxBodyBytes`), `router.mirror.skipped_unencodable` (a header that is not
/// UTF-8, which the host's HTTP call cannot carry byte-exact).
pub struct MirrorStats {
    pub sent: Counter,
    pub skipped_body_too_large: Counter,
    pub skipped_unencodable: Counter,
}

impl MirrorStats {
    pub fn define() -> Result<Self, String> {
        let counter = |name: &str| {
            Counter::define(&format!("router.mirror.{name}"))
                .map_err(|status| format!("cannot define router.mirror.{name}: {status:?}"))
        };
        Ok(Self {
            sent: counter("sent")?,
            skipped_body_too_large: counter("skipped_body_too_large")?,
            skipped_unencodable: counter("skipped_unencodable")?,
        })
    }
}
