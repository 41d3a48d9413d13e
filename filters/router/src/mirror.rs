//! Mirroring: a copy of the request, body included, sent to each mirror cluster once the
//! client has sent it all. The calls belong to the root context, so they outlive the stream,
//! and their answers are ignored; the request itself never waits for them.
//!
//! The copy of the body is held in the VM until the request ends, so it is bounded: past
//! `mirrorMaxBodyBytes` the copy is dropped and the request is not mirrored.

use std::time::Duration;

use engine::router::{shadow_authority, AUTHORITY_HEADER, ROUTE_CONTRACT_HEADERS};
use host::{HttpCallMessage, NotSent, VmHost};

use crate::stats::MirrorStats;

/// A request copy being collected while the request streams through.
pub struct PendingMirror {
    clusters: Vec<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    max_body_bytes: u64,
    /// Set once the body outgrew `max_body_bytes`: nothing more is collected or sent.
    too_large: bool,
    timeout: Duration,
}

impl PendingMirror {
    /// Starts a copy of a request whose (already rewritten) headers are `headers`.
    pub fn new(
        clusters: Vec<String>,
        headers: Vec<(String, String)>,
        timeout: Duration,
        max_body_bytes: u64,
    ) -> Self {
        // A rewritten authority is still in the contract's header: the copy goes to its shadow.
        let rewritten = headers
            .iter()
            .find(|(name, _)| name == AUTHORITY_HEADER)
            .map(|(_, value)| value.clone());
        let headers = headers
            .into_iter()
            // The contract's headers are for Envoy's route, not for the shadow upstream.
            .filter(|(name, _)| !ROUTE_CONTRACT_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                if name == ":authority" {
                    let shadow = shadow_authority(rewritten.as_deref().unwrap_or(&value));
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
            max_body_bytes,
            too_large: false,
            timeout,
        }
    }

    /// Whether the mirror still wants the body (it has not outgrown the limit).
    pub fn wants_body(&self) -> bool {
        !self.too_large
    }

    /// Adds a chunk of the body, or gives the copy up once it would pass the limit.
    pub fn add_body(&mut self, chunk: &[u8]) {
        if self.too_large {
            return;
        }
        let size = u64::try_from(self.body.len() + chunk.len()).unwrap_or(u64::MAX);
        if size > self.max_body_bytes {
            self.too_large = true;
            self.body = Vec::new();
            return;
        }
        self.body.extend_from_slice(chunk);
    }

    /// Sends the copies from the root context `root_id`, then hands the stream `stream_id`
    /// back its host calls.
    pub fn send(
        self,
        vm: &impl VmHost,
        root_id: u32,
        stream_id: u32,
        trailers: &[(String, String)],
        stats: &MirrorStats,
    ) {
        if self.too_large {
            MirrorStats::add(vm, stats.skipped_body_too_large, 1);
            log::debug!(
                "router: mirror skipped, body over {} bytes",
                self.max_body_bytes
            );
            return;
        }
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let trailers: Vec<(&str, &str)> = trailers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let message = HttpCallMessage {
            headers: &headers,
            body: (!self.body.is_empty()).then_some(self.body.as_slice()),
            trailers: &trailers,
            timeout: self.timeout,
        };
        let clusters: Vec<&str> = self.clusters.iter().map(String::as_str).collect();
        match vm.dispatch_as_root(root_id, stream_id, &clusters, &message) {
            Ok(sent) => MirrorStats::add(vm, stats.sent, sent),
            Err(NotSent::Unencodable) => {
                MirrorStats::add(vm, stats.skipped_unencodable, 1);
                log::debug!("router: mirror skipped, a header is not UTF-8");
            }
            Err(NotSent::NoRootContext(status)) => {
                log::warn!("router: mirror skipped, root context unavailable: {status:?}");
            }
        }
    }
}
