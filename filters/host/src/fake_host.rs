//! [`StreamHost`] in memory, for native tests of the module shells (as the Envoy dynamic-modules
//! SDK's `MockEnvoyHttpFilter` and Kuadrant's `MockWasmHost` do for theirs). It behaves as Envoy
//! does where a shell can get it wrong: once the request has gone upstream
//! ([`FakeHost::send_request_upstream`]) the request headers read as empty.
//!
//! It also records every call the shell makes, one [`HostCall`] per call the real host would
//! get ([`FakeHost::calls`]), so a test can say what a request costs in host calls: the
//! request view is the real one ([`RequestHeaders`] over a recording source), and the other
//! views and header maps record each lookup or write as [`crate::ProxyWasm`] makes it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use engine::headers::{HeaderMutator, ResponseView, StreamAttributes};
use engine::request::HeaderList;
use engine::RequestView;
use proxy_wasm::types::Status;

use crate::local_reply::LocalReply;
use crate::request_headers::{RequestHeaders, RequestSource};
use crate::stream_host::{HeaderMapKind, StreamHost};

/// One call a module shell made on the host, as [`crate::ProxyWasm`] would make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCall {
    /// The whole header map of a phase read (`get_header_map_pairs`).
    ReadHeaderMap(HeaderMapKind),
    /// One header's first value read (`get_header_map_value`).
    ReadHeader(HeaderMapKind, String),
    /// An attribute or property read (`get_property`), by its `.`-joined path.
    ReadProperty(String),
    /// The request body chunk read.
    ReadRequestBody,
    /// The request trailers read.
    ReadRequestTrailers,
    /// A header set (`replace_header_map_value`).
    SetHeader(HeaderMapKind, String),
    /// A header value added (`add_header_map_value`).
    AddHeader(HeaderMapKind, String),
    /// A header removed (`remove_header_map_value`).
    RemoveHeader(HeaderMapKind, String),
    /// A local reply sent.
    SendLocalReply,
    /// A property published (`set_property`).
    SetProperty(String),
    /// The route cache cleared.
    ClearRouteCache,
}

/// The calls made on one fake host, shared with the views it hands out.
type CallLog = Rc<RefCell<Vec<HostCall>>>;

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
    /// What [`StreamHost::property`] answers, by `.`-joined path, besides what the shell
    /// published itself ([`FakeHost::properties`]).
    pub property_values: BTreeMap<String, Vec<u8>>,
    request_gone_upstream: bool,
    calls: CallLog,
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

    /// Every host call made so far, in order.
    pub fn calls(&self) -> Vec<HostCall> {
        self.calls.borrow().clone()
    }

    /// The host calls made since the last time this was asked (one phase's calls), in order.
    pub fn take_calls(&mut self) -> Vec<HostCall> {
        self.calls.take()
    }

    fn record(&self, call: HostCall) {
        self.calls.borrow_mut().push(call);
    }
}

/// The request as the fake host holds it, answering [`RequestHeaders`] and recording each call.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    headers: HeaderList,
    calls: CallLog,
}

impl RequestSource for FakeRequest {
    fn all(&self) -> Vec<(String, String)> {
        self.calls
            .borrow_mut()
            .push(HostCall::ReadHeaderMap(HeaderMapKind::Request));
        self.headers.pairs().to_vec()
    }

    fn first(&self, name: &str) -> Option<String> {
        self.calls.borrow_mut().push(HostCall::ReadHeader(
            HeaderMapKind::Request,
            name.to_owned(),
        ));
        self.headers.first_header_value(name).map(Cow::into_owned)
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.calls
            .borrow_mut()
            .push(HostCall::ReadProperty(path.join(".")));
        // As Envoy encodes them: an integer as 8 little-endian bytes, no TLS as empty.
        match path {
            ["destination", "port"] => self
                .headers
                .destination_port()
                .map(|port| i64::from(port).to_le_bytes().to_vec()),
            ["connection", "tls_version"] => Some(if self.headers.downstream_tls() {
                b"TLSv1.3".to_vec()
            } else {
                Vec::new()
            }),
            _ => None,
        }
    }
}

impl StreamHost for FakeHost {
    type Request = RequestHeaders<FakeRequest>;
    type Response = FakeResponse;
    type Attributes = FakeStreamAttributes;

    fn request(&self) -> RequestHeaders<FakeRequest> {
        RequestHeaders::over(self.request_source(), 0)
    }

    fn sparse_request(&self) -> RequestHeaders<FakeRequest> {
        RequestHeaders::over(
            self.request_source(),
            crate::request_headers::SPARSE_LOOKUPS,
        )
    }

    fn request_headers(&self) -> Vec<(String, String)> {
        self.request_source().all()
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        self.record(HostCall::ReadRequestBody);
        let chunk = self
            .request_body_chunk
            .get(..size.min(self.request_body_chunk.len()))?;
        (!chunk.is_empty()).then(|| chunk.to_vec())
    }

