//! The engine's [`RequestView`] over the current stream's request headers.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};

use engine::stream::{first_value, joined_value, values};
use engine::RequestView;
use proxy_wasm::types::MapType;

use crate::abi;
use crate::properties::get_bytes;

/// Where a [`RequestHeaders`] view gets the request from: Envoy's host calls
/// ([`EnvoyRequest`]), or memory in the tests ([`crate::FakeHost`], which records each call).
/// Every method is one host call.
pub trait RequestSource {
    /// Every request header, in order (one `get_header_map_pairs`).
    fn all(&self) -> Vec<(String, String)>;
    /// The first value of `name` (one `get_header_map_value`: Envoy answers the first value).
    fn first(&self, name: &str) -> Option<String>;
    /// The raw bytes of the attribute at `path` (one `get_property`).
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
}

/// The request of the stream Envoy is calling into, through host calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvoyRequest;

impl RequestSource for EnvoyRequest {
    fn all(&self) -> Vec<(String, String)> {
        crate::HeaderMap::request().all()
    }

    fn first(&self, name: &str) -> Option<String> {
        abi::get_map_value(MapType::HttpRequestHeaders, name)
            .ok()
            .flatten()
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        get_bytes(path)
    }
}

/// How many lookups a sparse view ([`RequestHeaders::sparse`]) answers one host call each
/// before it reads the whole map instead. Counted with callgrind in `make bench` (*Instructions
/// per request*): one `get_header_map_value` costs Envoy about 4 k instructions, reading the
/// whole map of the benchmark's short request about 22 k (more for a browser's request, with
/// cookies), so a handful of single lookups is cheaper than one map read, and a view that turns
/// out to need many stops paying for them early.
pub(crate) const SPARSE_LOOKUPS: u8 = 4;

/// Request headers read through host calls, for the stream the host is currently calling into.
/// Values are decoded losslessly ([`engine::raw_text`]): bytes that are not UTF-8 arrive as byte
/// escapes, never as a panic.
///
/// Other headers may repeat, and Envoy's single-value call returns only the first, so they are
/// read once, all together, on first use. Pseudo-headers are single-valued: they come from that
/// one read when it has happened (Envoy's map holds them too), else each by its own host call
/// the first time it is asked for, which is cheaper than reading the whole map for one value;
/// either way a pseudo-header asked again costs no call (the router asks for `:path` several
/// times per request).
///
/// A sparse view ([`RequestHeaders::sparse`]), for a module that reads a few headers, answers
/// its first lookups one host call each where one value tells: the first value is Envoy's
/// single value, and a header Envoy does not have is absent, whatever else repeats.
pub struct RequestHeaders<S: RequestSource = EnvoyRequest> {
    source: S,
    all: OnceCell<Vec<(String, String)>>,
    /// Lookups still answered one by one before the whole map is read.
    single_lookups: Cell<u8>,
    /// What the single lookups answered, so a name asked again (two rules matching one
    /// header) costs no second call.
    singles: RefCell<Vec<(String, Option<String>)>>,
}

impl Default for RequestHeaders {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestHeaders {
    /// A view that reads the whole map on the first lookup of a header that may repeat (for
    /// a module that reads many, as the router does).
    pub fn new() -> Self {
        Self::over(EnvoyRequest, 0)
    }

    /// A view for a module that reads few headers: see [`RequestHeaders`].
    pub fn sparse() -> Self {
        Self::over(EnvoyRequest, SPARSE_LOOKUPS)
    }

    /// The request's headers as already read in full, so they are not fetched again.
    pub fn from_all(all: Vec<(String, String)>) -> Self {
        let view = Self::new();
        let _ = view.all.set(all);
        view
    }
}

impl<S: RequestSource> RequestHeaders<S> {
    /// A view over `source` that answers up to `single_lookups` lookups one host call each.
    pub fn over(source: S, single_lookups: u8) -> Self {
        Self {
            source,
            all: OnceCell::new(),
            single_lookups: Cell::new(single_lookups),
            singles: RefCell::new(Vec::new()),
        }
    }

    /// Every request header, read once on first use.
    pub fn all(&self) -> &[(String, String)] {
        self.all.get_or_init(|| self.source.all())
    }

    /// The first value of `name` by one host call while the view still answers lookups one
    /// by one and has not read the map; `None` when the map is the cheaper answer.
    fn single(&self, name: &str) -> Option<Option<String>> {
        if self.all.get().is_some() {
            return None;
        }
        if let Some(known) = self.known(name) {
            return Some(known);
        }
        let left = self.single_lookups.get();
        if left == 0 {
            return None;
        }
        self.single_lookups.set(left - 1);
        Some(self.look_up(name))
    }

    /// A pseudo-header: from the map once it has been read, else by one host call the first
    /// time it is asked for (whatever the view's budget: it is single-valued, and the map
    /// costs more than a few of them).
    fn pseudo(&self, name: &str) -> Option<Cow<'_, str>> {
        if let Some(all) = self.all.get() {
            return first_value(all, name);
        }
        self.known(name)
            .unwrap_or_else(|| self.look_up(name))
            .map(Cow::Owned)
    }

