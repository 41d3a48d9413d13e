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
    })
}
