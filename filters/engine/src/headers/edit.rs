//! Header edits: what operations decide, separated from how a host applies them.

use crate::stream::HeaderMutator;

/// One change to a header map, already rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    /// Replace every value of `name` with `value` (or add it).
    Set {
        /// The header's name.
        name: String,
        /// Its one value.
        value: String,
    },
    /// Append one more value of `name`.
    Add {
        /// The header's name.
        name: String,
        /// The value appended.
        value: String,
    },
    /// Delete every value of `name`.
    Remove(String),
    /// Delete every header whose name starts with the prefix.
    RemovePrefix(String),
}

/// Applies `edits` in order.
pub fn apply(edits: &[HeaderEdit], target: &mut impl HeaderMutator) {
    for edit in edits {
        match edit {
            HeaderEdit::Set { name, value } => target.set_header(name, value),
            HeaderEdit::Add { name, value } => target.add_header(name, value),
            HeaderEdit::Remove(name) => target.remove_header(name),
            HeaderEdit::RemovePrefix(prefix) => {
                let mut names = target.header_names();
                names.retain(|name| name.starts_with(prefix.as_str()));
                names.dedup();
                for name in names {
                    target.remove_header(&name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;
    use crate::stream::RequestView;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn edits_apply_in_order() {
        let mut headers = HeaderList::get("a", "/")
            .with("x-multi", "1")
            .with("x-multi", "2")
            .with("x-internal-a", "secret")
            .with("x-other", "o")
            .with("x-internal-b", "secret");
        let edits = [
            HeaderEdit::Set {
                name: "x-multi".into(),
                value: "only".into(),
            },
            HeaderEdit::Add {
                name: "x-other".into(),
                value: "p".into(),
            },
            HeaderEdit::RemovePrefix("x-internal-".into()),
            HeaderEdit::Remove("x-missing".into()),
        ];
        apply(&edits, &mut headers);
        assert_eq!(headers.header("x-multi").as_deref(), Some("only"));
        assert_eq!(headers.header("x-other").as_deref(), Some("o,p"));
        assert_eq!(headers.header("x-internal-a"), None);
        assert_eq!(headers.header("x-internal-b"), None);
        assert_eq!(headers.header(":path").as_deref(), Some("/"));
    }
}
