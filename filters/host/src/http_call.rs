//! HTTP calls made from a module's root context (the router's mirrors): they outlive the
//! stream that asked for them, and their answers come to the root, which ignores them.
//!
//! This is the one host call still made through the SDK (`proxy_wasm::hostcalls::
//! dispatch_http_call`): its dispatcher must know every call's token, or the answer's callback
//! panics. Its wrapper panics only on a status Envoy never returns for a call (Envoy answers Ok,
//! BadArgument or InternalFailure). It takes headers as `&str`, so a message holding bytes that
//! are not UTF-8 (byte escapes, see [`engine::raw_text`]) cannot be sent byte-exact, and is not
//! sent at all rather than altered.

use std::time::Duration;

use engine::raw_text;
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

use crate::abi;

/// A request to send: headers (with pseudo-headers), optional body, trailers.
#[derive(Debug, Clone, Copy)]
pub struct HttpCallMessage<'a> {
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a [u8]>,
    pub trailers: &'a [(&'a str, &'a str)],
    pub timeout: Duration,
}

/// Why a call was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// A header or trailer holds bytes that are not UTF-8.
    Unencodable,
    /// The root context could not be entered.
    NoRootContext(Status),
}

impl HttpCallMessage<'_> {
    /// Whether every header and trailer can go out byte-exact.
    pub fn is_encodable(&self) -> bool {
        self.headers
            .iter()
            .chain(self.trailers)
            .all(|(name, value)| raw_text::is_plain(name) && raw_text::is_plain(value))
    }
}

/// Sends `message` to each cluster as the root context `root_id`, then makes the stream
/// `stream_id` current again. Returns how many calls the host accepted; each refusal is logged.
pub fn dispatch_as_root(
    root_id: u32,
    stream_id: u32,
    clusters: &[&str],
    message: &HttpCallMessage<'_>,
) -> Result<usize, NotSent> {
    if !message.is_encodable() {
        return Err(NotSent::Unencodable);
    }
    abi::set_effective_context(root_id).map_err(NotSent::NoRootContext)?;
    let mut sent = 0;
    for cluster in clusters {
        match hostcalls::dispatch_http_call(
            cluster,
            message.headers.to_vec(),
            message.body,
            message.trailers.to_vec(),
            message.timeout,
        ) {
            Ok(_token) => sent += 1,
            Err(status) => log::warn!("http call to {cluster} refused: {status:?}"),
        }
    }
    if let Err(status) = abi::set_effective_context(stream_id) {
        log::warn!("cannot return to stream {stream_id}: {status:?}");
    }
    Ok(sent)
}
