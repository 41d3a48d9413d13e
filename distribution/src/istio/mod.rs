//! Istio resources: reading them, validating them against Istio's CRDs, rendering our manifests.

pub mod cel;
pub mod crd;
pub mod go_url;
pub mod manifests;
pub mod yaml;
