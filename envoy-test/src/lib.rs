//! End-to-end test harness: runs a real Envoy with our wasm modules in front of echo
//! upstreams, all on loopback, and talks to it over HTTP/1.1 or h2c.
//!
//! ```no_run
//! use envoy_test::{Bootstrap, Client, Cluster, Envoy, Listener, RouteConfig, Upstream, UpstreamOptions};
//!
//! # async fn example() -> envoy_test::Result<()> {
//! let upstream = Upstream::start("a", UpstreamOptions::default()).await?;
//! let bootstrap = Bootstrap::new()
//!     .listener(Listener::new("main", RouteConfig::to_cluster("a")))
//!     .cluster(Cluster::new("a", [upstream.addr()]));
//! let envoy = Envoy::start(&bootstrap).await?;
//! let url = format!("{}/hello", envoy.listener_url("main")?);
//! let response = Client::http1().get(url).send().await?;
//! assert_eq!(response.json::<envoy_test::Echo>()?.path, "/hello");
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
mod error;
pub mod gateway_defaults;
mod http_filter;
pub mod istio_routes;
mod listener;
mod process;
mod raw_client;
mod reference_filters;
mod synthetic_routes;
mod upstream;
mod workspace;

pub use bootstrap::{Bootstrap, StatsTag};
pub use client::{Client, RequestBuilder, Response};
pub use cluster::Cluster;
pub use envoy::{Envoy, EnvoyOptions, ListenerUpdate};
pub use envoy_binary::{EnvoyBinary, PINNED_ENVOY_VERSION};
pub use error::{HarnessError, Result};
pub use http_filter::{FailurePolicy, HttpFilter, WasmFilter};
pub use listener::{Listener, RouteConfig};
pub use raw_client::{raw_http1, raw_http2, RawHttp2Request, RawOutcome};
pub use reference_filters::{
    native_fault_delay_and_abort, native_header_mutation_ten_rules, FAULT_DELAY_AND_ABORT,
    HEADERS_BENCH_REQUEST_HEADERS, HEADERS_TEN_RULES,
};
pub use synthetic_routes::{table_clusters, SyntheticTable, TableKind, TABLE_CLUSTERS};
pub use upstream::{Echo, Upstream, UpstreamOptions};
pub use workspace::{wasm_module, workspace_root};
