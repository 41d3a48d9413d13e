//! The fault module's config: ordered rules, the first matching one applies.

use super::policy::{Draws, FaultDecision, FaultPolicy, HeaderControl, DEFAULT_MAX_HEADER_DELAY};
use super::spec::{FaultConfig, FaultRuleSpec, HttpFaultInjection};
use crate::error::FieldPath;
use crate::request_match::RequestMatch;
use crate::stream::RequestView;
use crate::ConfigError;

/// Match blocks have no VirtualService namespace here; gateways are refused anyway.
const NO_NAMESPACE: &str = "";

/// The compiled fault module config.
#[derive(Debug, Clone)]
pub struct FaultRules {
    rules: Vec<FaultRule>,
    max_active_faults: Option<u32>,
}

#[derive(Debug, Clone)]
struct FaultRule {
    matches: Vec<RequestMatch>,
    upstream_cluster: Option<String>,
    policy: FaultPolicy,
}

impl FaultRules {
    /// Parses, validates and compiles the plugin configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::compile(&crate::config::from_slice(bytes)?)
    }

    /// Compiles a parsed fault config; errors name the field.
    pub fn compile(spec: &FaultConfig) -> Result<Self, ConfigError> {
        let max_delay = match &spec.max_header_delay {
            None => DEFAULT_MAX_HEADER_DELAY,
            Some(text) => {
                let path = FieldPath::root().field("maxHeaderDelay");
                crate::duration::parse(text).map_err(|reason| path.error(reason))?
            }
        };
        let header_control = HeaderControl::Allowed { max_delay };
        let rules_path = FieldPath::root().field("rules");
        let rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| FaultRule::compile(rule, header_control, &rules_path.index(index)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            rules,
            max_active_faults: spec.max_active_faults,
        })
    }

    /// How many rules were compiled (the module's `fault_rules` gauge).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Envoy's `max_active_faults`; `None` is unlimited.
    pub fn max_active_faults(&self) -> Option<u32> {
        self.max_active_faults
    }

    /// Whether some rule needs the route's cluster, which costs the host a property read.
    pub fn uses_upstream_cluster(&self) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.upstream_cluster.is_some())
    }

    /// The policy of the first rule that matches `request` routed to `route_cluster`.
    pub fn select(
        &self,
        request: &impl RequestView,
        route_cluster: Option<&str>,
    ) -> Option<&FaultPolicy> {
        self.select_lazily(request, || route_cluster.map(str::to_owned))
    }

    /// [`FaultRules::select`] with the route's cluster found only if a rule gets as far as
    /// asking for it (its request conditions held and it names an `upstreamCluster`), and
    /// then once: finding it costs a module host calls.
    pub fn select_lazily(
        &self,
        request: &impl RequestView,
        route_cluster: impl FnOnce() -> Option<String>,
    ) -> Option<&FaultPolicy> {
        let mut route_cluster = Some(route_cluster);
        let mut found: Option<String> = None;
        self.rules
            .iter()
            .find(|rule| {
                rule.applies_to(request, || {
                    if let Some(find) = route_cluster.take() {
                        found = find();
                    }
                    found.clone()
                })
            })
            .map(|rule| &rule.policy)
    }

    /// The faults `request` gets: those of the first matching rule, for these draws.
    pub fn decide(
        &self,
        request: &impl RequestView,
        route_cluster: Option<&str>,
        draws: Draws,
    ) -> FaultDecision {
        self.select(request, route_cluster)
            .map(|policy| policy.decide(request, draws))
            .unwrap_or_default()
    }
}

impl FaultRule {
    fn compile(
        spec: &FaultRuleSpec,
        header_control: HeaderControl,
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        let matches = spec
            .matches
            .iter()
            .enumerate()
            .map(|(index, block)| {
                let block_path = path.field("match").index(index);
                if !block.gateways.is_empty() {
                    return Err(block_path
                        .field("gateways")
                        .error("not supported in fault rules: the module runs on one gateway"));
                }
                RequestMatch::compile(block, NO_NAMESPACE, &block_path)
            })
            .collect::<Result<_, _>>()?;
        if spec.upstream_cluster.as_deref() == Some("") {
            return Err(path
                .field("upstreamCluster")
                .error("must not be empty (omit it to match every cluster)"));
        }
        let fault = HttpFaultInjection {
            delay: spec.delay.clone(),
            abort: spec.abort.clone(),
        };
        Ok(Self {
            matches,
            upstream_cluster: spec.upstream_cluster.clone(),
            policy: FaultPolicy::compile(&fault, header_control, path)?,
        })
    }

    /// The request's own conditions first: they read what the request already holds, the
    /// cluster may cost more to find.
    fn applies_to(
        &self,
        request: &impl RequestView,
        route_cluster: impl FnOnce() -> Option<String>,
    ) -> bool {
        (self.matches.is_empty() || self.matches.iter().any(|block| block.matches(request)))
            && match &self.upstream_cluster {
                None => true,
                Some(cluster) => route_cluster().as_deref() == Some(cluster.as_str()),
            }
    }
}
