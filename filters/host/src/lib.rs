//! The thin shell shared by every module: it adapts proxy-wasm host calls to the engine.

mod header_map;
pub mod label_set_cap;
mod logging;
pub mod metrics;
mod plugin_config;
pub mod properties;
pub mod random;
mod request_headers;
mod response_headers;
mod stream_attributes;

pub use header_map::HeaderMap;
pub use logging::init_logging;
pub use plugin_config::configure;
pub use request_headers::RequestHeaders;
pub use response_headers::ResponseHeaders;
pub use stream_attributes::EnvoyAttributes;
