//! The host as a module shell's stream logic sees it: the views the engine reads, the header
//! maps its edits go to, local replies, properties and the route cache. [`crate::ProxyWasm`]
//! is the real one (host calls); [`crate::FakeHost`] keeps everything in memory, so a shell's
//! stream logic is tested natively, between the engine's unit tests and the Envoy e2e tests.

use engine::headers::{HeaderMutator, ResponseView, StreamAttributes};
use engine::RequestView;
use proxy_wasm::types::Status;

use crate::local_reply::LocalReply;

/// Which header map of the stream an edit goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMapKind {
    /// The request headers (writable until the request has gone upstream).
    Request,
    /// The response headers (writable in the response phase).
    Response,
}

/// The calls a module's stream logic makes on the host for the stream it is called for.
pub trait StreamHost {
    /// The request as the host shows it now.
    type Request: RequestView;
    /// The response as the host shows it now.
    type Response: ResponseView;
    /// Envoy's attributes of the stream.
    type Attributes: StreamAttributes;

    /// Reads the request (Envoy hides it once it has gone upstream: read it in the request phase).
    fn request(&self) -> Self::Request;
    /// Reads the request as a module that looks up a few headers does: its first lookups
    /// are one host call each instead of one read of the whole map (see
    /// [`crate::RequestHeaders::sparse`]).
    fn sparse_request(&self) -> Self::Request;
    /// Every request header `(name, value)` as the host has them now, in order.
    fn request_headers(&self) -> Vec<(String, String)>;
    /// The first `size` bytes of the request body the host holds for this callback (its chunk).
    fn request_body(&self, size: usize) -> Option<Vec<u8>>;
    /// The request's trailers (in the trailers callback).
    fn request_trailers(&self) -> Vec<(String, String)>;
    /// Reads the response (in the response phase).
    fn response(&self) -> Self::Response;
    /// The stream's attributes, read on demand.
    fn attributes(&self) -> Self::Attributes;
    /// The raw bytes of the attribute or property at `path`; `None` when the host has none.
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
    /// The header map that edits of `kind` are written to.
    fn header_map(&mut self, kind: HeaderMapKind) -> impl HeaderMutator + '_;
    /// Answers the stream from the gateway.
    fn send_local_reply(&mut self, reply: LocalReply<'_>) -> Result<(), Status>;
    /// Publishes `value` as the filter-state property `name`, for the filters after this one.
    fn set_property(&mut self, name: &str, value: &str);
    /// Asks Envoy to select the route again (after a header that routes changed).
    fn clear_route_cache(&mut self);
}
