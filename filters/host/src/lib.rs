//! The thin shell shared by every module: it adapts proxy-wasm host calls to the engine.

pub mod label_set_cap;
mod logging;
pub mod metrics;
mod plugin_config;
pub mod properties;
pub mod random;
mod request_headers;

pub use logging::init_logging;
pub use plugin_config::configure;
pub use request_headers::RequestHeaders;
