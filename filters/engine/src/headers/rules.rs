//! The header module's compiled rules: which apply to a request (decided once, at request
//! time, and remembered for the response) and what they change.
//!
//! Envoy does not let a wasm filter read the request headers once it has passed them on, so
//! the request phase also remembers the request headers that response templates read.

use crate::error::FieldPath;
use crate::request::HeaderList;
use crate::request_match::RequestMatch;
use crate::stream::RequestView;
use crate::ConfigError;

use super::edit::HeaderEdit;
use super::operations::HeaderOperations;
use super::phase::Phase;
use super::query::QueryParamOperations;
use super::spec::{HeadersConfig, RuleSpec};
use super::status::StatusMatch;
use super::template::TemplateInput;
use crate::stream::{ResponseView, StreamAttributes};

/// Every rule of a config, compiled; built once per config and shared by all streams.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    rules: Vec<Rule>,
    /// The request headers that response templates read, lowercase, each once.
    read_by_responses: Vec<String>,
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

/// What the response phase needs from the request: the rules whose `match` held, and the
/// request headers that response templates read, as they were.
#[derive(Debug, Clone, Default)]
pub struct RememberedRequest {
    matched: Vec<usize>,
    headers: HeaderList,
}

/// What the request phase decided: the edits to the request headers, and what to remember.
#[derive(Debug, Clone, Default)]
pub struct RequestPlan {
    /// The request edits, in the order they apply.
    pub edits: Vec<HeaderEdit>,
    /// What the response phase needs of the request, read now (Envoy hides it later).
    pub remembered: RememberedRequest,
}

impl HeaderRules {
    /// How many rules were compiled (the module's `headers_rules` gauge).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Parses, validates and compiles a header module config.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::compile(&crate::config::from_slice::<HeadersConfig>(bytes)?)
    }

    /// Compiles a parsed headers config; errors name the field.
    pub fn compile(config: &HeadersConfig) -> Result<Self, ConfigError> {
        let path = FieldPath::root().field("rules");
        let rules: Vec<Rule> = config
            .rules
            .iter()
            .enumerate()
            .map(|(index, spec)| Rule::compile(spec, &path.index(index)))
            .collect::<Result<_, _>>()?;
        let mut read_by_responses: Vec<String> = rules
            .iter()
            .flat_map(|rule| rule.response.request_headers_read())
            .map(str::to_owned)
            .collect();
        read_by_responses.sort();
        read_by_responses.dedup();
        Ok(Self {
            rules,
            read_by_responses,
        })
    }

    /// Whether any rule edits the request (else the module skips the request phase).
    pub fn has_request_operations(&self) -> bool {
        self.rules
            .iter()
            .any(|rule| !rule.request.is_empty() || !rule.query.is_empty())
    }

    /// Whether the request phase has anything to read or do: request edits, a response rule
    /// that applies only to some requests (its `match` is decided on the request), or a
    /// response template reading a request header. Otherwise the response phase needs nothing
    /// of the request ([`HeaderRules::remember_unseen_request`] is what it would remember), and
    /// the module skips the request phase without a host call.
    pub fn reads_request(&self) -> bool {
        self.has_request_operations()
            || !self.read_by_responses.is_empty()
            || self
                .rules
                .iter()
                .any(|rule| !rule.response.is_empty() && !rule.matches.is_empty())
    }

    /// Whether any rule edits the response (else the module skips the response phase).
    pub fn has_response_operations(&self) -> bool {
        self.rules.iter().any(|rule| !rule.response.is_empty())
    }

    /// What to remember of `request` for the response phase.
    pub fn remember<R: RequestView>(&self, request: &R) -> RememberedRequest {
        let matched = (0..self.rules.len())
            .filter(|&index| self.rules[index].applies_to(request))
            .collect();
        let mut headers = HeaderList::default();
        for name in &self.read_by_responses {
            if let Some(value) = request.first_header_value(name) {
                headers = headers.with(name, &value);
            }
        }
        RememberedRequest { matched, headers }
    }

    /// What to remember when this filter never saw the request (a filter before it answered):
    /// only rules without `match` apply, and no request header is known.
    pub fn remember_unseen_request(&self) -> RememberedRequest {
        RememberedRequest {
            matched: (0..self.rules.len())
                .filter(|&index| self.rules[index].matches.is_empty())
                .collect(),
            headers: HeaderList::default(),
        }
    }

    /// Matches every rule and renders the request edits of those that match, in rule order.
    /// Matches and templates all read the request as it arrived (`input`), not as earlier rules
    /// left it; query edits of a later rule apply on top of an earlier rule's `:path`.
    pub fn on_request<R: RequestView>(&self, input: &TemplateInput<'_, R>) -> RequestPlan {
        let remembered = self.remember(input.request);
        let mut edits = Vec::new();
        for rule in remembered.rules(self) {
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
        RequestPlan { edits, remembered }
    }

    /// Renders the response edits of the remembered rules whose status condition holds.
    pub fn on_response(
        &self,
        remembered: &RememberedRequest,
        response: &dyn ResponseView,
        attributes: &dyn StreamAttributes,
    ) -> Vec<HeaderEdit> {
        let input = TemplateInput {
            request: &remembered.headers,
            response: Some(response),
            attributes,
        };
        // Read only for a rule with a status condition: reading it is a host call.
        let mut status: Option<Option<u16>> = None;
        let mut edits = Vec::new();
        for rule in remembered.rules(self) {
            let status_matches = rule.statuses.is_empty()
                || status
                    .get_or_insert_with(|| response.status())
                    .is_some_and(|status| rule.statuses.iter().any(|s| s.matches(status)));
            if status_matches {
                rule.response.edits(&input, &mut edits);
            }
        }
        edits
    }
}

impl RememberedRequest {
    /// The indices of the rules whose `match` held.
    pub fn matched(&self) -> &[usize] {
        &self.matched
    }

    fn rules<'r>(&'r self, all: &'r HeaderRules) -> impl Iterator<Item = &'r Rule> {
        self.matched
            .iter()
            .filter_map(|&index| all.rules.get(index))
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
