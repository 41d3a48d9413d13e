//! The thin shell shared by every module: it adapts proxy-wasm host calls to the engine.

mod delay_queue;
mod fault_injection;
mod header_map;
pub mod label_set_cap;
mod local_reply;
mod logging;
pub mod metrics;
mod plugin_config;
pub mod properties;
pub mod random;
mod request_headers;
mod response_headers;
mod route_cache;
mod route_cluster;
mod shared_counter;
mod stream_attributes;
mod stream_timers;

pub use fault_injection::FaultInjection;
pub use header_map::HeaderMap;
pub use local_reply::{send_local_reply, LocalReply};
pub use logging::init_logging;
pub use metrics::{Counter, Gauge};
pub use plugin_config::configure;
pub use request_headers::RequestHeaders;
pub use response_headers::ResponseHeaders;
pub use route_cache::clear_route_cache;
pub use route_cluster::route_cluster;
pub use shared_counter::SharedCounter;
pub use stream_attributes::EnvoyAttributes;
pub use stream_timers::{enter_stream, now, StreamTimers};
