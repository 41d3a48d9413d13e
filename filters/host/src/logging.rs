//! Module logs go to Envoy's log through the proxy-wasm `log` bridge.

use proxy_wasm::types::LogLevel;

/// Routes the `log` macros to Envoy; Envoy's own `wasm` log level filters further.
pub fn init_logging() {
    proxy_wasm::set_log_level(LogLevel::Info);
}
