//! Request metrics with Istio-style labels: which labels a finished request gets, how they are
//! sanitised and encoded into Envoy stat names, and the cardinality cap.
//!
//! The naming mode ([`naming::Naming`]) decides which metrics the module records per label set
//! and with which labels; the labels are encoded in the stat name as `name=.=value;.;` tags,
//! which Envoy turns into Prometheus labels when its `stats_config.stats_tags` carry the
//! regexes [`names::stats_tag_regex`] gives.

pub mod config;
pub mod destination;
pub mod label_sets;
pub mod labels;
pub mod names;
pub mod naming;
pub mod response_flags;
pub mod sanitize;
pub mod workload;

pub use config::MetricsConfig;
pub use labels::{LabelSet, RequestFacts};
pub use naming::Naming;
pub use workload::Workload;
