//! Runs a stock Envoy on loopback with the modules: renders its bootstrap (listeners, clusters,
//! wasm filters, istio-ingressgateway's connection-manager settings and the router's route
//! contract), finds the Envoy binary, starts and stops it as a child process that never outlives
//! its caller, and talks to its admin interface. The local gateway (`gateway`), the demo, the
//! benchmarks and the end-to-end tests all run Envoy through this crate.
//!
//! ```no_run
//! use envoy_runner::{Bootstrap, Client, Cluster, Envoy, Listener, RouteConfig};
//!
//! # async fn example() -> envoy_runner::Result<()> {
//! let bootstrap = Bootstrap::new()
//!     .listener(Listener::new("main", RouteConfig::to_cluster("a")))
//!     .cluster(Cluster::new("a", ["127.0.0.1:8080".parse().unwrap()]));
//! let envoy = Envoy::start(&bootstrap).await?;
//! let url = format!("{}/hello", envoy.listener_url("main")?);
//! let response = Client::http1().get(url).send().await?;
//! println!("{}", response.status);
//! # Ok(())
//! # }
//! ```
//!
//! Envoy is found by [`EnvoyBinary::locate`]; `make envoy` installs the pinned release.

mod bootstrap;
mod client;
mod cluster;
mod envoy;
mod envoy_binary;
mod envoy_json;
mod error;
pub mod gateway_defaults;
mod http_filter;
mod listener;
mod process;
mod route_config;
mod workspace;

pub use bootstrap::{Bootstrap, StatsTag};
pub use client::{header_values, Client, RequestBuilder, Response};
pub use cluster::{Cluster, DnsEndpoints};
pub use envoy::{Envoy, EnvoyOptions, ListenerUpdate, Update, UpdateOutcome};
pub use envoy_binary::{EnvoyBinary, PINNED_ENVOY_VERSION};
pub use envoy_json::proto_duration;
pub use error::{Error, Result};
pub use http_filter::{FailurePolicy, HttpFilter, WasmFilter};
pub use listener::{DownstreamTls, Listener};
pub use route_config::{istio_default_retry_policy, router_routes, RouteConfig};
pub use workspace::workspace_root;
