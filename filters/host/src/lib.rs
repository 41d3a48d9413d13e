//! The thin shell shared by every module: it adapts proxy-wasm host calls to the engine.
//!
//! It is the modules' one door to the host: every call goes through [`abi`], which reads bytes,
//! decodes header values losslessly ([`engine::raw_text`]) and reports a host error as a
//! [`proxy_wasm::types::Status`] instead of panicking. No public function here panics; each
//! logs a host refusal and says what it returns then.

mod abi;
mod config_generation;
pub mod crash_switch;
mod delay_queue;
mod fake_host;
mod fake_vm;
mod fault_injection;
mod header_map;
pub mod health;
mod http_call;
pub mod label_set_cap;
mod local_reply;
mod logging;
pub mod metrics;
mod module_root;
mod plugin_config;
pub mod properties;
mod proxy_wasm_host;
mod proxy_workload;
pub mod random;
mod request_body;
mod request_headers;
mod response_headers;
mod route_cache;
mod route_cluster;
mod shared_slots;
mod stream_attributes;
mod stream_host;
mod stream_timers;
mod vm_host;

pub use fake_host::{
    FakeAttributes, FakeHost, FakeRequest, FakeResponse, FakeStreamAttributes, HostCall, SentReply,
};
pub use fake_vm::{DispatchedCall, FakeVm};
pub use fault_injection::FaultInjection;
pub use header_map::HeaderMap;
pub use http_call::{HttpCallMessage, NotSent};
pub use local_reply::{send_local_reply, LocalReply};
pub use logging::{in_callback, in_module, start_module, NameGuard};
pub use metrics::{Counter, Gauge};
pub use module_root::{Module, Root};
pub use plugin_config::configure;
pub use proxy_wasm_host::ProxyWasm;
pub use proxy_workload::proxy_workload;
pub use request_headers::{EnvoyRequest, RequestHeaders, RequestSource};
pub use response_headers::ResponseHeaders;
pub use route_cache::clear_route_cache;
pub use route_cluster::route_cluster;
pub use shared_slots::SharedSlots;
pub use stream_attributes::EnvoyAttributes;
pub use stream_host::{HeaderMapKind, StreamHost};
pub use stream_timers::StreamTimers;
pub use vm_host::VmHost;
