//! Which condition of a match block a request failed: what route explanations report.

use std::fmt;

/// The first condition of a block that does not hold, in the order matching tests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch<'a> {
    /// `uri` (or the request has no `:path`).
    Uri,
    /// `scheme`.
    Scheme,
    /// `method`.
    Method,
    /// `authority`.
    Authority,
    /// `port`: the request came in on another port.
    Port,
    /// `headers.<name>`: absent, or no value matches.
    Header(&'a str),
    /// `withoutHeaders.<name>`: a value matches (or the header is present, for `{}`).
    WithoutHeader(&'a str),
    /// `queryParams.<name>`: absent, or its first value does not match.
    QueryParam(&'a str),
}

impl fmt::Display for Mismatch<'_> {
    /// The condition's field below the block, as written in the VirtualService.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Uri => f.write_str("uri"),
            Mismatch::Scheme => f.write_str("scheme"),
            Mismatch::Method => f.write_str("method"),
            Mismatch::Authority => f.write_str("authority"),
            Mismatch::Port => f.write_str("port"),
            Mismatch::Header(name) => write!(f, "headers.{name}"),
            Mismatch::WithoutHeader(name) => write!(f, "withoutHeaders.{name}"),
            Mismatch::QueryParam(name) => write!(f, "queryParams.{name}"),
        }
    }
}
