//! The benchmark's synthetic route tables: Envoy accepts both sides, and the router module and
//! the native routes send the same requests to the same clusters (so `make bench` compares
//! equal work).

use engine::request::HeaderList;
use engine::router::{Decision, RouteTable};
use envoy_test::{
    native_fault_delay_and_abort, native_header_mutation_ten_rules, table_clusters, wasm_module,
    Bootstrap, Client, Cluster, Echo, Envoy, EnvoyBinary, Listener, Result, SyntheticTable,
    TableKind, Upstream, UpstreamOptions, WasmFilter,
};

const KINDS: [TableKind; 2] = [TableKind::Prefix, TableKind::Regex];

/// Small enough for a linear scan, and large enough for the router's path index.
const SIZES: [usize; 2] = [10, 100];

fn module_listener(name: &str, table: &SyntheticTable) -> Result<Listener> {
    Ok(Listener::for_router(name).filter(WasmFilter::new(
        "router",
        wasm_module("router")?,
        table.virtual_service().to_string(),
    )))
}

/// Every table as a module listener and a native listener, in one bootstrap.
fn bootstrap(clusters: impl IntoIterator<Item = Cluster>) -> Result<Bootstrap> {
    let mut bootstrap = Bootstrap::new();
    for kind in KINDS {
        for routes in SIZES {
            let table = SyntheticTable::new(kind, routes);
            let name = format!("{}-{routes}", kind.name());
            bootstrap = bootstrap
                .listener(module_listener(&format!("module-{name}"), &table)?)
                .listener(Listener::new(
                    format!("native-{name}"),
                    table.native_route_config(),
                ));
        }
    }
    for cluster in clusters {
        bootstrap = bootstrap.cluster(cluster);
    }
    Ok(bootstrap)
}

#[test]
fn envoy_accepts_the_module_and_native_tables_and_the_all_native_gateway() -> Result<()> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let clusters = table_clusters()
        .into_iter()
        .map(|name| Cluster::new(name, [loopback]));
    let [delay, abort] = native_fault_delay_and_abort();
    let all_native = Listener::new(
        "all-native",
        SyntheticTable::new(TableKind::Regex, 100).native_route_config(),
    )
    .filter(native_header_mutation_ten_rules())
    .filter(delay)
    .filter(abort);
    EnvoyBinary::shared()?.validate(&bootstrap(clusters)?.listener(all_native))
}

#[test]
fn the_engine_routes_every_sample_to_its_cluster() {
    for kind in KINDS {
        for routes in [10, 100, 1000] {
            let table = SyntheticTable::new(kind, routes);
            let compiled = RouteTable::from_json(table.virtual_service().to_string().as_bytes())
                .unwrap_or_else(|error| panic!("{kind:?} {routes}: {error}"));
            for (path, cluster) in table.sample_requests(25) {
                match compiled.select(&HeaderList::get("gateway", &path), &mut || 0) {
                    Decision::Forward(forward) => assert_eq!(forward.cluster, cluster, "{path}"),
                    other => panic!("{path}: {other:?}"),
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_and_native_tables_route_sample_requests_alike() -> Result<()> {
    let mut upstreams = Vec::new();
    let mut clusters = Vec::new();
    for name in table_clusters() {
        let upstream = Upstream::start(name.clone(), UpstreamOptions::default()).await?;
        clusters.push(Cluster::new(name, [upstream.addr()]));
        upstreams.push(upstream);
    }
    let envoy = Envoy::start(&bootstrap(clusters)?).await?;
    let client = Client::http1();
    for kind in KINDS {
        for routes in SIZES {
            let table = SyntheticTable::new(kind, routes);
            let name = format!("{}-{routes}", kind.name());
            let samples = table
                .sample_requests(10)
                .into_iter()
                .map(|(path, cluster)| (path, Some(cluster)));
            // Near misses: no trailing slash on a prefix, a letter where the regex wants digits.
            let misses = ["/s3", "/api/vX/s3/items/42", "/api/v2/s3/items/x", "/"]
                .map(|path| (path.to_owned(), None));
            for (path, cluster) in samples.chain(misses) {
                let mut answers = Vec::new();
                for side in ["module", "native"] {
                    let url = format!("{}{path}", envoy.listener_url(&format!("{side}-{name}"))?);
                    let response = client.get(url).send().await?;
                    let upstream = match response.status {
                        200 => Some(response.json::<Echo>()?.upstream),
                        404 => None,
                        status => panic!("{side}-{name} {path}: status {status}"),
                    };
                    answers.push(upstream);
                }
                assert_eq!(answers[0], answers[1], "{name} {path}: module vs native");
                assert_eq!(answers[0], cluster, "{name} {path}");
            }
        }
    }
    Ok(())
}
