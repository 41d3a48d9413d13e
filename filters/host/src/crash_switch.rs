//! A test-only switch that makes a module panic on purpose, to prove that a trapped VM is
//! contained and that `FAIL_RELOAD` restores service (`envoy-test/tests/hostile.rs`).
//!
//! It is off unless the VM's environment sets `GATEWAY_TEST_PANIC_HEADER` (Envoy's
//! `vm_config.environment_variables`, which no request can change): then a request carrying
//! that header makes the module panic in `on_http_request_headers`. Never set it in production.

use std::sync::OnceLock;

use engine::RequestView;

/// The VM environment variable naming the header that triggers the panic.
pub const PANIC_HEADER_VARIABLE: &str = "GATEWAY_TEST_PANIC_HEADER";

fn panic_header() -> Option<&'static str> {
    static HEADER: OnceLock<Option<String>> = OnceLock::new();
    HEADER
        .get_or_init(|| {
            std::env::var(PANIC_HEADER_VARIABLE)
                .ok()
                .filter(|name| !name.is_empty())
                .map(|name| name.to_ascii_lowercase())
        })
        .as_deref()
}

/// Panics if the switch is on and `request` carries its header.
#[allow(clippy::panic)] // The whole point: a real panic, through the real panic path.
pub fn panic_if_asked(request: &impl RequestView) {
    if let Some(header) = panic_header() {
        if request.header(header).is_some() {
            panic!("test-only panic: the request carries {header} ({PANIC_HEADER_VARIABLE})");
        }
    }
}
