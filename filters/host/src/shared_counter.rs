//! A counter every worker of a VM sees, kept in proxy-wasm shared data and updated with
//! compare-and-swap, so a limit holds exactly across workers.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

/// A `u64` under one shared-data key (shared by the VMs with the same `vm_id`).
#[derive(Debug, Clone)]
pub struct SharedCounter {
    key: String,
}

/// CAS conflicts are short-lived (another worker's update in between); after this many in a row
/// something is wrong with the host, and the caller gets a refusal rather than a spin.
const MAX_ATTEMPTS: usize = 64;

impl SharedCounter {
    /// The counter under `key`, created at 0 if the key does not exist yet (an existing value,
    /// e.g. after a configuration update, is kept).
    pub fn open(key: impl Into<String>) -> Self {
        let counter = Self { key: key.into() };
        if let Ok((None, _)) = hostcalls::get_shared_data(&counter.key) {
            if let Err(status) = counter.write(0, None) {
                log::error!(
                    "shared counter {}: cannot create it: {status:?}",
                    counter.key
                );
            }
        }
        counter
    }

    /// Adds 1 if the value is below `limit`; whether it did.
    pub fn increment_below(&self, limit: u64) -> bool {
        self.update(|value| (value < limit).then(|| value + 1))
    }

    /// Subtracts 1 (never below 0).
    pub fn decrement(&self) {
        self.update(|value| Some(value.saturating_sub(1)));
    }

    /// Applies `change` atomically; `None` from `change` leaves the value as it is.
    fn update(&self, change: impl Fn(u64) -> Option<u64>) -> bool {
        for _ in 0..MAX_ATTEMPTS {
            let (value, cas) = self.read();
            let Some(next) = change(value) else {
                return false;
            };
            match self.write(next, cas) {
                Ok(()) => return true,
                Err(Status::CasMismatch) => continue,
                Err(_) => return false,
            }
        }
        log::error!("shared counter {}: too many concurrent updates", self.key);
        false
    }

    fn read(&self) -> (u64, Option<u32>) {
        match hostcalls::get_shared_data(&self.key) {
            Ok((Some(bytes), cas)) => {
                let value = <[u8; 8]>::try_from(bytes.as_slice()).map_or(0, u64::from_le_bytes);
                (value, cas)
            }
            Ok((None, cas)) => (0, cas),
            Err(_) => (0, None),
        }
    }

    fn write(&self, value: u64, cas: Option<u32>) -> Result<(), Status> {
        hostcalls::set_shared_data(&self.key, Some(&value.to_le_bytes()), cas)
    }
}
