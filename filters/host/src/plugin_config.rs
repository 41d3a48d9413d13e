//! Loading the plugin configuration Envoy hands to `on_configure`.

use std::cell::RefCell;
use std::rc::Rc;

use engine::ConfigError;
use proxy_wasm::types::BufferType;

use crate::abi;
use crate::health::ModuleHealth;

thread_local! {
    /// The modules whose start in this VM has been counted (`<module>.vm_starts`): one in a
    /// module's own VM, up to four in the suite build's.
    static VM_STARTS_COUNTED: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Reads the plugin configuration, compiles it with `compile` and stores it in `current`.
///
/// Returns whether it succeeded, which is what `on_configure` must answer: on `false` Envoy
/// refuses the filter at start, and rejects an update while the last good config keeps serving.
pub fn configure<T>(
    module: &'static str,
    current: &mut Option<Rc<T>>,
    compile: impl FnOnce(&[u8]) -> Result<T, ConfigError>,
) -> bool {
    let first_start = VM_STARTS_COUNTED.with(|counted| {
        let mut counted = counted.borrow_mut();
        let first = !counted.contains(&module);
        if first {
            counted.push(module);
        }
        first
    });
    if first_start {
        ModuleHealth::of(module).vm_started();
    }
    let bytes = match abi::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
        Ok(bytes) => bytes.unwrap_or_default(),
        Err(status) => {
            log::error!("{module}: cannot read the plugin configuration: {status:?}");
            return false;
        }
    };
    if bytes.is_empty() {
        ModuleHealth::of(module).config_rejected();
        log::error!("{module}: invalid plugin configuration: the configuration is empty");
        return false;
    }
    match compile(&bytes) {
        Ok(compiled) => {
            *current = Some(Rc::new(compiled));
            let health = ModuleHealth::of(module);
            health.config_loaded();
            health.config_generation(&bytes);
            log::info!(
                "{module}: configuration loaded ({} bytes, linear memory {} bytes)",
                bytes.len(),
                linear_memory_bytes()
            );
            true
        }
        Err(error) => {
            ModuleHealth::of(module).config_rejected();
            log::error!("{module}: invalid plugin configuration: {error}");
            false
        }
    }
}

/// The VM's linear memory after configuring: what the compiled config costs each worker's VM.
/// Envoy reports no per-VM memory, so the module logs it (the benchmarks read it from the log).
#[cfg(target_arch = "wasm32")]
fn linear_memory_bytes() -> usize {
    const WASM_PAGE_BYTES: usize = 65_536;
    core::arch::wasm32::memory_size::<0>() * WASM_PAGE_BYTES
}

/// Natively (unit tests, clippy) there is no linear memory to report.
#[cfg(not(target_arch = "wasm32"))]
fn linear_memory_bytes() -> usize {
    0
}