    /// What an earlier single lookup of `name` answered.
    fn known(&self, name: &str) -> Option<Option<String>> {
        self.singles
            .borrow()
            .iter()
            .find(|(asked, _)| asked == name)
            .map(|(_, known)| known.clone())
    }

    /// One single-value host call, remembered so that `name` asked again costs nothing.
    fn look_up(&self, name: &str) -> Option<String> {
        let first = self.source.first(name);
        self.singles
            .borrow_mut()
            .push((name.to_owned(), first.clone()));
        first
    }
}

impl<S: RequestSource> RequestView for RequestHeaders<S> {
    fn destination_port(&self) -> Option<u16> {
        // Envoy encodes integer attributes as 8 little-endian bytes.
        let raw: [u8; 8] = self
            .source
            .property(&["destination", "port"])?
            .try_into()
            .ok()?;
        u16::try_from(i64::from_le_bytes(raw)).ok()
    }

    fn downstream_tls(&self) -> bool {
        // Envoy's `connection.tls_version` attribute is empty on plaintext connections.
        self.source
            .property(&["connection", "tls_version"])
            .is_some_and(|version| !version.is_empty())
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        if name.starts_with(':') {
            return self.pseudo(name);
        }
        // Absent needs no map; present, it may repeat, and only the map has every value.
        if let Some(None) = self.single(name) {
            return None;
        }
        joined_value(self.all(), name)
    }

    fn first_header_value(&self, name: &str) -> Option<Cow<'_, str>> {
        if name.starts_with(':') {
            return self.header(name);
        }
        if let Some(first) = self.single(name) {
            return first.map(Cow::Owned);
        }
        first_value(self.all(), name)
    }

    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        if name.starts_with(':') {
            return self.header(name).into_iter().collect();
        }
        if let Some(None) = self.single(name) {
            return Vec::new();
        }
        values(self.all(), name)
    }
}

#[cfg(test)]
mod tests {
    // Tests stop at the first surprise.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use engine::request::HeaderList;
    use engine::RequestView;

    use crate::{FakeHost, HeaderMapKind, HostCall, StreamHost};

    fn host() -> FakeHost {
        FakeHost::new(
            HeaderList::get("shop", "/")
                .with("x-tag", "a")
                .with("x-tag", "b")
                .with("x-user", "alice"),
        )
    }

    fn one(name: &str) -> HostCall {
        HostCall::ReadHeader(HeaderMapKind::Request, name.to_owned())
    }

    const MAP: HostCall = HostCall::ReadHeaderMap(HeaderMapKind::Request);

    /// The fault module's case: a header its rules match on, absent from the request, costs
    /// one single-value call, not a read of the whole map.
    #[test]
    fn a_sparse_view_answers_an_absent_header_with_one_lookup() {
        let mut host = host();
        let request = host.sparse_request();
        assert_eq!(request.header("x-fault"), None);
        // Asked again (a second rule on the same header): answered from the first lookup.
        assert!(request.header_values("x-fault").is_empty());
        assert_eq!(host.take_calls(), [one("x-fault")]);
    }

    #[test]
    fn a_sparse_view_reads_a_first_value_alone_and_a_present_header_from_the_map() {
        let mut host = host();
        let request = host.sparse_request();
        assert_eq!(request.first_header_value("x-tag").as_deref(), Some("a"));
        // Present: only the map has every value of it.
        assert_eq!(request.header("x-tag").as_deref(), Some("a,b"));
        assert_eq!(request.header("x-user").as_deref(), Some("alice"));
        assert_eq!(host.take_calls(), [one("x-tag"), MAP]);
    }

    #[test]
    fn a_sparse_view_that_needs_many_headers_reads_the_map_after_a_few_lookups() {
        let mut host = host();
        let request = host.sparse_request();
        for name in ["x-a", "x-b", "x-c", "x-d", "x-e", "x-f"] {
            assert_eq!(request.header(name), None);
        }
        assert_eq!(
            host.take_calls(),
            [one("x-a"), one("x-b"), one("x-c"), one("x-d"), MAP]
        );
    }

    /// The router's case: it asks for `:path` at every step of its matching; each
    /// pseudo-header costs one call, whatever the view's budget, and none after.
    #[test]
    fn a_sparse_view_looks_up_each_pseudo_header_once() {
        let mut host = host();
        let request = host.sparse_request();
        for _ in 0..6 {
            assert_eq!(request.header(":path").as_deref(), Some("/"));
        }
        assert_eq!(request.header(":authority").as_deref(), Some("shop"));
        assert_eq!(request.header("x-user").as_deref(), Some("alice"));
        assert_eq!(request.header(":path").as_deref(), Some("/"));
        assert_eq!(
            host.take_calls(),
            [one(":path"), one(":authority"), one("x-user"), MAP]
        );
    }

    /// A module that reads many headers: the map at once.
    #[test]
    fn a_dense_view_reads_the_map_once_and_pseudo_headers_from_it_after() {
        let mut host = host();
        let request = host.request();
        assert_eq!(request.header(":path").as_deref(), Some("/"));
        assert_eq!(request.header("x-fault"), None);
        assert_eq!(
            request.first_header_value("x-user").as_deref(),
            Some("alice")
        );
        assert_eq!(request.header(":authority").as_deref(), Some("shop"));
        assert_eq!(host.take_calls(), [one(":path"), MAP]);
    }
}
