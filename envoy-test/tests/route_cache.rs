//! How the Envoy under test re-selects a route after a wasm module changed the request: the two
//! mechanisms the router module relies on (`host::clear_route_cache`), each observed alone with a
//! probe module that does nothing else. `make test-compat` runs this on every Envoy version.
//!
//! - Envoy clears the route cache by itself when a module built for proxy-wasm ABI 0.2.1 (the
//!   Rust SDK's) changes a request header; since Envoy 1.33 (envoy PR 36671) only such modules,
//!   not those on a newer ABI.
//! - Since 1.33 Envoy also offers the `clear_route_cache` foreign function, which the router
//!   module calls after it writes `x-route-cluster`.
//!
//! The probes are hand-written WebAssembly text in `tests/probes/`, assembled here with
//! binaryen's `wasm-as` (which `make build` installs), so they cannot depend on the modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use envoy_test::{
    workspace_root, Bootstrap, Client, Cluster, Echo, Envoy, HarnessError, Listener, Result,
    RouteConfig, Upstream, UpstreamOptions, WasmFilter,
};
use serde_json::json;

/// The upstream behind the route that only a request carrying `x-probe` matches.
const RESELECTED: &str = "reselected";

/// What the route matched before any filter ran answers, when the route is not matched again.
const FIRST_ROUTE_BODY: &str = "the route matched before the module ran";

/// Assembles `tests/probes/<name>.wat` into `dir/<name>.wasm`.
fn assemble_probe(name: &str, dir: &Path) -> Result<PathBuf> {
    let source = workspace_root().join(format!("envoy-test/tests/probes/{name}.wat"));
    let output = dir.join(format!("{name}.wasm"));
    let assembled = Command::new("wasm-as")
        .arg(&source)
        .arg("-o")
        .arg(&output)
        .output()
        .map_err(|source| HarnessError::Io {
            context: "running wasm-as (binaryen; `make build` installs it)".to_owned(),
            source,
        })?;
    if !assembled.status.success() {
        return Err(HarnessError::Io {
            context: format!(
                "wasm-as {} failed: {}",
                source.display(),
                String::from_utf8_lossy(&assembled.stderr)
            ),
            source: std::io::Error::other("wasm-as failed"),
        });
    }
    Ok(output)
}

fn scratch_dir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|source| HarnessError::Io {
        context: "creating a directory for the probes".to_owned(),
        source,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_header_set_by_a_module_makes_envoy_match_the_route_again() -> Result<()> {
    let dir = scratch_dir()?;
    let probe = assemble_probe("set_header", dir.path())?;
    let upstream = Upstream::start(RESELECTED, UpstreamOptions::default()).await?;
    // Before the filter runs, only the second route matches; after the probe set `x-probe`,
    // the first one does, if Envoy matches again.
    let routes = RouteConfig(json!({
        "virtual_hosts": [{
            "name": "all",
            "domains": ["*"],
            "routes": [
                {
                    "match": { "prefix": "/", "headers": [{ "name": "x-probe", "present_match": true }] },
                    "route": { "cluster": RESELECTED },
                },
                {
                    "match": { "prefix": "/" },
                    "direct_response": { "status": 200, "body": { "inline_string": FIRST_ROUTE_BODY } },
                },
            ],
        }],
    }));
    let listener =
        Listener::new("probe", routes).filter(WasmFilter::new("set-header-probe", probe, "{}"));
    let bootstrap = Bootstrap::new()
        .listener(listener)
        .cluster(Cluster::new(RESELECTED, [upstream.addr()]));
    let envoy = Envoy::start(&bootstrap).await?;
    let response = Client::http1()
        .get(format!("{}/", envoy.listener_url("probe")?))
        .send()
        .await?;
    assert_eq!(response.status, 200);
    assert_ne!(
        response.text(),
        FIRST_ROUTE_BODY,
        "Envoy kept the route it matched before the module set a header: this Envoy does not \
         clear the route cache on a header change by an ABI 0.2.1 module, so only the explicit \
         clear_route_cache re-selects routes"
    );
    let echo: Echo = response.json()?;
    assert_eq!(echo.upstream, RESELECTED);
    assert_eq!(echo.header("x-probe"), Some("set"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_offers_the_clear_route_cache_foreign_function() -> Result<()> {
    let dir = scratch_dir()?;
    let probe = assemble_probe("clear_route_cache", dir.path())?;
    let upstream = Upstream::start("echo", UpstreamOptions::default()).await?;
    let listener = Listener::new("probe", RouteConfig::to_cluster("echo")).filter(WasmFilter::new(
        "clear-route-cache-probe",
        probe,
        "{}",
    ));
    let bootstrap = Bootstrap::new()
        .listener(listener)
        .cluster(Cluster::new("echo", [upstream.addr()]));
    let envoy = Envoy::start(&bootstrap).await?;
    let response = Client::http1()
        .get(format!("{}/", envoy.listener_url("probe")?))
        .send()
        .await?;
    assert_eq!(response.status, 200);
    let echo: Echo = response.json()?;
    // The probe reports '0' + the proxy-wasm status of proxy_call_foreign_function.
    let status = echo.header("x-probe-clear-route-cache");
    assert_eq!(
        status,
        Some("0"),
        "clear_route_cache answered {} (1 is NotFound: a host without the function, as Envoy \
         before 1.33)",
        status.map_or("nothing".to_owned(), |s| format!(
            "status {}",
            s.bytes()
                .next()
                .map_or(0, |b| i32::from(b) - i32::from(b'0'))
        ))
    );
    Ok(())
}
