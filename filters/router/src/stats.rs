//! The router's own stats, as `wasmcustom.router.*`.

use host::VmHost;
use proxy_wasm::types::MetricType;

/// What happened to mirrors: `router.mirror.sent`, `router.mirror.skipped_body_too_large`
/// (past `mirrorMaxBodyBytes`), `router.mirror.skipped_unencodable` (a header that is not
/// UTF-8, which the host's HTTP call cannot carry byte-exact). Each is a counter id on the
/// VM's host.
pub struct MirrorStats {
    pub sent: u32,
    pub skipped_body_too_large: u32,
    pub skipped_unencodable: u32,
}

impl MirrorStats {
    pub fn define(vm: &impl VmHost) -> Result<Self, String> {
        let counter = |name: &str| {
            vm.define_metric(MetricType::Counter, &format!("router.mirror.{name}"))
                .map_err(|status| format!("cannot define router.mirror.{name}: {status:?}"))
        };
        Ok(Self {
            sent: counter("sent")?,
            skipped_body_too_large: counter("skipped_body_too_large")?,
            skipped_unencodable: counter("skipped_unencodable")?,
        })
    }

    /// Adds `by` to counter `id`; a stat the host refuses is logged, never fatal.
    pub fn add(vm: &impl VmHost, id: u32, by: usize) {
        let by = i64::try_from(by).unwrap_or(i64::MAX);
        if by > 0 {
            if let Err(status) = vm.increment_metric(id, by) {
                log::warn!("router: cannot count a mirror stat: {status:?}");
            }
        }
    }
}
