//! Local replies with response code details, which the SDK's `send_http_response` and
//! `send_grpc_response` always leave empty.
//!
//! Envoy's own filters set details (`fault_filter_abort`, ...) that access logs show as
//! `%RESPONSE_CODE_DETAILS%`; a module that stands in for such a filter must set the same. The
//! ABI call is the one the SDK makes, with the details argument filled in.
#![allow(unsafe_code)]

use proxy_wasm::types::Status;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> Status;
}

/// The ABI's "no gRPC status" value.
const NO_GRPC_STATUS: i32 = -1;

/// A serialized header map with no entries (a zero count).
const NO_HEADERS: [u8; 4] = [0; 4];

/// What a local reply carries.
#[derive(Debug, Clone, Copy)]
pub struct LocalReply<'a> {
    /// The HTTP status (200 for a gRPC reply).
    pub status: u32,
    /// For a gRPC request, Envoy sends it as `grpc-message`; otherwise it is the body.
    pub body: &'a str,
    /// `%RESPONSE_CODE_DETAILS%`; Envoy replaces spaces with underscores.
    pub details: &'a str,
    /// A gRPC status code (0..=16) to send as `grpc-status`.
    pub grpc_status: Option<u8>,
}

/// Answers the current (or effective) stream from Envoy with `reply`, through Envoy's
/// `sendLocalReply`: a gRPC request gets a gRPC-shaped answer, as from Envoy's own filters.
pub fn send_local_reply(reply: LocalReply<'_>) -> Result<(), Status> {
    let grpc_status = reply.grpc_status.map_or(NO_GRPC_STATUS, i32::from);
    // SAFETY: every pointer/length pair describes a live, immutable buffer for the whole call;
    // the host copies what it needs before returning.
    let status = unsafe {
        proxy_send_local_response(
            reply.status,
            reply.details.as_ptr(),
            reply.details.len(),
            reply.body.as_ptr(),
            reply.body.len(),
            NO_HEADERS.as_ptr(),
            NO_HEADERS.len(),
            grpc_status,
        )
    };
    match status {
        Status::Ok => Ok(()),
        other => Err(other),
    }
}
