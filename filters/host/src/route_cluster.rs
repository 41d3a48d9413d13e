//! The upstream cluster of the current request's route, as a filter sees it while request
//! headers are decoded.

use engine::headers::StreamAttributes;
use engine::router::CLUSTER_HEADER;
use engine::RequestView;

/// The cluster the request will be routed to: the router module's choice when it made one
/// (Envoy's route reads it with `cluster_header`, and Envoy re-resolves the route only when the
/// router filter asks, so `xds.cluster_name` would still show the route before that choice),
/// otherwise the cluster of the route Envoy resolved (`attributes`). The top-level
/// `cluster_name` property is not set yet at this point of the request.
pub fn route_cluster(
    request: &impl RequestView,
    attributes: &impl StreamAttributes,
) -> Option<String> {
    if let Some(chosen) = request.header(CLUSTER_HEADER) {
        return Some(chosen.into_owned());
    }
    attributes.upstream_cluster()
}
