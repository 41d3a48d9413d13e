//! [`VmHost`] in memory, for native tests of what a module does from its root's tick and for
//! the whole VM (the fault runtime). It behaves as Envoy does where a runtime can get it wrong:
//! a stream that has ended ([`FakeVm::end_stream`]) cannot be entered, a resume or a reply goes
//! to the stream entered last, and a shared-data write with a stale CAS is refused.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use proxy_wasm::types::{MetricType, Status};

use crate::fake_host::SentReply;
use crate::http_call::{HttpCallMessage, NotSent};
use crate::local_reply::LocalReply;
use crate::vm_host::VmHost;

/// One VM's clock, timer, streams, shared data and stats, and what was asked of them.
#[derive(Debug)]
pub struct FakeVm {
    clock: Cell<SystemTime>,
    tick_period: Cell<Duration>,
    entered: Cell<Option<u32>>,
    ended: RefCell<BTreeSet<u32>>,
    resumed: RefCell<Vec<u32>>,
    replies: RefCell<Vec<(u32, SentReply)>>,
    shared_data: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    /// Stats by id (their index): name, kind, value.
    metrics: RefCell<Vec<(String, MetricType, i64)>>,
    /// How many `define_metric` calls were made, and how many increments and records.
    metric_definitions: Cell<usize>,
    metric_updates: Cell<usize>,
    calls: RefCell<Vec<DispatchedCall>>,
}

/// An HTTP call the VM's host accepted, as it would go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchedCall {
    /// The root context that made the call (its answer goes there).
    pub root_id: u32,
    /// The upstream cluster.
    pub cluster: String,
    /// Its headers, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// Its body, if any.
    pub body: Option<Vec<u8>>,
    /// Its trailers.
    pub trailers: Vec<(String, String)>,
    /// How long the host waits for the answer.
    pub timeout: Duration,
}

impl Default for FakeVm {
    fn default() -> Self {
        Self {
            // Any fixed instant: the tests move it forward themselves.
            clock: Cell::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            tick_period: Cell::default(),
            entered: Cell::default(),
            ended: RefCell::default(),
            resumed: RefCell::default(),
            replies: RefCell::default(),
            shared_data: RefCell::default(),
            metrics: RefCell::default(),
            metric_definitions: Cell::default(),
            metric_updates: Cell::default(),
            calls: RefCell::default(),
        }
    }
}

impl FakeVm {
    /// A VM at a fixed time, with nothing asked of it yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock on by `by`.
    pub fn advance(&self, by: Duration) {
        self.clock.set(self.clock.get() + by);
    }

    /// The tick period last set (zero: off).
    pub fn tick_period(&self) -> Duration {
        self.tick_period.get()
    }

    /// Stream `stream` ends (answered or reset): the host no longer knows it.
    pub fn end_stream(&self, stream: u32) {
        self.ended.borrow_mut().insert(stream);
    }

    /// The streams whose request was resumed, in order.
    pub fn resumed(&self) -> Vec<u32> {
        self.resumed.borrow().clone()
    }

    /// The local replies sent from outside a stream's callback, with the stream each went to.
    pub fn replies(&self) -> Vec<(u32, SentReply)> {
        self.replies.borrow().clone()
    }

    /// The HTTP calls sent, in order.
    pub fn dispatched(&self) -> Vec<DispatchedCall> {
        self.calls.borrow().clone()
    }

    /// The stream entered last (a dispatch from the root must leave the stream it came from).
    pub fn entered_stream(&self) -> Option<u32> {
        self.entered.get()
    }

