//! The Istio resources the gateway is built from, parsed into what it uses of them. Fields are
//! read as Istio's CRDs define them (camelCase); fields the gateway has no use for are accepted
//! and ignored, as they would be by a gateway they do not concern.

pub mod destination_rule;
pub mod extension;
pub mod gateway;
pub mod secret;
pub mod service;
pub mod service_entry;
pub mod traffic_policy;
pub mod virtual_service;

use serde::de::DeserializeOwned;

use crate::error::ResourceError;
use crate::resources::Resource;

/// `spec` deserialized into `T`, errors naming the field below `spec`.
pub(crate) fn parse_spec<T: DeserializeOwned>(resource: &Resource) -> Result<T, ResourceError> {
    engine::config::from_value(resource.spec(), "spec")
        .map_err(|error| resource.origin.error(error.path, error.reason))
}
