//! Candidates among a virtual host's `uri.regex` blocks for a path, without testing every regex.
//!
//! Most route regexes contain a literal that sets them apart (`/api/v[0-9]+/orders/.*` needs
//! `/orders/`): each such block is filed under the rarest literal it requires, one Aho-Corasick
//! pass over the path finds the literals present, and only their blocks are tested, each by its
//! own regex. Blocks whose literals are all shared by many blocks go into one `RegexSet`, which
//! decides their `uri` in one pass. A single set of thousands of patterns with a common prefix
//! outgrows its lazy DFA and falls back to a slow engine, hence the literals first.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use regex::{RegexSet, RegexSetBuilder};

use crate::string_match::FullMatchRegex;

use super::candidate::Candidate;

/// A block is filed under a literal only when at most this many blocks share it; beyond, the
/// regexes themselves would be tested on too many requests.
const MAX_BLOCKS_PER_LITERAL: usize = 16;

/// Compiled regexes of many routes together can be large; past this the index leaves
/// regex blocks to be tested one by one.
const REGEX_SET_SIZE_LIMIT: usize = 64 << 20;

#[derive(Debug, Clone, Default)]
pub struct RegexIndex {
    literals: Option<AhoCorasick>,
    /// The blocks of literal `i` are `literal_candidates[literal_ends[i - 1]..literal_ends[i]]`.
    literal_ends: Vec<u32>,
    literal_candidates: Vec<Candidate>,
    set: Option<RegexSet>,
    /// For each pattern of `set`, its block.
    set_candidates: Vec<Candidate>,
}

impl RegexIndex {
    /// Indexes `blocks` (each `uri.regex` block with its regex); returns the index and the
    /// blocks it could not index, which must be tested for every path.
    pub fn new(blocks: &[(Candidate, &FullMatchRegex)]) -> (Self, Vec<Candidate>) {
        let mut index = Self::default();
        let mut unindexed = Vec::new();
        let mut blocks_with_literal: HashMap<&[u8], usize> = HashMap::new();
        for (_, regex) in blocks {
            let mut literals: Vec<&[u8]> = regex.required_literals().iter().map(|l| &**l).collect();
            literals.sort_unstable();
            literals.dedup();
            for literal in literals {
                *blocks_with_literal.entry(literal).or_default() += 1;
            }
        }
        let mut by_literal: HashMap<&[u8], Vec<Candidate>> = HashMap::new();
        let mut literal_order: Vec<&[u8]> = Vec::new();
        let mut set_patterns = Vec::new();
        for &(candidate, regex) in blocks {
            let rarest = regex
                .required_literals()
                .iter()
                .map(|literal| {
                    let shared = blocks_with_literal.get(&**literal).copied().unwrap_or(0);
                    (shared, std::cmp::Reverse(literal.len()), &**literal)
                })
                .min();
            match rarest {
                Some((shared, _, literal)) if shared <= MAX_BLOCKS_PER_LITERAL => {
                    let filed = by_literal.entry(literal).or_default();
                    if filed.is_empty() {
                        literal_order.push(literal);
                    }
                    filed.push(candidate);
                }
                _ => {
                    set_patterns.push(format!(r"\A(?:{})\z", regex.pattern()));
                    index.set_candidates.push(candidate);
                }
            }
        }
        for literal in &literal_order {
            if let Some(filed) = by_literal.get(literal) {
                index.literal_candidates.extend_from_slice(filed);
                index
                    .literal_ends
                    .push(u32::try_from(index.literal_candidates.len()).unwrap_or(u32::MAX));
            }
        }
        if !literal_order.is_empty() {
            match AhoCorasick::new(&literal_order) {
                Ok(automaton) => index.literals = Some(automaton),
                // Too many literals for the automaton: test these blocks one by one.
                Err(_) => unindexed.append(&mut index.literal_candidates),
            }
        }
        if !set_patterns.is_empty() {
            match RegexSetBuilder::new(&set_patterns)
                .size_limit(REGEX_SET_SIZE_LIMIT)
                .build()
            {
                Ok(set) => {
                    for candidate in &mut index.set_candidates {
                        candidate.uri_decided = true;
                    }
                    index.set = Some(set);
                }
                // Too large together: test these blocks one by one instead.
                Err(_) => unindexed.append(&mut index.set_candidates),
            }
        }
        (index, unindexed)
    }

    /// Adds the blocks that may match `path` (without its query string).
    pub fn candidates(&self, path: &str, out: &mut Vec<Candidate>) {
        // A byte that is not UTF-8 counts as U+FFFD, as RE2 decodes it (see `raw_text`).
        let path = &*crate::raw_text::for_regex(path);
        if let Some(literals) = &self.literals {
            for found in literals.find_overlapping_iter(path) {
                let literal = found.pattern().as_usize();
                let start = match literal.checked_sub(1) {
                    Some(previous) => self.literal_ends.get(previous).copied().unwrap_or(0),
                    None => 0,
                };
                let end = self.literal_ends.get(literal).copied().unwrap_or(start);
                if let Some(filed) = self.literal_candidates.get(start as usize..end as usize) {
                    out.extend_from_slice(filed);
                }
            }
        }
        if let Some(set) = &self.set {
            out.extend(
                set.matches(path)
                    .iter()
                    .filter_map(|pattern| self.set_candidates.get(pattern).copied()),
            );
        }
    }
}
