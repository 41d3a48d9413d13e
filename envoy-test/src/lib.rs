//! End-to-end test harness: runs a real Envoy (through [`envoy_runner`]) with our wasm modules
//! in front of echo upstreams, all on loopback, and talks to it over HTTP/1.1, h2c or raw bytes.
//! It holds the test fixtures (upstreams, raw clients, a loopback OCI registry, the native
//! reference configs the benchmarks and the differential test compare against) and re-exports
//! the runner's API, so a test needs one `use envoy_test::...`.
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

pub mod istio_routes;
pub mod local_registry;
mod prometheus;
mod raw_client;
mod reference_filters;
mod synthetic_routes;
mod upstream;
mod workspace;

/// The harness fails the ways running Envoy fails: one error type for both.
pub use envoy_runner::Error as HarnessError;
pub use envoy_runner::{
    gateway_defaults, workspace_root, Bootstrap, Client, Cluster, Envoy, EnvoyBinary, EnvoyOptions,
    FailurePolicy, HttpFilter, Listener, ListenerUpdate, RequestBuilder, Response, Result,
    RouteConfig, StatsTag, WasmFilter, PINNED_ENVOY_VERSION,
};
pub use prometheus::{PromSample, Prometheus, PROMETHEUS_JOB};
pub use raw_client::{raw_http1, raw_http2, RawHttp2Request, RawOutcome};
pub use reference_filters::{
    native_fault_delay_and_abort, native_header_mutation_ten_rules, FAULT_DELAY_AND_ABORT,
    HEADERS_BENCH_REQUEST_HEADERS, HEADERS_TEN_RULES,
};
pub use synthetic_routes::{table_clusters, SyntheticTable, TableKind, TABLE_CLUSTERS};
pub use upstream::{Echo, Upstream, UpstreamOptions};
pub use workspace::wasm_module;
