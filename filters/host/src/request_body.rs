//! The current stream's request body and trailers, as the host hands them to a callback.

use proxy_wasm::types::{BufferType, MapType};

use crate::abi;

/// The first `size` bytes of the request body buffered so far (this callback's chunk).
pub fn request_body(size: usize) -> Option<Vec<u8>> {
    abi::get_buffer(BufferType::HttpRequestBody, 0, size)
        .map_err(|status| log::warn!("cannot read the request body: {status:?}"))
        .ok()
        .flatten()
}

/// The request's trailers, decoded losslessly ([`engine::raw_text`]).
pub fn request_trailers() -> Vec<(String, String)> {
    abi::get_map(MapType::HttpRequestTrailers).unwrap_or_else(|status| {
        log::warn!("cannot read the request trailers: {status:?}");
        Vec::new()
    })
}
