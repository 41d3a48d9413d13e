//! Fixed stream attributes and responses for the unit tests.

use std::borrow::Cow;

use crate::request::HeaderList;
use crate::stream::RequestView;

use super::template::TemplateInput;
use crate::stream::{ResponseView, StreamAttributes};

/// Attributes as Envoy would report them for one request from 10.1.2.3:45678.
pub struct FixedAttributes;

impl StreamAttributes for FixedAttributes {
    fn downstream_remote_address(&self) -> Option<String> {
        Some("10.1.2.3:45678".to_owned())
    }
    fn route_name(&self) -> Option<String> {
        Some("reviews.v2".to_owned())
    }
    fn upstream_cluster(&self) -> Option<String> {
        Some("outbound|9080|v2|reviews.default.svc.cluster.local".to_owned())
    }
    fn start_time_unix_nanos(&self) -> Option<i64> {
        Some(1_709_251_199_999_000_000)
    }
}

pub use crate::stream::NoAttributes;

/// A response: its status and headers.
pub struct FixedResponse {
    pub status: u16,
    pub headers: HeaderList,
}

impl FixedResponse {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: HeaderList::default(),
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers = self.headers.with(name, value);
        self
    }
}

impl ResponseView for FixedResponse {
    fn status(&self) -> Option<u16> {
        Some(self.status)
    }
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.headers.first_header_value(name)
    }
}

/// The input of a request-phase template.
pub fn request_input<'a>(
    request: &'a HeaderList,
    attributes: &'a dyn StreamAttributes,
) -> TemplateInput<'a, HeaderList> {
    TemplateInput {
        request,
        response: None,
        attributes,
    }
}
