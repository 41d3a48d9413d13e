//! The header module's compiled rules: which apply to a request (decided once, at request
//! time, and remembered for the response) and what they change.

use crate::error::FieldPath;
use crate::request::RequestView;
use crate::request_match::RequestMatch;
use crate::ConfigError;

use super::edit::HeaderEdit;
use super::operations::{HeaderOperations, Phase};
use super::query::QueryParamOperations;
use super::spec::{HeadersConfig, RuleSpec};
use super::status::StatusMatch;
use super::template::TemplateInput;

/// Every rule of a config, compiled; built once per config and shared by all streams.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// Any block may match; none means every request.
    matches: Vec<RequestMatch>,
    /// Limits the response operations; empty means every status.
    statuses: Vec<StatusMatch>,
    request: HeaderOperations,
    query: QueryParamOperations,
    response: HeaderOperations,
}

/// The rules whose `match` held for a request, remembered for its response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchedRules(Vec<usize>);

/// What the request phase decided: the edits to the request headers, and the matched rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPlan {
    pub edits: Vec<HeaderEdit>,
    pub matched: MatchedRules,
}

impl HeaderRules {
    /// Parses, validates and compiles a header module config.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::compile(&crate::config::from_slice::<HeadersConfig>(bytes)?)
    }

    pub fn compile(config: &HeadersConfig) -> Result<Self, ConfigError> {
        let path = FieldPath::root().field("rules");
        let rules = config
            .rules
            .iter()
            .enumerate()
            .map(|(index, spec)| Rule::compile(spec, &path.index(index)))
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    pub fn has_request_operations(&self) -> bool {
        self.rules
            .iter()
            .any(|rule| !rule.request.is_empty() || !rule.query.is_empty())
    }

    pub fn has_response_operations(&self) -> bool {
        self.rules.iter().any(|rule| !rule.response.is_empty())
    }

    /// The rules whose `match` holds for `request`.
    pub fn match_request<R: RequestView>(&self, request: &R) -> MatchedRules {
        MatchedRules(
            self.rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| rule.applies_to(request))
                .map(|(index, _)| index)
                .collect(),
        )
    }

    /// Matches every rule and renders the request edits of those that match, in rule order.
    /// Matches and templates all read the request as it arrived (`input`), not as earlier rules
    /// left it; query edits of a later rule apply on top of an earlier rule's `:path`.
    pub fn on_request<R: RequestView>(&self, input: &TemplateInput<'_, R>) -> RequestPlan {
        let matched = self.match_request(input.request);
        let mut edits = Vec::new();
        for rule in matched.rules(self) {
            rule.request.edits(input, &mut edits);
            if rule.query.is_empty() {
                continue;
            }
            let current = edits
                .iter()
                .rev()
                .find_map(|edit| match edit {
                    HeaderEdit::Set { name, value } if name == ":path" => Some(value.clone()),
                    _ => None,
                })
                .or_else(|| input.request.header(":path").map(|path| path.into_owned()));
            if let Some(current) = current {
                let edited = rule.query.apply_to_path(&current, input);
                if edited != current {
                    edits.push(HeaderEdit::Set {
                        name: ":path".to_owned(),
                        value: edited,
                    });
                }
            }
        }
        RequestPlan { edits, matched }
    }

    /// Renders the response edits of the `matched` rules whose status condition holds.
    pub fn on_response<R: RequestView>(
        &self,
        matched: &MatchedRules,
        input: &TemplateInput<'_, R>,
    ) -> Vec<HeaderEdit> {
        let status = input.response.and_then(|response| response.status());
        let mut edits = Vec::new();
        for rule in matched.rules(self) {
            let status_matches = rule.statuses.is_empty()
                || status.is_some_and(|status| rule.statuses.iter().any(|s| s.matches(status)));
            if status_matches {
                rule.response.edits(input, &mut edits);
            }
        }
        edits
    }
}

impl MatchedRules {
    fn rules<'r>(&'r self, all: &'r HeaderRules) -> impl Iterator<Item = &'r Rule> {
        self.0.iter().filter_map(|&index| all.rules.get(index))
    }
}

impl Rule {
    fn compile(spec: &RuleSpec, path: &FieldPath) -> Result<Self, ConfigError> {
        let matches = spec
            .matches
            .iter()
            .enumerate()
            .map(|(index, block)| {
                let path = path.field("match").index(index);
                if !block.gateways.is_empty() {
                    return Err(path.field("gateways").error(
                        "not supported in header rules: the module runs where it is installed",
                    ));
                }
                RequestMatch::compile(block, "default", &path)
            })
            .collect::<Result<_, _>>()?;
        let statuses = spec
            .response_status
            .iter()
            .enumerate()
            .map(|(index, status)| {
                StatusMatch::compile(status, &path.field("responseStatus").index(index))
            })
            .collect::<Result<_, _>>()?;
        let (request, query) = match &spec.request {
            Some(request) => {
                let request_path = path.field("request");
                let operations = HeaderOperations::compile_parts(
                    &request.set,
                    &request.add,
                    &request.remove,
                    Phase::Request,
                    &request_path,
                )?;
                let query = request
                    .query_params
                    .as_ref()
                    .map(|query| {
                        QueryParamOperations::compile(query, &request_path.field("queryParams"))
                    })
                    .transpose()?
                    .unwrap_or_default();
                (operations, query)
            }
            None => Default::default(),
        };
        let response = spec
            .response
            .as_ref()
            .map(|response| {
                HeaderOperations::compile(response, Phase::Response, &path.field("response"))
            })
            .transpose()?
            .unwrap_or_default();
        let rule = Self {
            matches,
            statuses,
            request,
            query,
            response,
        };
        rule.check_shape(path)?;
        Ok(rule)
    }

    /// Refuses rules that would do nothing or whose status condition would be misread.
    fn check_shape(&self, path: &FieldPath) -> Result<(), ConfigError> {
        let has_request = !self.request.is_empty() || !self.query.is_empty();
        if !has_request && self.response.is_empty() {
            return Err(path.error("a rule needs request or response operations"));
        }
        if !self.statuses.is_empty() {
            if has_request {
                return Err(path.field("responseStatus").error(
                    "limits response operations only, but this rule also changes the request \
                     (the status is not known then): put the request operations in another rule",
                ));
            }
            if self.response.is_empty() {
                return Err(path
                    .field("responseStatus")
                    .error("limits response operations, and this rule has none"));
            }
        }
        Ok(())
    }

    fn applies_to(&self, request: &impl RequestView) -> bool {
        self.matches.is_empty() || self.matches.iter().any(|block| block.matches(request))
    }
}

#[cfg(test)]
mod tests;
