//! Envoy stats defined by a module through proxy-wasm `define_metric`.
//!
//! Envoy files them under the `wasmcustom.` stat namespace, shared by every worker's VM (the
//! same name is the same stat), and `/stats/prometheus` lists them without that prefix:
//! `fault.delays_injected` is scraped as `fault_delays_injected`. Fixed names are defined once
//! as [`Counter`] or [`Gauge`]; names built per label set go through the [`Metrics`] cache, so
//! each is defined once per VM and its id reused.

use std::collections::HashMap;

use proxy_wasm::types::{MetricType, Status};

use crate::abi;

/// A VM's metric ids by name.
#[derive(Debug, Default)]
pub struct Metrics {
    ids: HashMap<String, (MetricType, u32)>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of counter `name`, defining it on first use.
    pub fn counter(&mut self, name: &str) -> Option<u32> {
        self.define(MetricType::Counter, name)
    }

    /// The id of gauge `name`, defining it on first use.
    pub fn gauge(&mut self, name: &str) -> Option<u32> {
        self.define(MetricType::Gauge, name)
    }

    /// The id of histogram `name`, defining it on first use. Its buckets are Envoy's
    /// (`stats_config.histogram_bucket_settings`, or Envoy's defaults).
    pub fn histogram(&mut self, name: &str) -> Option<u32> {
        self.define(MetricType::Histogram, name)
    }

    /// `None`, after logging why, when Envoy refuses the name or it is cached with another type.
    fn define(&mut self, metric_type: MetricType, name: &str) -> Option<u32> {
        if let Some(&(known_type, id)) = self.ids.get(name) {
            if known_type == metric_type {
                return Some(id);
            }
            log::error!("metric {name} is a {known_type:?}, not a {metric_type:?}");
            return None;
        }
        match abi::define_metric(metric_type, name) {
            Ok(id) => {
                self.ids.insert(name.to_owned(), (metric_type, id));
                Some(id)
            }
            Err(status) => {
                log::error!("cannot define {metric_type:?} {name}: {status:?}");
                None
            }
        }
    }
}

/// Adds `delta` to counter or gauge `id`.
pub fn increment(id: u32, delta: i64) {
    if let Err(status) = abi::increment_metric(id, delta) {
        log::warn!("cannot increment metric {id}: {status:?}");
    }
}

/// Records `value` in histogram `id` (or sets gauge `id`).
pub fn record(id: u32, value: u64) {
    if let Err(status) = abi::record_metric(id, value) {
        log::warn!("cannot record metric {id}: {status:?}");
    }
}

/// A monotonically increasing counter with a fixed name.
#[derive(Debug, Clone, Copy)]
pub struct Counter(u32);

/// A gauge with a fixed name, which goes up and down.
#[derive(Debug, Clone, Copy)]
pub struct Gauge(u32);

impl Counter {
    pub fn define(name: &str) -> Result<Self, Status> {
        abi::define_metric(MetricType::Counter, name).map(Self)
    }

    pub fn increment(self, by: u64) {
        if by > 0 {
            increment(self.0, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }
}

impl Gauge {
    pub fn define(name: &str) -> Result<Self, Status> {
        abi::define_metric(MetricType::Gauge, name).map(Self)
    }

    /// Adds `delta` (negative to lower it).
    pub fn add(self, delta: i64) {
        increment(self.0, delta);
    }

    /// Sets the value.
    pub fn set(self, value: u64) {
        record(self.0, value);
    }
}
