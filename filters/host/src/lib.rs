//! The thin shell shared by every module: it adapts proxy-wasm host calls to the engine.

mod delay_queue;
mod local_reply;
mod logging;
mod metrics;
mod plugin_config;
mod random;
mod request_headers;
mod route_cluster;
mod shared_counter;
mod stream_timers;

pub use local_reply::{send_local_reply, LocalReply};
pub use logging::init_logging;
pub use metrics::{Counter, Gauge};
pub use plugin_config::configure;
pub use random::Random;
pub use request_headers::RequestHeaders;
pub use route_cluster::route_cluster;
pub use shared_counter::SharedCounter;
pub use stream_timers::{enter_stream, now, StreamTimers};
