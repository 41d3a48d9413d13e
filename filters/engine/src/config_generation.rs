//! Which generation of a module's configuration a VM runs: the module's
//! `<module>_config_generation` gauge.
//!
//! Every VM of a plugin (one per worker, plus the main thread's) is configured separately, and
//! Envoy counts nothing per configuration. So the module numbers the distinct configurations it
//! has seen, in proxy-wasm shared data that all its VMs see: a list of the configurations'
//! fingerprints in the order they were first loaded, whose position (from 1) is the generation.
//! Every VM that loads the same bytes reports the same generation; a new configuration gets
//! the next number, and going back to an earlier one shows that one's number again.
//! The list is the label-set cap's encoding ([`crate::metrics::label_sets`]).

use crate::metrics::label_sets::{self, Admission};

/// The most configurations numbered; past it a new one is reported as generation 0 (unknown),
/// which keeps the shared list bounded (8 bytes each).
pub const MAX_GENERATIONS: usize = 10_000;

/// A configuration's fingerprint: 64-bit FNV-1a of its bytes, the same in every VM.
pub fn fingerprint(config: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    config.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// What the shared list says about a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generation {
    /// Already numbered (by this VM or another).
    Known(u64),
    /// New: store `updated`, then it is `generation`.
    New {
        /// The number it gets.
        generation: u64,
        /// The shared list with it added.
        updated: Vec<u8>,
    },
    /// New, and [`MAX_GENERATIONS`] are numbered already.
    Unnumbered,
}

/// The generation of the configuration with `fingerprint`, given the `shared` list.
pub fn generation(shared: &[u8], fingerprint: u64) -> Generation {
    match label_sets::admit(shared, fingerprint, MAX_GENERATIONS) {
        Admission::Admitted => {
            let position = label_sets::decode(shared)
                .iter()
                .position(|known| *known == fingerprint)
                .unwrap_or_default();
            Generation::Known(number(position))
        }
        Admission::Admit { updated } => Generation::New {
            generation: number(updated.len() / 8 - 1),
            updated,
        },
        Admission::Full => Generation::Unnumbered,
    }
}

fn number(position: usize) -> u64 {
    u64::try_from(position).map_or(0, |position| position + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn store(shared: &mut Vec<u8>, config: &[u8]) -> u64 {
        match generation(shared, fingerprint(config)) {
            Generation::Known(generation) => generation,
            Generation::New {
                generation,
                updated,
            } => {
                *shared = updated;
                generation
            }
            Generation::Unnumbered => 0,
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn configurations_are_numbered_in_the_order_first_seen() {
        let mut shared = Vec::new();
        assert_eq!(store(&mut shared, b"{}"), 1);
        // Another VM loading the same bytes reports the same generation.
        assert_eq!(store(&mut shared, b"{}"), 1);
        assert_eq!(store(&mut shared, br#"{"rules": []}"#), 2);
        assert_eq!(
            store(&mut shared, b"{}"),
            1,
            "an earlier one keeps its number"
        );
        assert_eq!(store(&mut shared, b"{ }"), 3);
        assert_eq!(shared.len(), 3 * 8);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn past_the_limit_a_new_configuration_is_unnumbered() {
        let shared: Vec<u8> = (0..MAX_GENERATIONS as u64)
            .flat_map(u64::to_le_bytes)
            .collect();
        assert_eq!(generation(&shared, u64::MAX), Generation::Unnumbered);
        assert_eq!(generation(&shared, 0), Generation::Known(1));
    }
}
