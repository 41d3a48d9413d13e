//! One shared copy of each string that many compiled routes repeat (the VirtualService a
//! route came from, its clusters): a 10,000-route table would otherwise hold 10,000 copies.

use std::collections::HashSet;
use std::sync::Arc;

/// Hands out one `Arc<str>` per distinct string.
#[derive(Debug, Default)]
pub struct Interner {
    known: HashSet<Arc<str>>,
}

impl Interner {
    /// The shared copy of `value`, made on first use.
    pub fn intern(&mut self, value: &str) -> Arc<str> {
        if let Some(known) = self.known.get(value) {
            return Arc::clone(known);
        }
        let shared: Arc<str> = Arc::from(value);
        self.known.insert(Arc::clone(&shared));
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn equal_strings_share_one_copy() {
        let mut interner = Interner::default();
        let first = interner.intern("default/reviews");
        let second = interner.intern(&String::from("default/reviews"));
        let other = interner.intern("default/ratings");
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(&*other, "default/ratings");
    }
}
