//! [`StreamHost`] in memory, for native tests of the module shells (as the Envoy dynamic-modules
//! SDK's `MockEnvoyHttpFilter` and Kuadrant's `MockWasmHost` do for theirs). It behaves as Envoy
//! does where a shell can get it wrong: once the request has gone upstream
//! ([`FakeHost::send_request_upstream`]) the request headers read as empty.

use std::borrow::Cow;

use engine::headers::{HeaderMutator, ResponseView, StreamAttributes};
use engine::request::HeaderList;
use engine::RequestView;
use proxy_wasm::types::Status;

use crate::local_reply::LocalReply;
use crate::stream_host::{HeaderMapKind, StreamHost};

/// One stream's request, response, attributes and everything the shell asked of the host.
#[derive(Debug, Clone, Default)]
pub struct FakeHost {
    /// The request headers (pseudo-headers included); the shell's request edits land here.
    pub request: HeaderList,
    /// The response headers (`:status` included); the shell's response edits land here.
    pub response: HeaderList,
    /// What [`StreamHost::attributes`] answers.
    pub attributes: FakeAttributes,
    /// Every local reply sent, in order.
    pub local_replies: Vec<SentReply>,
    /// Every property published, in order.
    pub properties: Vec<(String, String)>,
    /// How often the route cache was cleared.
    pub route_cache_clears: usize,
    /// The request body chunk the current callback sees (set it before each body callback).
    pub request_body_chunk: Vec<u8>,
    /// The request's trailers, for the trailers callback.
    pub request_trailers: Vec<(String, String)>,
    request_gone_upstream: bool,
}

/// A local reply as the fake host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReply {
    /// The HTTP status.
    pub status: u32,
    /// Its headers.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
    /// `%RESPONSE_CODE_DETAILS%`.
    pub details: String,
    /// The gRPC status, for a gRPC-shaped reply.
    pub grpc_status: Option<u8>,
}

impl From<&LocalReply<'_>> for SentReply {
    fn from(reply: &LocalReply<'_>) -> Self {
        Self {
            status: reply.status,
            headers: reply
                .headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: reply.body.to_vec(),
            details: reply.details.to_string(),
            grpc_status: reply.grpc_status,
        }
    }
}

/// Envoy's stream attributes, as plain values.
#[derive(Debug, Clone, Default)]
pub struct FakeAttributes {
    /// `source.address`.
    pub downstream_remote_address: Option<String>,
    /// `xds.route_name`.
    pub route_name: Option<String>,
    /// `xds.cluster_name`.
    pub upstream_cluster: Option<String>,
    /// `request.time`, ns since the Unix epoch.
    pub start_time_unix_nanos: Option<i64>,
}

impl FakeHost {
    /// A stream whose request is `request`.
    pub fn new(request: HeaderList) -> Self {
        Self {
            request,
            ..Self::default()
        }
    }

    /// The request leaves for the upstream: from now on Envoy shows a filter no request headers,
    /// as in the response phase.
    pub fn send_request_upstream(&mut self) {
        self.request_gone_upstream = true;
    }

    /// The upstream answers with `response` (`:status` and headers).
    pub fn respond(&mut self, response: HeaderList) {
        self.send_request_upstream();
        self.response = response;
    }
}

impl StreamHost for FakeHost {
    type Request = HeaderList;
    type Response = FakeResponse;
    type Attributes = FakeAttributes;

    fn request(&self) -> HeaderList {
        if self.request_gone_upstream {
            HeaderList::default()
        } else {
            self.request.clone()
        }
    }

    fn request_headers(&self) -> Vec<(String, String)> {
        self.request().pairs().to_vec()
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        let chunk = self
            .request_body_chunk
            .get(..size.min(self.request_body_chunk.len()))?;
        (!chunk.is_empty()).then(|| chunk.to_vec())
    }

    fn request_trailers(&self) -> Vec<(String, String)> {
        self.request_trailers.clone()
    }

    fn response(&self) -> FakeResponse {
        FakeResponse(self.response.clone())
    }

    fn attributes(&self) -> FakeAttributes {
        self.attributes.clone()
    }

    fn header_map(&mut self, kind: HeaderMapKind) -> impl HeaderMutator + '_ {
        match kind {
            HeaderMapKind::Request => &mut self.request,
            HeaderMapKind::Response => &mut self.response,
        }
    }

    fn send_local_reply(&mut self, reply: LocalReply<'_>) -> Result<(), Status> {
        self.local_replies.push(SentReply::from(&reply));
        Ok(())
    }

    fn set_property(&mut self, name: &str, value: &str) {
        self.properties.push((name.to_string(), value.to_string()));
    }

    fn clear_route_cache(&mut self) {
        self.route_cache_clears += 1;
    }
}

/// The response as [`StreamHost::response`] shows it: `:status` and the first value of a header.
#[derive(Debug, Clone)]
pub struct FakeResponse(pub HeaderList);

impl ResponseView for FakeResponse {
    fn status(&self) -> Option<u16> {
        self.0.first_header_value(":status")?.parse().ok()
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0.first_header_value(name)
    }
}

impl StreamAttributes for FakeAttributes {
    fn downstream_remote_address(&self) -> Option<String> {
        self.downstream_remote_address.clone()
    }

    fn route_name(&self) -> Option<String> {
        self.route_name.clone()
    }

    fn upstream_cluster(&self) -> Option<String> {
        self.upstream_cluster.clone()
    }

    fn start_time_unix_nanos(&self) -> Option<i64> {
        self.start_time_unix_nanos
    }
}
