//! `DestinationRule` (networking.istio.io): its subsets, which select endpoints by labels, and
//! the traffic policies of the rule and of each subset ([`super::traffic_policy`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::parse_spec;
use super::traffic_policy::{self, TrafficPolicy, TrafficPolicySpec};
use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

#[derive(Debug, Clone)]
pub struct DestinationRule {
    pub origin: Origin,
    /// Fully qualified: a short host is in the rule's own namespace, as Istio resolves it.
    pub host: String,
    pub subsets: Vec<Subset>,
    pub traffic_policy: Option<TrafficPolicy>,
    /// `spec.exportTo`: the namespaces whose proxies apply the rule (empty: every one).
    pub export_to: Vec<String>,
    /// `spec.workloadSelector.matchLabels`: the rule applies only to the workloads of its own
    /// namespace that carry these labels.
    pub workload_selector: Option<BTreeMap<String, String>>,
}

impl DestinationRule {
    /// Whether the gateway pods (in `istio-system`, labelled `pod_labels`) apply the rule:
    /// it is exported to their namespace (`exportTo`) and, with a `workloadSelector`, is in
    /// their namespace and selects their labels. Otherwise, why not.
    pub fn applies_to_gateway(&self, pod_labels: &BTreeMap<String, String>) -> Result<(), String> {
        let namespace = crate::plugins::GATEWAY_NAMESPACE;
        if !engine::router::export_to::visible(&self.origin.namespace, &self.export_to, namespace) {
            return Err(format!(
                "spec.exportTo {:?} does not export it to {namespace}, the gateway pods' namespace",
                self.export_to
            ));
        }
        if let Some(selector) = &self.workload_selector {
            if self.origin.namespace != namespace {
                return Err(format!(
                    "spec.workloadSelector selects workloads of {}, and the gateway pods are in {namespace}",
                    self.origin.namespace
                ));
            }
            if !crate::labels::selects(selector, pod_labels) {
                return Err(format!(
                    "spec.workloadSelector {selector:?} does not select the gateway pods (labels {pod_labels:?})"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Subset {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub traffic_policy: Option<TrafficPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DestinationRuleSpec {
    #[serde(default)]
    host: String,
    #[serde(default)]
    subsets: Vec<SubsetSpec>,
    traffic_policy: Option<TrafficPolicySpec>,
    #[serde(default)]
    export_to: Vec<String>,
    workload_selector: Option<WorkloadSelectorSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadSelectorSpec {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubsetSpec {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    traffic_policy: Option<TrafficPolicySpec>,
}

pub fn parse(resource: &Resource) -> Result<DestinationRule, ResourceError> {
    let origin = &resource.origin;
    let spec: DestinationRuleSpec = parse_spec(resource)?;
    if spec.host.is_empty() {
        return Err(origin.error("spec.host", "required"));
    }
    engine::router::export_to::check(
        &origin.namespace,
        &spec.export_to,
        engine::router::export_to::Exported::Config,
    )
    .map_err(|(index, reason)| origin.error(format!("spec.exportTo[{index}]"), reason))?;
    let mut subsets: Vec<Subset> = Vec::new();
    let traffic_policy = spec
        .traffic_policy
        .map(|policy| traffic_policy::parse(policy, origin, "spec.trafficPolicy"))
        .transpose()?;
    for (index, subset) in spec.subsets.into_iter().enumerate() {
        let at = format!("spec.subsets[{index}]");
        if subset.name.is_empty() {
            return Err(origin.error(format!("{at}.name"), "required"));
        }
        if subsets.iter().any(|known| known.name == subset.name) {
            return Err(origin.error(
                format!("{at}.name"),
                format!("duplicate subset name {:?}", subset.name),
            ));
        }
        let policy = subset
            .traffic_policy
            .map(|policy| traffic_policy::parse(policy, origin, &format!("{at}.trafficPolicy")))
            .transpose()?;
        subsets.push(Subset {
            name: subset.name,
            labels: subset.labels,
            traffic_policy: policy,
        });
    }
    Ok(DestinationRule {
        origin: origin.clone(),
        host: engine::router::fully_qualified_host(
            &spec.host.to_ascii_lowercase(),
            &origin.namespace,
            &engine::virtual_service::default_domain_suffix(),
        ),
        subsets,
        traffic_policy,
        export_to: spec.export_to,
        workload_selector: spec.workload_selector.map(|selector| selector.match_labels),
    })
}
