//! A route candidate: which match block of a virtual host the path and regex indexes propose,
//! in the order first-match selection tests them.

/// A match block of a virtual host, ordered as first-match order tests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// The route's position in the virtual host.
    pub position: u32,
    /// The block's index in the route; [`WHOLE_ROUTE`] for a route without blocks, which
    /// matches everything.
    pub block: u32,
    /// Whether the index already established that the block's `uri` matches the path.
    pub uri_decided: bool,
}

/// The [`Candidate::block`] of a route without blocks.
pub const WHOLE_ROUTE: u32 = u32::MAX;

impl Candidate {
    pub(super) fn new(position: u32, block: u32) -> Self {
        Self {
            position,
            block,
            uri_decided: false,
        }
    }
}
