//! The engine's [`ResponseView`] over the current stream's response headers.

use std::borrow::Cow;
use std::cell::OnceCell;

use engine::headers::ResponseView;

use engine::stream::first_value;

/// Response headers read through host calls, all at once on first use.
#[derive(Default)]
pub struct ResponseHeaders {
    all: OnceCell<Vec<(String, String)>>,
}

impl ResponseHeaders {
    pub fn new() -> Self {
        Self::default()
    }

    fn all(&self) -> &[(String, String)] {
        self.all.get_or_init(|| crate::HeaderMap::response().all())
    }
}

impl ResponseView for ResponseHeaders {
    fn status(&self) -> Option<u16> {
        self.header(":status")?.parse().ok()
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        first_value(self.all(), name)
    }
}
