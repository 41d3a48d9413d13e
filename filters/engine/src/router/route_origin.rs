//! Where a compiled route is in its VirtualService: the `http[i]` entry, and the `match[j]`
//! index of each compiled block (blocks bound to other gateways are dropped when compiled).

/// The spec position of a route and of its blocks, for explanations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RouteOrigin {
    http: u32,
    /// The spec index of each compiled block; `None` when none was dropped (the usual case,
    /// kept without storage as a large table holds many routes).
    blocks: Option<Box<[u32]>>,
}

impl RouteOrigin {
    /// `http[http]`, whose blocks `kept` (spec indices, ascending) of `total` were compiled.
    pub(super) fn new(http: usize, kept: &[usize], total: usize) -> Self {
        let index = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        let blocks =
            (kept.len() != total).then(|| kept.iter().map(|&block| index(block)).collect());
        Self {
            http: index(http),
            blocks,
        }
    }

    /// The route's `http` index in its VirtualService.
    pub(super) fn http_index(&self) -> usize {
        self.http as usize
    }

    /// The `match` index in the spec of compiled block `block`.
    pub(super) fn block_index(&self, block: usize) -> usize {
        self.blocks
            .as_ref()
            .and_then(|blocks| blocks.get(block))
            .map_or(block, |&index| index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn dropped_blocks_keep_the_spec_indices_of_the_others() {
        let all = RouteOrigin::new(3, &[0, 1], 2);
        assert_eq!((all.http_index(), all.block_index(1)), (3, 1));
        let some = RouteOrigin::new(0, &[1, 3], 4);
        assert_eq!((some.block_index(0), some.block_index(1)), (1, 3));
    }
}
