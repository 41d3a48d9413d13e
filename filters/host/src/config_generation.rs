//! The generation of the configuration a VM loaded, numbered in shared data by every VM of the
//! module ([`engine::config_generation`]).

use engine::config_generation::{self, Generation};
use proxy_wasm::types::Status;

use crate::abi;

/// How often a compare-and-swap lost to another VM is retried.
const MAX_ATTEMPTS: usize = 16;

/// The generation of `config` for `module`: its position among the distinct configurations
/// the module's VMs have loaded; 0 when it cannot be told (shared data refused, or too many).
pub fn generation_of(module: &str, config: &[u8]) -> u64 {
    let key = format!("{module}.config_generations");
    let fingerprint = config_generation::fingerprint(config);
    for _ in 0..MAX_ATTEMPTS {
        let (shared, cas) = match abi::get_shared_data(&key) {
            Ok(found) => found,
            Err(status) => {
                log::warn!("{module}: cannot read shared data {key}: {status:?}");
                return 0;
            }
        };
        match config_generation::generation(shared.as_deref().unwrap_or_default(), fingerprint) {
            Generation::Known(generation) => return generation,
            Generation::Unnumbered => return 0,
            Generation::New {
                generation,
                updated,
            } => match abi::set_shared_data(&key, &updated, cas) {
                Ok(()) if cas != 0 => return generation,
                // Created without a cas: another VM may have created it at the same moment,
                // so the next round checks that this entry survived.
                Ok(()) | Err(Status::CasMismatch) => continue,
                Err(status) => {
                    log::warn!("{module}: cannot write shared data {key}: {status:?}");
                    return 0;
                }
            },
        }
    }
    0
}
