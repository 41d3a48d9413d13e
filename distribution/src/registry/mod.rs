//! Talking to OCI registries: references, credentials and the distribution API client.

pub mod client;
pub mod credentials;
pub mod reference;
