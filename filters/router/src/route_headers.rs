//! Applying VirtualService `headers`: request operations at once, response operations when
//! the response comes, with the request headers their templates read saved beforehand (Envoy
//! hides the request headers from a wasm filter once they have gone upstream).

use engine::headers::{apply, HeaderOperations, TemplateInput};
use engine::request::HeaderList;
use engine::router::RouteHeaders;
use engine::RequestView;
use host::{HeaderMapKind, StreamHost};

/// Applies the request operations of `headers`, in order, to the current request.
pub fn apply_request_operations(
    host: &mut impl StreamHost,
    headers: &[&RouteHeaders; 2],
    request: &impl RequestView,
) {
    let attributes = host.attributes();
    let input = TemplateInput {
        request,
        response: None,
        attributes: &attributes,
    };
    let mut edits = Vec::new();
    for route_headers in headers {
        route_headers.request.edits(&input, &mut edits);
    }
    if !edits.is_empty() {
        apply(&edits, &mut host.header_map(HeaderMapKind::Request));
    }
}

/// Response operations waiting for the response.
pub struct PendingResponseEdits {
    operations: Vec<HeaderOperations>,
    request: HeaderList,
}

impl PendingResponseEdits {
    /// `None` when `headers` change nothing on the response.
    pub fn new(headers: &[&RouteHeaders], request: &impl RequestView) -> Option<Self> {
        let operations: Vec<HeaderOperations> = headers
            .iter()
            .map(|route_headers| route_headers.response.clone())
            .filter(|operations| !operations.is_empty())
            .collect();
        if operations.is_empty() {
            return None;
        }
        let mut saved = HeaderList::default();
        for name in operations
            .iter()
            .flat_map(HeaderOperations::request_headers_read)
        {
            if let Some(value) = request.header(name) {
                saved = saved.with(name, &value);
            }
        }
        Some(Self {
            operations,
            request: saved,
        })
    }

    /// Applies the operations to the current response.
    pub fn apply(&self, host: &mut impl StreamHost) {
        let response = host.response();
        let attributes = host.attributes();
        let input = TemplateInput {
            request: &self.request,
            response: Some(&response),
            attributes: &attributes,
        };
        let mut edits = Vec::new();
        for operations in &self.operations {
            operations.edits(&input, &mut edits);
        }
        apply(&edits, &mut host.header_map(HeaderMapKind::Response));
    }
}
