//! Asking Envoy to pick the request's route again after a module changed what routing reads.
//!
//! Envoy caches the route it matched before the first filter ran. A wasm module's change of a
//! request header clears that cache implicitly, but since Envoy 1.33 (envoy PR 36671) only for
//! modules built against proxy-wasm ABI 0.2.1 or older (the Rust SDK's, and the newest ABI
//! Envoy 1.36-1.40 loads); a module on a newer ABI keeps the cached route unless it calls the
//! `clear_route_cache` foreign function, which the same release added. Calling it explicitly
//! keeps re-selection working when the SDK moves to a newer ABI, and makes the intent visible.
//! Hosts without the function (Envoy before 1.33, other proxies) answer `NotFound`: there the
//! implicit clearing is the only mechanism, and nothing more is needed. Measured on each Envoy
//! version by `envoy-test/tests/route_cache.rs` (README: Envoy versions).

use std::cell::Cell;

use proxy_wasm::types::Status;

use crate::abi;

/// The name Envoy registers the foreign function under (`source/extensions/common/wasm/foreign.cc`).
const CLEAR_ROUTE_CACHE: &str = "clear_route_cache";

/// What the host offers, learned from the first call in this VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RouteRefresh {
    /// The host has `clear_route_cache`; this module clears the cache explicitly.
    Explicit,
    /// The host has no such function; it clears the cache itself when a request header changes.
    Automatic,
}

thread_local! {
    // A VM runs one thread; once the host said `NotFound`, asking again on every request would
    // only cost a host call.
    static LEARNED: Cell<Option<RouteRefresh>> = const { Cell::new(None) };
}

/// Makes Envoy match the route again on the current request headers, by the explicit foreign
/// function where the host has it. Never fails the request: any refusal leaves the host's
/// automatic behaviour in charge. Logs the mechanism once per VM, at debug.
pub fn clear_route_cache() {
    if LEARNED.with(Cell::get) == Some(RouteRefresh::Automatic) {
        return;
    }
    let outcome = abi::call_foreign_function(CLEAR_ROUTE_CACHE, &[]);
    let refresh = match outcome {
        Ok(_) => RouteRefresh::Explicit,
        Err(_) => RouteRefresh::Automatic,
    };
    if LEARNED
        .with(|learned| learned.replace(Some(refresh)))
        .is_none()
    {
        match outcome {
            Ok(_) => {
                log::debug!("route re-selection: the host's {CLEAR_ROUTE_CACHE} foreign function")
            }
            Err(Status::NotFound) => log::debug!(
                "route re-selection: the host has no {CLEAR_ROUTE_CACHE} foreign function; it \
                 clears the route cache itself when a request header changes"
            ),
            // Not expected from Envoy (its function takes no arguments and always succeeds);
            // the request still routes through the automatic clearing.
            Err(status) => log::debug!(
                "route re-selection: {CLEAR_ROUTE_CACHE} failed with {status:?}; relying on the \
                 host clearing the route cache when a request header changes"
            ),
        }
    }
}
