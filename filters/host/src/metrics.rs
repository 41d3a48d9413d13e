//! Envoy stats defined by a module: each name is defined once per VM and its id cached.
//!
//! `define_metric` on a name Envoy already knows returns the existing stat, so every VM (one per
//! worker thread) shares the same counter; the cache only saves the host call and the name's
//! symbolisation on every request after the first.

use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

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
        match hostcalls::define_metric(metric_type, name) {
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
    if let Err(status) = hostcalls::increment_metric(id, delta) {
        log::warn!("cannot increment metric {id}: {status:?}");
    }
}

/// Records `value` in histogram `id` (or sets gauge `id`).
pub fn record(id: u32, value: u64) {
    if let Err(status) = hostcalls::record_metric(id, value) {
        log::warn!("cannot record metric {id}: {status:?}");
    }
}
