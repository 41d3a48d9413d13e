//! Module logs go to Envoy's log; a panic is logged at `critical` with the module and the
//! callback it happened in, and counted, before the VM traps.
//!
//! The SDK's logger `unwrap`s the host's answer to every log call; this one ignores a refused
//! log line, so logging can never be what traps the VM.

use std::cell::Cell;
use std::thread::LocalKey;

use proxy_wasm::types::LogLevel;

use crate::abi;
use crate::health::ModuleHealth;

struct HostLogger;

static LOGGER: HostLogger = HostLogger;

thread_local! {
    /// The proxy-wasm callback the module is in, for the panic log.
    static CALLBACK: Cell<&'static str> = const { Cell::new("start") };
    /// The module whose code runs: the VM's one module, or in the suite build the module the
    /// suite dispatched the current callback to.
    static MODULE: Cell<&'static str> = const { Cell::new("module") };
}

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        let _ = abi::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

/// Starts a module's VM: routes the `log` macros to Envoy (whose own `wasm` log level filters
/// further) and installs the panic hook. Call it first in `proxy_wasm::main!`. Envoy refuses
/// most host calls while the VM initialises, so the VM start is counted later, when the VM is
/// first configured ([`crate::configure`]).
pub fn start_module(module: &'static str) {
    MODULE.with(|current| current.set(module));
    // A second call in one VM (tests) finds the logger set; that is fine.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    std::panic::set_hook(Box::new(|info| {
        let module = MODULE.with(Cell::get);
        let callback = CALLBACK.with(Cell::get);
        let _ = abi::log(
            LogLevel::Critical,
            &format!("{module}: panicked in {callback}: {info}"),
        );
        ModuleHealth::of(module).panicked();
    }));
}

/// Marks `module` as the one running until the guard is dropped: the suite build, which holds
/// every module in one VM, enters the module of each root and stream context before
/// dispatching a callback to it, so a panic is logged and counted as that module's.
pub fn in_module(module: &'static str) -> NameGuard {
    NameGuard::enter(&MODULE, module)
}

/// Marks the callback the module is in until the guard is dropped, for the panic log.
pub fn in_callback(name: &'static str) -> NameGuard {
    NameGuard::enter(&CALLBACK, name)
}

/// Restores the name a thread-local held before [`in_module`] or [`in_callback`] replaced it
/// (a host call may nest one callback in another, the suite one module's callback in another's).
pub struct NameGuard {
    slot: &'static LocalKey<Cell<&'static str>>,
    outer: &'static str,
}

impl NameGuard {
    fn enter(slot: &'static LocalKey<Cell<&'static str>>, name: &'static str) -> Self {
        let outer = slot.with(|current| current.replace(name));
        NameGuard { slot, outer }
    }
}

impl Drop for NameGuard {
    fn drop(&mut self) {
        let outer = self.outer;
        self.slot.with(|current| current.set(outer));
    }
}
