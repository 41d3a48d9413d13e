//! Random draws for weighted routing and percentages: a per-VM xorshift generator seeded once
//! from the host's entropy (WASI `random_get`, which Envoy implements).

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A uniform random `u64`.
pub fn next_u64() -> u64 {
    STATE.with(|state| {
        // xorshift64*: fast, and its quality is ample for traffic splitting.
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    let seed = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(error) => {
            log::warn!("no host entropy ({error}); seeding from the clock");
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos() as u64)
        }
    };
    // xorshift must never hold zero.
    seed | 1
}
