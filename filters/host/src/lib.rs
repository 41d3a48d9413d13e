//! The thin shell shared by every module: it adapts proxy-wasm host calls to the engine.

mod logging;
mod plugin_config;
pub mod random;
mod request_headers;

pub use logging::init_logging;
pub use plugin_config::configure;
pub use request_headers::RequestHeaders;