    /// The value of the stat `name`, if it was defined.
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.metrics
            .borrow()
            .iter()
            .find(|(defined, _, _)| defined == name)
            .map(|(_, _, value)| *value)
    }

    /// Every stat defined, with its value, in definition order.
    pub fn metrics(&self) -> Vec<(String, i64)> {
        self.metrics
            .borrow()
            .iter()
            .map(|(name, _, value)| (name.clone(), *value))
            .collect()
    }

    /// How many `define_metric` calls were made (a name defined twice counts twice).
    pub fn metric_definitions(&self) -> usize {
        self.metric_definitions.get()
    }

    /// How many `increment_metric` and `record_metric` calls were made.
    pub fn metric_updates(&self) -> usize {
        self.metric_updates.get()
    }

    fn entered(&self) -> Result<u32, Status> {
        self.entered.get().ok_or(Status::BadArgument)
    }

    fn with_metric(&self, id: u32, change: impl FnOnce(&mut i64)) -> Result<(), Status> {
        let mut metrics = self.metrics.borrow_mut();
        let (_, _, value) = usize::try_from(id)
            .ok()
            .and_then(|index| metrics.get_mut(index))
            .ok_or(Status::NotFound)?;
        change(value);
        Ok(())
    }
}

impl VmHost for FakeVm {
    fn now(&self) -> SystemTime {
        self.clock.get()
    }

    fn set_tick_period(&self, period: Duration) -> Result<(), Status> {
        self.tick_period.set(period);
        Ok(())
    }

    fn enter_stream(&self, stream: u32) -> Result<(), Status> {
        if self.ended.borrow().contains(&stream) {
            self.entered.set(None);
            return Err(Status::BadArgument);
        }
        self.entered.set(Some(stream));
        Ok(())
    }

    fn resume_request(&self) -> Result<(), Status> {
        let stream = self.entered()?;
        self.resumed.borrow_mut().push(stream);
        Ok(())
    }

    fn send_local_reply(&self, reply: LocalReply<'_>) -> Result<(), Status> {
        let stream = self.entered()?;
        self.replies
            .borrow_mut()
            .push((stream, SentReply::from(&reply)));
        Ok(())
    }

    fn shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        Ok(self
            .shared_data
            .borrow()
            .get(key)
            .map_or((None, 0), |(value, cas)| (Some(value.clone()), *cas)))
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        let mut shared = self.shared_data.borrow_mut();
        let current = shared.get(key).map_or(0, |(_, cas)| *cas);
        if cas != 0 && cas != current {
            return Err(Status::CasMismatch);
        }
        shared.insert(key.to_string(), (value.to_vec(), current + 1));
        Ok(())
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, Status> {
        self.metric_definitions
            .set(self.metric_definitions.get() + 1);
        let mut metrics = self.metrics.borrow_mut();
        if let Some(id) = metrics.iter().position(|(defined, _, _)| defined == name) {
            return u32::try_from(id).map_err(|_| Status::InternalFailure);
        }
        metrics.push((name.to_string(), kind, 0));
        u32::try_from(metrics.len() - 1).map_err(|_| Status::InternalFailure)
    }

    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), Status> {
        self.metric_updates.set(self.metric_updates.get() + 1);
        self.with_metric(id, |value| *value += delta)
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), Status> {
        self.metric_updates.set(self.metric_updates.get() + 1);
        self.with_metric(id, |recorded| {
            *recorded = i64::try_from(value).unwrap_or(i64::MAX);
        })
    }

    fn dispatch_as_root(
        &self,
        root_id: u32,
        stream_id: u32,
        clusters: &[&str],
        message: &HttpCallMessage<'_>,
    ) -> Result<usize, NotSent> {
        if !message.is_encodable() {
            return Err(NotSent::Unencodable);
        }
        let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        };
        let mut calls = self.calls.borrow_mut();
        for cluster in clusters {
            calls.push(DispatchedCall {
                root_id,
                cluster: cluster.to_string(),
                headers: owned(message.headers),
                body: message.body.map(<[u8]>::to_vec),
                trailers: owned(message.trailers),
                timeout: message.timeout,
            });
        }
        self.entered.set(Some(stream_id));
        Ok(clusters.len())
    }
}
