//! Distribution of the modules: OCI images and their on-disk layout (`oci`), the registry client,
//! references and credentials (`registry`), istio-agent's module fetch and cache (`agent`), and
//! the Istio manifests that install them, with validation against Istio's CRDs (`istio`).
//! `cargo xtask` and the local gateway stand on it.

pub mod agent;
pub mod error;
pub mod istio;
pub mod oci;
pub mod registry;
pub mod workspace;
