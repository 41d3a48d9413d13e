//! The cardinality cap: how many distinct label sets may have their own series.
//!
//! Envoy runs one VM per worker thread, and the cap is for the whole Envoy, so the admitted
//! label sets are kept in proxy-wasm shared data, which every VM of the plugin sees: a list of
//! 64-bit fingerprints, updated with compare-and-swap. This file is the pure part: the
//! fingerprint, the list's encoding and the admission decision.

/// A label set's fingerprint: 64-bit FNV-1a of its encoded tags. It must be the same in every
/// VM, which rules out the randomly seeded std hasher.
pub fn fingerprint(encoded: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    encoded.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// What the shared list says about a label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Already admitted (by this VM or another).
    Admitted,
    /// Not yet admitted, and there is room: store `updated` (the list with it added).
    Admit {
        /// The shared list with this label set added.
        updated: Vec<u8>,
    },
    /// Not admitted and the cap is reached: the request counts under the overflow series.
    Full,
}

/// Decides about `fingerprint` given the `shared` list and the cap `max_label_sets`.
pub fn admit(shared: &[u8], fingerprint: u64, max_label_sets: usize) -> Admission {
    let admitted = decode(shared);
    if admitted.contains(&fingerprint) {
        Admission::Admitted
    } else if admitted.len() >= max_label_sets {
        Admission::Full
    } else {
        let mut updated = shared[..admitted.len() * 8].to_vec();
        updated.extend_from_slice(&fingerprint.to_le_bytes());
        Admission::Admit { updated }
    }
}

/// The fingerprints in a shared list (8 little-endian bytes each; a torn tail is ignored).
pub fn decode(shared: &[u8]) -> Vec<u64> {
    shared
        .chunks_exact(8)
        .filter_map(|chunk| chunk.try_into().ok().map(u64::from_le_bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn fingerprints_are_fnv1a() {
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fingerprint("a=.=1;.;"), fingerprint("a=.=2;.;"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn label_sets_are_admitted_until_the_cap() {
        let mut shared = Vec::new();
        for key in 1..=3 {
            match admit(&shared, key, 3) {
                Admission::Admit { updated } => shared = updated,
                other => panic!("{key}: {other:?}"),
            }
        }
        assert_eq!(decode(&shared), vec![1, 2, 3]);
        assert_eq!(admit(&shared, 2, 3), Admission::Admitted);
        assert_eq!(admit(&shared, 4, 3), Admission::Full);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_cap_of_zero_admits_nothing() {
        assert_eq!(admit(&[], 1, 0), Admission::Full);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_torn_tail_is_ignored() {
        let mut shared = 7u64.to_le_bytes().to_vec();
        shared.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode(&shared), vec![7]);
        match admit(&shared, 8, 5) {
            Admission::Admit { updated } => assert_eq!(decode(&updated), vec![7, 8]),
            other => panic!("{other:?}"),
        }
    }
}
