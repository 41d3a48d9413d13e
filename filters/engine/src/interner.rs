//! One shared copy of each value that many compiled routes repeat (the VirtualService a route
//! came from, its clusters, its retry headers): a 10,000-route table would otherwise hold
//! 10,000 copies of each.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

/// Hands out one `Arc<T>` per distinct value: `Interner<str>`, `Interner<[T]>`.
#[derive(Debug)]
pub struct Interner<T: ?Sized> {
    known: HashSet<Arc<T>>,
}

impl<T: ?Sized> Default for Interner<T> {
    fn default() -> Self {
        Self {
            known: HashSet::new(),
        }
    }
}

impl<T: ?Sized + Eq + Hash> Interner<T>
where
    for<'a> Arc<T>: From<&'a T>,
{
    /// The shared copy of `value`, made on first use.
    pub fn intern(&mut self, value: &T) -> Arc<T> {
        if let Some(known) = self.known.get(value) {
            return Arc::clone(known);
        }
        let shared: Arc<T> = Arc::from(value);
        self.known.insert(Arc::clone(&shared));
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn equal_values_share_one_copy() {
        let mut names = Interner::<str>::default();
        let first = names.intern("default/reviews");
        let second = names.intern(&String::from("default/reviews"));
        let other = names.intern("default/ratings");
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(&*other, "default/ratings");

        let mut lists = Interner::<[(&'static str, String)]>::default();
        let one = lists.intern(&[("x-envoy-max-retries", "2".to_owned())]);
        let same = lists.intern(&[("x-envoy-max-retries", "2".to_owned())]);
        assert!(Arc::ptr_eq(&one, &same));
    }
}
