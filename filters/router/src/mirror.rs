//! Mirroring: a copy of the request, body included, sent to each mirror cluster once the
//! client has sent it all. The calls belong to the root context, so they outlive the stream,
//! and their answers are ignored; the request itself never waits for them.

use std::time::Duration;

use engine::router::{shadow_authority, CLUSTER_HEADER};
use proxy_wasm::hostcalls;

/// A request copy being collected while the request streams through.
pub struct PendingMirror {
    clusters: Vec<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

impl PendingMirror {
    /// Starts a copy of a request whose (already rewritten) headers are `headers`.
    pub fn new(clusters: Vec<String>, headers: Vec<(String, String)>, timeout: Duration) -> Self {
        let headers = headers
            .into_iter()
            .filter(|(name, _)| name != CLUSTER_HEADER)
            .map(|(name, value)| {
                if name == ":authority" {
                    let shadow = shadow_authority(&value);
                    (name, shadow)
                } else {
                    (name, value)
                }
            })
            .collect();
        Self {
            clusters,
            headers,
            body: Vec::new(),
            timeout,
        }
    }

    pub fn add_body(&mut self, chunk: &[u8]) {
        self.body.extend_from_slice(chunk);
    }

    /// Sends the copies from the root context `root_id`, then hands the stream `stream_id`
    /// back its host calls.
    pub fn send(self, root_id: u32, stream_id: u32, trailers: &[(String, String)]) {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let trailers: Vec<(&str, &str)> = trailers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let body = (!self.body.is_empty()).then_some(self.body.as_slice());
        if let Err(status) = hostcalls::set_effective_context(root_id) {
            log::warn!("router: mirror skipped, root context unavailable: {status:?}");
            return;
        }
        for cluster in &self.clusters {
            let sent = hostcalls::dispatch_http_call(
                cluster,
                headers.clone(),
                body,
                trailers.clone(),
                self.timeout,
            );
            if let Err(status) = sent {
                log::warn!("router: mirror to {cluster} failed: {status:?}");
            }
        }
        if let Err(status) = hostcalls::set_effective_context(stream_id) {
            log::warn!("router: cannot return to stream {stream_id}: {status:?}");
        }
    }
}
