//! `gateway check`'s cross-reference analysis, after Istio's analyzers (`istioctl analyze`):
//! what each resource is valid alone but wrong together, e.g. a VirtualService bound to a
//! Gateway, or routing to a subset, that no resource of the directory defines.

mod destinations;
mod gateways;
mod hosts;

pub use hosts::covers;

use crate::finding::Finding;
use crate::plan::Resources;

/// Every finding about how the resources of a directory refer to each other.
pub(crate) fn analyze(resources: &Resources) -> Vec<Finding> {
    let mut findings = Vec::new();
    gateways::analyze(resources, &mut findings);
    destinations::analyze(resources, &mut findings);
    findings
}

#[cfg(test)]
mod tests;
