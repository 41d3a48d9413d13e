//! The cardinality cap, shared by every VM of a plugin through proxy-wasm shared data.

use engine::metrics::label_sets::{self, Admission};
use proxy_wasm::types::Status;

use crate::vm_host::VmHost;

/// How often a compare-and-swap lost to another VM is retried before the label set is sent
/// to the overflow series instead (never past the cap).
const MAX_ATTEMPTS: usize = 16;

/// Whether the label set with `fingerprint` may have its own series: it already has one, or
/// fewer than `max_label_sets` do and it is added to the list under `key` now.
pub fn admit(host: &impl VmHost, key: &str, fingerprint: u64, max_label_sets: usize) -> bool {
    for _ in 0..MAX_ATTEMPTS {
        let (shared, cas) = match host.shared_data(key) {
            Ok(found) => found,
            Err(status) => {
                log::warn!("cannot read shared data {key}: {status:?}");
                return false;
            }
        };
        match label_sets::admit(
            shared.as_deref().unwrap_or_default(),
            fingerprint,
            max_label_sets,
        ) {
            Admission::Admitted => return true,
            Admission::Full => return false,
            Admission::Admit { updated } => {
                match host.set_shared_data(key, &updated, cas) {
                    // Without a cas the list was created, and another VM may have created it
                    // at the same moment: the next round checks that this entry survived.
                    Ok(()) if cas != 0 => return true,
                    Ok(()) | Err(Status::CasMismatch) => continue,
                    Err(status) => {
                        log::warn!("cannot write shared data {key}: {status:?}");
                        return false;
                    }
                }
            }
        }
    }
    false
}
