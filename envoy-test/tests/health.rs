//! The modules' own health metrics across configuration updates, in a real Envoy: the
//! generation of the configuration loaded, what it compiled to, and rejections with their
//! reason in the log.

use std::time::{Duration, Instant};

use envoy_test::{
    wasm_module, Bootstrap, Envoy, HarnessError, Listener, ListenerUpdate, Result, RouteConfig,
    WasmFilter,
};

const ONE_RULE: &str = r#"{"rules": [{"response": {"set": {"x-a": "1"}}}]}"#;
const TWO_RULES: &str =
    r#"{"rules": [{"response": {"set": {"x-a": "1"}}}, {"response": {"set": {"x-b": "2"}}}]}"#;
const BAD: &str = r#"{"rules": [{"response": {"set": {"bad header": "1"}}}]}"#;

fn listener(config: &str) -> Result<Listener> {
    Ok(
        Listener::new("gateway", RouteConfig::direct_response(200, "ok")).filter(WasmFilter::new(
            "headers",
            wasm_module("headers")?,
            config,
        )),
    )
}

/// The value of the untagged stat `name` in Prometheus text (`headers_rules{} 2`).
fn stat(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix("{}")?;
        rest.trim().parse().ok()
    })
}

/// Waits until every `(stat, value)` holds: a new configuration reaches the workers' VMs
/// shortly after Envoy has accepted it.
async fn wait_for(envoy: &Envoy, expected: &[(&str, f64)]) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = envoy.stats_prometheus().await?;
        if expected
            .iter()
            .all(|(name, value)| stat(&text, name) == Some(*value))
        {
            return Ok(text);
        }
        if Instant::now() > deadline {
            return Err(HarnessError::Http {
                context: "waiting for the health stats".into(),
                detail: format!("expected {expected:?} in:\n{text}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_distinct_config_gets_a_generation_and_rejections_are_counted() -> Result<()> {
    let bootstrap = Bootstrap::new()
        .with_dynamic_listeners()
        .listener(listener(ONE_RULE)?);
    let envoy = Envoy::start(&bootstrap).await?;
    let text = wait_for(
        &envoy,
        &[
            ("headers_config_generation", 1.0),
            ("headers_rules", 1.0),
            ("headers_config_rejected", 0.0),
            ("headers_panics", 0.0),
        ],
    )
    .await?;
    let loaded = stat(&text, "headers_config_loaded").unwrap_or_default();
    assert!(loaded >= 3.0, "one per worker and the main thread: {text}");

    let update = envoy.update_listeners(&[listener(TWO_RULES)?]).await?;
    assert_eq!(update, ListenerUpdate::Accepted);
    wait_for(
        &envoy,
        &[("headers_config_generation", 2.0), ("headers_rules", 2.0)],
    )
    .await?;

    let update = envoy.update_listeners(&[listener(BAD)?]).await?;
    assert_eq!(update, ListenerUpdate::Rejected);
    let text = envoy.stats_prometheus().await?;
    assert!(
        stat(&text, "headers_config_rejected").unwrap_or_default() >= 1.0,
        "{text}"
    );
    assert_eq!(
        stat(&text, "headers_config_generation"),
        Some(2.0),
        "unchanged"
    );
    assert!(
        envoy
            .log()
            .contains("headers: invalid plugin configuration: rules[0].response.set.bad header:"),
        "the reason is in the log:\n{}",
        envoy.log()
    );

    // A third distinct configuration gets the next number. (Going back to the first one would
    // not show 1: Envoy still runs that plugin in the draining first listener and reuses it
    // without configuring it again, so the gauges keep the last configuration loaded.)
    let three = r#"{"rules": [{"response": {"set": {"x-c": "3"}}}, {"response": {"set": {"x-d": "4"}}}, {"response": {"remove": ["x-e"]}}]}"#;
    let update = envoy.update_listeners(&[listener(three)?]).await?;
    assert_eq!(update, ListenerUpdate::Accepted);
    wait_for(
        &envoy,
        &[("headers_config_generation", 3.0), ("headers_rules", 3.0)],
    )
    .await?;
    Ok(())
}
