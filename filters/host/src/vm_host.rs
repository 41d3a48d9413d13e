//! The host as a module's VM-wide machinery sees it, outside any one stream's callback: the
//! clock, the root context's one timer, acting on a stream by its id (from the tick), shared
//! data across workers and stats. [`crate::ProxyWasm`] is the real one; [`crate::FakeVm`] keeps
//! it in memory, so the fault runtime ([`crate::FaultInjection`]) and the shells that use it are
//! tested natively. Calls take `&self`: the host is one for the whole VM, not owned by a caller.

use std::time::{Duration, SystemTime};

use proxy_wasm::types::{MetricType, Status};

use crate::http_call::{HttpCallMessage, NotSent};
use crate::local_reply::LocalReply;

/// The calls made on the VM's host that belong to no one stream's callback.
pub trait VmHost {
    /// The host's wall clock, which deadlines are set against.
    fn now(&self) -> SystemTime;
    /// Sets the root context's tick period (zero switches it off).
    fn set_tick_period(&self, period: Duration) -> Result<(), Status>;
    /// Makes stream `stream` the one the next calls act on (from the tick); an error when the
    /// host no longer knows it.
    fn enter_stream(&self, stream: u32) -> Result<(), Status>;
    /// Resumes the request of the stream entered.
    fn resume_request(&self) -> Result<(), Status>;
    /// Answers the stream entered from the gateway.
    fn send_local_reply(&self, reply: LocalReply<'_>) -> Result<(), Status>;
    /// The shared-data value under `key` (shared by the VMs of one `vm_id`) and its CAS.
    fn shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status>;
    /// Writes `value` under `key` if its CAS is still `cas` (`CasMismatch` otherwise).
    fn set_shared_data(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status>;
    /// Defines the stat `name` (the same name is the same stat in every worker); its id.
    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, Status>;
    /// Adds `delta` to counter or gauge `id`.
    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), Status>;
    /// Sets gauge `id` (or records in histogram `id`).
    fn record_metric(&self, id: u32, value: u64) -> Result<(), Status>;
    /// Sends `message` to each of `clusters` as the root context `root_id` (so the calls
    /// outlive the stream, and their answers go to the root), then makes stream `stream_id`
    /// current again; how many calls the host accepted (each refusal is logged). A message that
    /// cannot go out byte-exact is not sent at all.
    fn dispatch_as_root(
        &self,
        root_id: u32,
        stream_id: u32,
        clusters: &[&str],
        message: &HttpCallMessage<'_>,
    ) -> Result<usize, NotSent>;
}