    fn request_trailers(&self) -> Vec<(String, String)> {
        self.record(HostCall::ReadRequestTrailers);
        self.request_trailers.clone()
    }

    fn response(&self) -> FakeResponse {
        FakeResponse {
            headers: self.response.clone(),
            calls: self.calls.clone(),
        }
    }

    fn attributes(&self) -> FakeStreamAttributes {
        FakeStreamAttributes {
            values: self.attributes.clone(),
            calls: self.calls.clone(),
        }
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        let name = path.join(".");
        self.record(HostCall::ReadProperty(name.clone()));
        self.property_values.get(&name).cloned().or_else(|| {
            self.properties
                .iter()
                .rev()
                .find(|(published, _)| *published == name)
                .map(|(_, value)| value.as_bytes().to_vec())
        })
    }

    fn header_map(&mut self, kind: HeaderMapKind) -> impl HeaderMutator + '_ {
        let headers = match kind {
            HeaderMapKind::Request => &mut self.request,
            HeaderMapKind::Response => &mut self.response,
        };
        FakeHeaderMap {
            kind,
            headers,
            calls: &self.calls,
        }
    }

    fn send_local_reply(&mut self, reply: LocalReply<'_>) -> Result<(), Status> {
        self.record(HostCall::SendLocalReply);
        self.local_replies.push(SentReply::from(&reply));
        Ok(())
    }

    fn set_property(&mut self, name: &str, value: &str) {
        self.record(HostCall::SetProperty(name.to_owned()));
        self.properties.push((name.to_string(), value.to_string()));
    }

    fn clear_route_cache(&mut self) {
        self.record(HostCall::ClearRouteCache);
        self.route_cache_clears += 1;
    }
}

impl FakeHost {
    /// The request as the host shows it now: nothing once it has gone upstream.
    fn request_source(&self) -> FakeRequest {
        FakeRequest {
            headers: if self.request_gone_upstream {
                HeaderList::default()
            } else {
                self.request.clone()
            },
            calls: self.calls.clone(),
        }
    }
}

/// One of the fake stream's header maps, recording each call as [`crate::HeaderMap`] makes it.
struct FakeHeaderMap<'a> {
    kind: HeaderMapKind,
    headers: &'a mut HeaderList,
    calls: &'a CallLog,
}

impl HeaderMutator for FakeHeaderMap<'_> {
    fn header_names(&self) -> Vec<String> {
        self.calls
            .borrow_mut()
            .push(HostCall::ReadHeaderMap(self.kind));
        self.headers.header_names()
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.calls
            .borrow_mut()
            .push(HostCall::SetHeader(self.kind, name.to_owned()));
        self.headers.set_header(name, value);
    }

    fn add_header(&mut self, name: &str, value: &str) {
        self.calls
            .borrow_mut()
            .push(HostCall::AddHeader(self.kind, name.to_owned()));
        self.headers.add_header(name, value);
    }

    fn remove_header(&mut self, name: &str) {
        self.calls
            .borrow_mut()
            .push(HostCall::RemoveHeader(self.kind, name.to_owned()));
        self.headers.remove_header(name);
    }
}

/// The response as [`StreamHost::response`] shows it: `:status` and the first value of a
/// header, one recorded lookup each, as [`crate::ResponseHeaders`] reads them.
#[derive(Debug, Clone)]
pub struct FakeResponse {
    headers: HeaderList,
    calls: CallLog,
}

impl ResponseView for FakeResponse {
    fn status(&self) -> Option<u16> {
        self.header(":status")?.parse().ok()
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.calls.borrow_mut().push(HostCall::ReadHeader(
            HeaderMapKind::Response,
            name.to_owned(),
        ));
        self.headers.first_header_value(name)
    }
}

/// The stream's attributes as [`StreamHost::attributes`] shows them: one recorded property
/// read each, as [`crate::EnvoyAttributes`] reads them.
#[derive(Debug, Clone)]
pub struct FakeStreamAttributes {
    values: FakeAttributes,
    calls: CallLog,
}

impl FakeStreamAttributes {
    fn read<T>(&self, path: &str, value: T) -> T {
        self.calls
            .borrow_mut()
            .push(HostCall::ReadProperty(path.to_owned()));
        value
    }
}

impl StreamAttributes for FakeStreamAttributes {
    fn downstream_remote_address(&self) -> Option<String> {
        self.read(
            "source.address",
            self.values.downstream_remote_address.clone(),
        )
    }

    fn route_name(&self) -> Option<String> {
        self.read("xds.route_name", self.values.route_name.clone())
    }

    fn upstream_cluster(&self) -> Option<String> {
        self.read("xds.cluster_name", self.values.upstream_cluster.clone())
    }

    fn start_time_unix_nanos(&self) -> Option<i64> {
        self.read("request.time", self.values.start_time_unix_nanos)
    }
}
