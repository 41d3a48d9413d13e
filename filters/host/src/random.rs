//! Random draws for per-request decisions: a fast generator seeded once per VM from the host's
//! entropy (WASI `random_get`).

/// A per-VM generator; not for secrets.
#[derive(Debug, Clone)]
pub struct Random(fastrand::Rng);

impl Random {
    pub fn from_host_entropy() -> Self {
        let seed = getrandom::u64().unwrap_or_else(|error| {
            // Still random enough for sampling: the time differs between workers and restarts.
            log::warn!("no host entropy ({error}); seeding from the clock");
            crate::stream_timers::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos() as u64)
        });
        Self(fastrand::Rng::with_seed(seed))
    }

    /// A uniformly distributed `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }
}
