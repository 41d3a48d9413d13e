//! The contract between the engine and a host: what the engine reads of a stream (the request,
//! the response, Envoy's attributes) and how its header edits are written back. The proxy-wasm
//! shell (`filters/host`) implements these traits over host calls; tests, benchmarks and tools
//! implement them over memory (`request::HeaderList`).

use std::borrow::Cow;

/// A read-only view of an HTTP request's headers.
pub trait RequestView {
    /// The value of header `name` (lowercase), or of a pseudo-header (`:path`, `:authority`,
    /// `:method`, `:scheme`); several values of one header come joined by `,`, as Envoy joins them.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;

    /// The first value of header `name`, as Envoy's `%REQ(...)%` formatter reads it. The
    /// default suits views that hold one value per header; views of repeated headers override it.
    fn first_header_value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.header(name)
    }

    /// Every value of header `name`, in order. Envoy's route header matchers test each value
    /// on its own (any may match); the default suits views holding one value per header.
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        self.header(name).into_iter().collect()
    }

    /// The local port the request arrived on (the gateway listener's port), if known.
    fn destination_port(&self) -> Option<u16> {
        None
    }

    /// Whether the request came over a TLS connection (an Istio gateway's HTTPS server).
    fn downstream_tls(&self) -> bool {
        false
    }
}

/// What a template may read of the response.
pub trait ResponseView {
    /// The `:status`, if the response has a valid one.
    fn status(&self) -> Option<u16>;
    /// The first value of header `name` (lowercase), as Envoy's `%RESP(...)%` reads it.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;
}

/// The stream attributes Envoy knows about a request, read by the host shell.
pub trait StreamAttributes {
    /// `source.address`: the client's `ip:port` (`[ip]:port` for IPv6).
    fn downstream_remote_address(&self) -> Option<String>;
    /// The name of the route Envoy selected.
    fn route_name(&self) -> Option<String>;
    /// The upstream cluster of the selected route.
    fn upstream_cluster(&self) -> Option<String>;
    /// `request.time`: when the first byte of the request arrived, in ns since the Unix epoch.
    fn start_time_unix_nanos(&self) -> Option<i64>;
}

/// A stream of which no attribute is known: before routing, or evaluated offline (`gateway
/// explain`); templates reading attributes render empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAttributes;

impl StreamAttributes for NoAttributes {
    fn downstream_remote_address(&self) -> Option<String> {
        None
    }
    fn route_name(&self) -> Option<String> {
        None
    }
    fn upstream_cluster(&self) -> Option<String> {
        None
    }
    fn start_time_unix_nanos(&self) -> Option<i64> {
        None
    }
}

/// A header map that edits can be applied to (request or response headers of a stream).
pub trait HeaderMutator {
    /// Every header name present, lowercase (repeats allowed).
    fn header_names(&self) -> Vec<String>;
    /// Replaces every value of `name` with `value`.
    fn set_header(&mut self, name: &str, value: &str);
    /// Appends a value of `name`.
    fn add_header(&mut self, name: &str, value: &str);
    /// Removes every value of `name`.
    fn remove_header(&mut self, name: &str);
}

/// A borrowed header map is one too, so a host can hand out `&mut` its own.
impl<T: HeaderMutator + ?Sized> HeaderMutator for &mut T {
    fn header_names(&self) -> Vec<String> {
        (**self).header_names()
    }

    fn set_header(&mut self, name: &str, value: &str) {
        (**self).set_header(name, value);
    }

    fn add_header(&mut self, name: &str, value: &str) {
        (**self).add_header(name, value);
    }

    fn remove_header(&mut self, name: &str) {
        (**self).remove_header(name);
    }
}

/// The first value of header `name` in `headers` (name, value pairs in order).
pub fn first_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<Cow<'a, str>> {
    headers
        .iter()
        .find(|(candidate, _)| candidate == name)
        .map(|(_, value)| Cow::Borrowed(value.as_str()))
}

/// Every value of header `name` in `headers`, in order.
pub fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<Cow<'a, str>> {
    headers
        .iter()
        .filter(|(candidate, _)| candidate == name)
        .map(|(_, value)| Cow::Borrowed(value.as_str()))
        .collect()
}

/// The values of header `name` in `headers` joined by `,`, as Envoy joins a repeated header for
/// a matcher; the one place values are joined, so every view joins them alike.
pub fn joined_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<Cow<'a, str>> {
    let mut found = headers
        .iter()
        .filter(|(candidate, _)| candidate == name)
        .map(|(_, value)| value.as_str());
    let first = found.next()?;
    let Some(second) = found.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut joined = format!("{first},{second}");
    for value in found {
        joined.push(',');
        joined.push_str(value);
    }
    Some(Cow::Owned(joined))
}
