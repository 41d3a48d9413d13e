//! Route candidates by path, so that selecting a route does not test every route: exact
//! paths in hash maps, prefixes in byte tries, regexes in a [`RegexIndex`]. Candidates come
//! back in first-match order; the caller then tests their remaining conditions.

use std::collections::HashMap;

use crate::request_match::RequestMatch;
use crate::string_match::StringMatch;

use super::candidate::{Candidate, WHOLE_ROUTE};
use super::regex_index::RegexIndex;

#[derive(Debug, Clone, Default)]
pub struct PathIndex {
    /// Blocks with no `uri` condition: candidates for every path.
    always: Vec<Candidate>,
    exact: HashMap<Box<str>, Vec<Candidate>>,
    /// Keyed by the lowercased path (`ignoreUriCase`).
    exact_ignore_case: HashMap<Box<str>, Vec<Candidate>>,
    prefixes: Trie,
    prefixes_ignore_case: Trie,
    regexes: RegexIndex,
}

impl PathIndex {
    /// Indexes the match blocks of a virtual host's routes, one slice per route in the
    /// virtual host's order; an empty slice is a route that matches everything.
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a [RequestMatch]>) -> Self {
        let mut index = Self::default();
        let mut regex_blocks = Vec::new();
        for (position, matches) in routes.into_iter().enumerate() {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            if matches.is_empty() {
                index.always.push(Candidate::new(position, WHOLE_ROUTE));
            }
            for (block, request_match) in matches.iter().enumerate() {
                let candidate = Candidate::new(position, u32::try_from(block).unwrap_or(u32::MAX));
                match request_match.uri() {
                    Some(StringMatch::Exact {
                        value,
                        ignore_case: false,
                    }) => index
                        .exact
                        .entry(value.as_str().into())
                        .or_default()
                        .push(candidate),
                    Some(StringMatch::Exact {
                        value,
                        ignore_case: true,
                    }) => index
                        .exact_ignore_case
                        .entry(value.to_ascii_lowercase().into())
                        .or_default()
                        .push(candidate),
                    Some(StringMatch::Prefix {
                        value,
                        ignore_case: false,
                    }) => index.prefixes.insert(value.as_bytes(), candidate),
                    Some(StringMatch::Prefix {
                        value,
                        ignore_case: true,
                    }) => index
                        .prefixes_ignore_case
                        .insert(value.to_ascii_lowercase().as_bytes(), candidate),
                    Some(StringMatch::Regex(regex)) => regex_blocks.push((candidate, regex)),
                    Some(StringMatch::Present) | None => index.always.push(candidate),
                }
            }
        }
        let (regexes, mut unindexed) = RegexIndex::new(&regex_blocks);
        index.regexes = regexes;
        index.always.append(&mut unindexed);
        index
    }

    /// The candidate blocks for `path` (the whole `:path`), in first-match order.
    pub fn candidates(&self, path: &str, out: &mut Vec<Candidate>) {
        out.clear();
        out.extend_from_slice(&self.always);
        let without_query = path.split_once('?').map_or(path, |(before, _)| before);
        if let Some(found) = self.exact.get(without_query) {
            out.extend_from_slice(found);
        }
        if !self.exact_ignore_case.is_empty() {
            let lowered = without_query.to_ascii_lowercase();
            if let Some(found) = self.exact_ignore_case.get(lowered.as_str()) {
                out.extend_from_slice(found);
            }
        }
        self.prefixes.collect_prefixes_of(path.bytes(), out);
        if !self.prefixes_ignore_case.is_empty() {
            self.prefixes_ignore_case
                .collect_prefixes_of(path.bytes().map(|byte| byte.to_ascii_lowercase()), out);
        }
        self.regexes.candidates(without_query, out);
        out.sort_unstable();
        out.dedup();
    }
}

/// A byte trie whose nodes hold the candidates of the prefixes ending there.
#[derive(Debug, Clone, Default)]
struct Trie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    candidates: Vec<Candidate>,
}

impl Trie {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn insert(&mut self, key: &[u8], candidate: Candidate) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut node = 0usize;
        for &byte in key {
            let next_free = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
            let Some(current) = self.nodes.get_mut(node) else {
                return;
            };
            node = match current.children.binary_search_by_key(&byte, |&(b, _)| b) {
                Ok(found) => current
                    .children
                    .get(found)
                    .map_or(0, |&(_, child)| child as usize),
                Err(insert_at) => {
                    current.children.insert(insert_at, (byte, next_free));
                    self.nodes.push(TrieNode::default());
                    next_free as usize
                }
            };
        }
        if let Some(end) = self.nodes.get_mut(node) {
            end.candidates.push(candidate);
        }
    }

    /// Adds the candidates of every inserted key that is a prefix of `path`.
    fn collect_prefixes_of(&self, path: impl Iterator<Item = u8>, out: &mut Vec<Candidate>) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        out.extend_from_slice(&node.candidates);
        for byte in path {
            let Ok(found) = node.children.binary_search_by_key(&byte, |&(b, _)| b) else {
                return;
            };
            let Some(next) = node
                .children
                .get(found)
                .and_then(|&(_, child)| self.nodes.get(child as usize))
            else {
                return;
            };
            node = next;
            out.extend_from_slice(&node.candidates);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn the_trie_finds_every_prefix_of_a_path() {
        let mut trie = Trie::default();
        let candidate = |position| Candidate::new(position, 0);
        trie.insert(b"/", candidate(0));
        trie.insert(b"/api", candidate(1));
        trie.insert(b"/api/v1", candidate(2));
        trie.insert(b"/apx", candidate(3));
        trie.insert(b"", candidate(4));
        let mut found = Vec::new();
        trie.collect_prefixes_of(b"/api/v1/users".iter().copied(), &mut found);
        found.sort_unstable();
        assert_eq!(
            found,
            [candidate(0), candidate(1), candidate(2), candidate(4)]
        );
        found.clear();
        trie.collect_prefixes_of(b"/ap".iter().copied(), &mut found);
        found.sort_unstable();
        assert_eq!(found, [candidate(0), candidate(4)]);
    }
}
