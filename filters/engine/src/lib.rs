//! The functional core of the gateway modules.
//!
//! Configuration is parsed, validated and compiled once ([`router::RouteTable::from_json`]);
//! requests are then evaluated through the small [`RequestView`] trait, so everything here runs
//! natively under `cargo test` and compiled to wasm, with no proxy-wasm host in sight.
#![deny(missing_docs)]

pub mod civil_time;
pub mod config;
pub mod config_generation;
pub mod duration;
pub mod error;
pub mod fault;
pub mod header_name;
pub mod headers;
pub mod interner;
pub mod metrics;
pub mod percentage;
pub mod raw_text;
pub mod request;
pub mod request_match;
pub mod route_properties;
pub mod router;
pub mod stream;
pub mod string_match;
pub mod virtual_service;

pub use error::{ConfigError, ConfigWarning};
pub use stream::RequestView;
