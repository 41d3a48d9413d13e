//! Whether header operations apply to the request or to the response.

/// Which headers operations apply to; it decides which names and operators are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Operations on the request, before it goes upstream.
    Request,
    /// Operations on the response, before it goes downstream.
    Response,
}
