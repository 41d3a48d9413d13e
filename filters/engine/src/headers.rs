//! Header manipulation: ordered rules of Istio-style `set`/`add`/`remove` operations on request
//! and response headers, with Envoy-style `%...%` templates, response-status conditions and
//! query-parameter edits.
//!
//! The operations themselves ([`HeaderOperations`]) are independent of the rules, so the router
//! can apply a VirtualService's `headers` with the same code: compile once, then per request
//! [`HeaderOperations::edits`] renders a list of [`HeaderEdit`]s from a read-only snapshot, and
//! [`apply`] writes them through any [`HeaderMutator`].

mod edit;
pub mod envoy_format;
mod istio_names;
mod name_rules;
mod operations;
mod phase;
mod query;
mod rules;
mod spec;
mod start_time;
mod status;
mod template;

pub use crate::stream::{HeaderMutator, ResponseView, StreamAttributes};
pub use edit::{apply, HeaderEdit};
pub use operations::HeaderOperations;
pub use phase::Phase;
pub use query::QueryParamOperations;
pub use rules::{HeaderRules, RememberedRequest, RequestPlan};
pub use spec::{
    HeaderOperationsSpec, HeadersConfig, QueryParamOperationsSpec, RequestOperationsSpec, RuleSpec,
    StatusSpec,
};
pub use status::StatusMatch;
pub use template::{Template, TemplateInput};

#[cfg(test)]
mod test_support;
