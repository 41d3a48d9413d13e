//! Slots counted across every worker's VM, so a limit such as `maxActiveFaults` holds exactly
//! across workers, and a VM that dies holding slots does not hold them for ever.
//!
//! The count lives in proxy-wasm shared data (one value per `vm_id`), updated with
//! compare-and-swap, as a list of holders: one entry per VM with the slots it holds and the time
//! it was last heard from. A VM refreshes its entry on every change and from its tick while it
//! holds slots ([`SharedSlots::heartbeat`]). An entry not heard from for [`STALE_AFTER`] belonged
//! to a VM that is gone — trapped and reloaded (`FAIL_RELOAD`), or replaced — and the next update
//! by any VM drops it, so its slots come back instead of staying taken.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::types::Status;

use crate::vm_host::VmHost;

/// How often a VM that holds slots refreshes its entry.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// An entry older than this belongs to a VM that is gone.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// CAS conflicts are short-lived (another worker's update in between); after this many in a row
/// something is wrong with the host, and the caller gets a refusal rather than a spin.
const MAX_ATTEMPTS: usize = 64;

/// One VM's entry: holder id (8 bytes), slots (4), last heard from in unix seconds (4).
const ENTRY_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holder {
    id: u64,
    slots: u32,
    heard_at: u32,
}

/// This VM's view of one shared slot count.
#[derive(Debug, Clone)]
pub struct SharedSlots {
    key: String,
    /// Random per VM: a reloaded VM is a new holder, and the dead one's entry goes stale.
    holder: u64,
}

impl SharedSlots {
    /// The slots under `key` (shared by the VMs with the same `vm_id`).
    pub fn open(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            holder: crate::random::next_u64(),
        }
    }

    /// Takes one slot if fewer than `limit` are held by live VMs; the total after taking it.
    pub fn take_below(&self, host: &impl VmHost, limit: u64) -> Option<u64> {
        self.update(host, |total, _| (total < limit).then_some(1))
    }

    /// Gives back one of this VM's slots; the total after.
    pub fn release(&self, host: &impl VmHost) -> Option<u64> {
        self.update(host, |_, mine| (mine > 0).then_some(-1))
    }

    /// Tells the other VMs this one is alive; the total.
    pub fn heartbeat(&self, host: &impl VmHost) -> Option<u64> {
        self.update(host, |_, _| Some(0))
    }

    /// Applies `change(total of live holders, this VM's slots)` to this VM's slots atomically;
    /// `None` from `change` writes nothing. The new total, or `None` if nothing was written.
    fn update(&self, host: &impl VmHost, change: impl Fn(u64, u32) -> Option<i64>) -> Option<u64> {
        for _ in 0..MAX_ATTEMPTS {
            let (bytes, cas) = match host.shared_data(&self.key) {
                Ok(found) => found,
                Err(status) => {
                    log::warn!("shared slots {}: cannot read: {status:?}", self.key);
                    return None;
                }
            };
            let now = now_secs(host);
            let mut holders = decode(bytes.as_deref().unwrap_or_default());
            holders.retain(|holder| holder.id == self.holder || is_live(holder, now));
            let total: u64 = holders.iter().map(|holder| u64::from(holder.slots)).sum();
            let mine = holders
                .iter()
                .find(|holder| holder.id == self.holder)
                .map_or(0, |holder| holder.slots);
            let delta = change(total, mine)?;
            let slots = u32::try_from((i64::from(mine) + delta).max(0)).unwrap_or(u32::MAX);
            holders.retain(|holder| holder.id != self.holder);
            if slots > 0 {
                holders.push(Holder {
                    id: self.holder,
                    slots,
                    heard_at: now,
                });
            }
            match host.set_shared_data(&self.key, &encode(&holders), cas) {
                Ok(()) => {
                    return Some(holders.iter().map(|holder| u64::from(holder.slots)).sum());
                }
                Err(Status::CasMismatch) => continue,
                Err(status) => {
                    log::warn!("shared slots {}: cannot write: {status:?}", self.key);
                    return None;
                }
            }
        }
        log::error!("shared slots {}: too many concurrent updates", self.key);
        None
    }
}

fn is_live(holder: &Holder, now: u32) -> bool {
    let stale_after = u32::try_from(STALE_AFTER.as_secs()).unwrap_or(u32::MAX);
    now.saturating_sub(holder.heard_at) <= stale_after
}

fn now_secs(host: &impl VmHost) -> u32 {
    let secs = host
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    // Wraps in 2106; only differences of a few seconds matter.
    u32::try_from(secs & u64::from(u32::MAX)).unwrap_or(0)
}

/// Entries of an unexpected size (an older module's plain count) read as none.
fn decode(bytes: &[u8]) -> Vec<Holder> {
    if !bytes.len().is_multiple_of(ENTRY_BYTES) {
        return Vec::new();
    }
    bytes
        .chunks_exact(ENTRY_BYTES)
        .filter_map(|entry| {
            Some(Holder {
                id: u64::from_le_bytes(entry.get(0..8)?.try_into().ok()?),
                slots: u32::from_le_bytes(entry.get(8..12)?.try_into().ok()?),
                heard_at: u32::from_le_bytes(entry.get(12..16)?.try_into().ok()?),
            })
        })
        .collect()
}

fn encode(holders: &[Holder]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(holders.len() * ENTRY_BYTES);
    for holder in holders {
        bytes.extend_from_slice(&holder.id.to_le_bytes());
        bytes.extend_from_slice(&holder.slots.to_le_bytes());
        bytes.extend_from_slice(&holder.heard_at.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_round_trip_and_bad_sizes_read_as_none() {
        let holders = [
            Holder {
                id: 7,
                slots: 2,
                heard_at: 100,
            },
            Holder {
                id: u64::MAX,
                slots: 0,
                heard_at: u32::MAX,
            },
        ];
        assert_eq!(decode(&encode(&holders)), holders);
        assert_eq!(decode(&5u64.to_le_bytes()), []);
    }

    #[test]
    fn an_entry_not_heard_from_goes_stale() {
        let holder = Holder {
            id: 1,
            slots: 3,
            heard_at: 100,
        };
        assert!(is_live(&holder, 100));
        assert!(is_live(&holder, 105));
        assert!(!is_live(&holder, 106));
        // A clock step backwards keeps the entry.
        assert!(is_live(&holder, 90));
    }
}
