//! [`StreamHost`] over proxy-wasm host calls: what the modules run on inside Envoy.

use engine::headers::HeaderMutator;
use proxy_wasm::types::Status;

use crate::local_reply::{send_local_reply, LocalReply};
use crate::stream_host::{HeaderMapKind, StreamHost};
use crate::{EnvoyAttributes, HeaderMap, RequestHeaders, ResponseHeaders};

/// The stream Envoy is calling into, through the host's ABI.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyWasm;

impl StreamHost for ProxyWasm {
    type Request = RequestHeaders;
    type Response = ResponseHeaders;
    type Attributes = EnvoyAttributes;

    fn request(&self) -> RequestHeaders {
        RequestHeaders::new()
    }

    fn request_headers(&self) -> Vec<(String, String)> {
        HeaderMap::request().all()
    }

    fn response(&self) -> ResponseHeaders {
        ResponseHeaders::new()
    }

    fn attributes(&self) -> EnvoyAttributes {
        EnvoyAttributes::new()
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
