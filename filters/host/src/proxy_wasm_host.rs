//! [`StreamHost`] and [`VmHost`] over proxy-wasm host calls: what the modules run on inside
//! Envoy.

use std::time::{Duration, SystemTime};

use engine::headers::HeaderMutator;
use proxy_wasm::types::{MetricType, Status};

use crate::abi;
use crate::http_call::{HttpCallMessage, NotSent};
use crate::local_reply::{send_local_reply, LocalReply};
use crate::stream_host::{HeaderMapKind, StreamHost};
use crate::vm_host::VmHost;
use crate::{EnvoyAttributes, HeaderMap, RequestHeaders, ResponseHeaders};

/// The stream Envoy is calling into, and the VM's host, through the host's ABI.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyWasm;

impl StreamHost for ProxyWasm {
    type Request = RequestHeaders;
    type Response = ResponseHeaders;
    type Attributes = EnvoyAttributes;

    fn request(&self) -> RequestHeaders {
        RequestHeaders::new()
    }

    fn sparse_request(&self) -> RequestHeaders {
        RequestHeaders::sparse()
    }

    fn request_headers(&self) -> Vec<(String, String)> {
        HeaderMap::request().all()
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        crate::request_body::request_body(size)
    }

    fn request_trailers(&self) -> Vec<(String, String)> {
        crate::request_body::request_trailers()
    }

    fn response(&self) -> ResponseHeaders {
        ResponseHeaders::new()
    }

    fn attributes(&self) -> EnvoyAttributes {
        EnvoyAttributes::new()
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        crate::properties::get_bytes(path)
    }

    fn header_map(&mut self, kind: HeaderMapKind) -> impl HeaderMutator + '_ {
        match kind {
            HeaderMapKind::Request => HeaderMap::request(),
            HeaderMapKind::Response => HeaderMap::response(),
        }
    }

    fn send_local_reply(&mut self, reply: LocalReply<'_>) -> Result<(), Status> {
        send_local_reply(reply)
    }

    fn set_property(&mut self, name: &str, value: &str) {
        crate::properties::set_string(name, value);
    }

    fn clear_route_cache(&mut self) {
        crate::route_cache::clear_route_cache();
    }
}

impl VmHost for ProxyWasm {
    fn now(&self) -> SystemTime {
        abi::current_time().unwrap_or_else(|_| SystemTime::now())
    }

    fn set_tick_period(&self, period: Duration) -> Result<(), Status> {
        abi::set_tick_period(period)
    }

    fn enter_stream(&self, stream: u32) -> Result<(), Status> {
        abi::set_effective_context(stream)
    }

    fn resume_request(&self) -> Result<(), Status> {
        abi::resume_http_request()
    }

    fn send_local_reply(&self, reply: LocalReply<'_>) -> Result<(), Status> {
        send_local_reply(reply)
    }

    fn shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        abi::get_shared_data(key)
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        abi::set_shared_data(key, value, cas)
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, Status> {
        abi::define_metric(kind, name)
    }

    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), Status> {
        abi::increment_metric(id, delta)
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), Status> {
        abi::record_metric(id, value)
    }

    fn dispatch_as_root(
        &self,
        root_id: u32,
        stream_id: u32,
        clusters: &[&str],
        message: &HttpCallMessage<'_>,
    ) -> Result<usize, NotSent> {
        crate::http_call::dispatch_as_root(root_id, stream_id, clusters, message)
    }
}
