//! Distribution tooling for the modules: OCI images (`image`), registry upload (`push`), and the
//! Istio manifests that install them (`manifests`), with validation against Istio's CRDs.

pub mod agent;
pub mod error;
pub mod istio;
pub mod oci;
pub mod registry;
pub mod workspace;
