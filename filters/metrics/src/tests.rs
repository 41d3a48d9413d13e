//! The module's stream logic on the fake hosts: the properties it reads and the stats it
//! defines and records, without Envoy.

// Tests stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;

use engine::metrics::{MetricsConfig, Workload};
use engine::request::HeaderList;
use engine::route_properties::{self, RouteProperty};
use host::{FakeHost, FakeVm, HeaderMapKind, HostCall, StreamHost};

use super::{MetricsShared, MetricsStream, SeriesCache};

const REVIEWS_V2: &str = "outbound|9080|v2|reviews.shop.svc.cluster.local";

/// One VM's streams: a config and the shared series cache on a fake VM.
struct Vm {
    config: Rc<MetricsConfig>,
    shared: Rc<MetricsShared<FakeVm>>,
}

impl Vm {
    fn new(config: &str) -> Self {
        Self {
            config: Rc::new(MetricsConfig::from_json(config.as_bytes()).unwrap()),
            shared: Rc::new(MetricsShared {
                workload: RefCell::default(),
                series: RefCell::new(SeriesCache::new(FakeVm::new())),
            }),
        }
    }

    fn stream(&self) -> MetricsStream<FakeVm> {
        MetricsStream {
            config: Some(self.config.clone()),
            workload: Some(Rc::new(Workload::default())),
            shared: Some(self.shared.clone()),
        }
    }

    fn definitions(&self) -> usize {
        self.shared.series.borrow().host.metric_definitions()
    }

    fn updates(&self) -> usize {
        self.shared.series.borrow().host.metric_updates()
    }

    /// The value of the one stat whose name has `metric` and every one of `labels`.
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> i64 {
        let metrics = self.shared.series.borrow().host.metrics();
        let found: Vec<&(String, i64)> = metrics
            .iter()
            .filter(|(name, _)| {
                name.ends_with(metric)
                    && labels
                        .iter()
                        .all(|(label, value)| name.contains(&format!("{label}=.={value};.;")))
            })
            .collect();
        assert_eq!(found.len(), 1, "{metric} {labels:?} in {metrics:#?}");
        found[0].1
    }
}

/// A request the router forwarded to reviews v2 and Envoy answered 200.
fn routed_request() -> FakeHost {
    let mut host = FakeHost::new(
        HeaderList::get("shop", "/reviews/1").with("content-type", "application/json"),
    );
    let route = RouteProperty {
        route_name: "reviews.v2",
        virtual_service: "shop/bookinfo",
        cluster: REVIEWS_V2,
    };
    host.set_property(route_properties::ROUTE, &route.encode());
    let int = |value: i64| value.to_le_bytes().to_vec();
    for (path, value) in [
        ("xds.cluster_name", REVIEWS_V2.as_bytes().to_vec()),
        ("request.method", b"GET".to_vec()),
        ("response.code", int(200)),
        ("response.flags", int(0)),
        ("response.grpc_status", int(2)),
        ("request.duration", int(3_000_000)),
        ("request.total_size", int(120)),
        ("response.total_size", int(560)),
    ] {
        host.property_values.insert(path.to_owned(), value);
    }
    host.take_calls();
    host
}

#[test]
fn the_route_labels_come_from_the_routers_one_property() {
    let vm = Vm::new("{}");
    let host = routed_request();
    vm.stream().on_log_event(&host);
    let labels = [
        ("route_name", "reviews.v2"),
        ("virtual_service", "shop/bookinfo"),
        ("destination_subset", "v2"),
        ("request_method", "GET"),
        ("response_code", "200"),
        ("request_protocol", "http"),
    ];
    assert_eq!(vm.value("gateway_requests_total", &labels), 1);
    assert_eq!(vm.value("gateway_request_bytes", &labels), 120);
}

/// A label set's four metrics are defined by its first request only; every request then
/// costs one host call per metric recorded.
#[test]
fn each_series_is_defined_once_and_each_record_is_one_host_call() {
    let vm = Vm::new("{}");
    for _ in 0..3 {
        vm.stream().on_log_event(&routed_request());
    }
    assert_eq!(vm.definitions(), 4);
    assert_eq!(vm.updates(), 3 * 4);
    let labels = [("route_name", "reviews.v2")];
    assert_eq!(vm.value("gateway_requests_total", &labels), 3);
}

/// Past the cap, requests share the overflow series, defined once too.
#[test]
fn the_overflow_series_is_defined_once() {
    let vm = Vm::new(r#"{"maxLabelSets": 1}"#);
    vm.stream().on_log_event(&routed_request());
    for code in [404_i64, 500, 503] {
        let mut host = routed_request();
        host.property_values
            .insert("response.code".into(), code.to_le_bytes().to_vec());
        vm.stream().on_log_event(&host);
    }
    assert_eq!(vm.definitions(), 2 * 4);
    assert_eq!(
        vm.value("gateway_requests_total", &[("response_code", "other")]),
        3
    );
}

/// The gateway labels read what they show and nothing else: the router's one property, no
/// three, and no `xds.cluster_name` (the router's cluster is the one Envoy went to);
/// `content-type` alone, not the request's whole header map; no gRPC status of a plain
/// HTTP request.
#[test]
fn a_request_reads_only_what_its_labels_need() {
    let vm = Vm::new("{}");
    let host = routed_request();
    vm.stream().on_log_event(&host);
    let calls = host.calls();
    let read = |path: &str| calls.contains(&HostCall::ReadProperty(path.to_owned()));
    assert!(read(route_properties::ROUTE));
    assert!(!read("xds.route_name"), "{calls:?}");
    assert!(!read("xds.cluster_name"), "{calls:?}");
    assert!(!read("response.grpc_status"), "{calls:?}");
    assert!(
        !calls.contains(&HostCall::ReadHeaderMap(HeaderMapKind::Request)),
        "{calls:?}"
    );
    assert!(calls.contains(&HostCall::ReadHeader(
        HeaderMapKind::Request,
        "content-type".into()
    )));
    // The route, method, code, flags, the three measures; and the content type.
    assert_eq!(calls.len(), 8, "{calls:?}");

    // istioRoutes has no request_method label and records no sizes.
    let vm = Vm::new(r#"{"naming": "istioRoutes"}"#);
    let host = routed_request();
    vm.stream().on_log_event(&host);
    let calls = host.calls();
    assert!(!calls.contains(&HostCall::ReadProperty("request.method".into())));
    assert!(!calls.contains(&HostCall::ReadProperty("request.total_size".into())));
}

/// Without the router's property (no router, or `publishRoute: false`), Envoy's route name.
#[test]
fn without_the_routers_property_the_route_is_envoys() {
    let vm = Vm::new("{}");
    let mut host = FakeHost::new(HeaderList::get("shop", "/"));
    host.property_values
        .insert("xds.route_name".into(), b"envoy-route".to_vec());
    host.property_values
        .insert("xds.cluster_name".into(), REVIEWS_V2.as_bytes().to_vec());
    vm.stream().on_log_event(&host);
    assert_eq!(
        vm.value(
            "gateway_requests_total",
            &[
                ("route_name", "envoy-route"),
                ("virtual_service", "unknown")
            ]
        ),
        1
    );
}
