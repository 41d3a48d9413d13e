//! Local replies with response code details, which the SDK's `send_http_response` and
//! `send_grpc_response` always leave empty.
//!
//! Envoy's own filters set details (`fault_filter_abort`, ...) that access logs show as
//! `%RESPONSE_CODE_DETAILS%`; a module that stands in for such a filter must set the same.

use proxy_wasm::types::Status;

use crate::abi;

/// What a local reply carries.
#[derive(Debug, Clone, Copy)]
pub struct LocalReply<'a> {
    /// The HTTP status (200 for a gRPC reply).
    pub status: u32,
    /// Extra response headers (values may carry [`engine::raw_text`] byte escapes).
    pub headers: &'a [(&'a str, &'a str)],
    /// For a gRPC request, Envoy sends it as `grpc-message`; otherwise it is the body.
    pub body: &'a [u8],
    /// `%RESPONSE_CODE_DETAILS%`; Envoy replaces spaces with underscores.
    pub details: &'a str,
    /// A gRPC status code (0..=16) to send as `grpc-status`.
    pub grpc_status: Option<u8>,
}

/// Answers the current (or effective) stream from Envoy with `reply`, through Envoy's
/// `sendLocalReply`: a gRPC request gets a gRPC-shaped answer, as from Envoy's own filters.
pub fn send_local_reply(reply: LocalReply<'_>) -> Result<(), Status> {
    abi::send_local_response(
        reply.status,
        reply.details,
        reply.body,
        reply.headers,
        reply.grpc_status,
    )
}
