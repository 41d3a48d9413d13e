//! The metrics module: counts every request and records its duration and sizes, labelled as
//! Istio labels its request metrics plus the VirtualService route that served it.
//!
//! It records in `on_log`, when Envoy has the response code, flags, duration and sizes; the
//! route comes from the router module's properties ([`engine::route_properties`]). The naming
//! mode ([`engine::metrics::Naming`]) picks the metric names and labels; labels are encoded
//! into stat names ([`engine::metrics::names`]); each label set's metrics are defined once per
//! VM, and label sets past the configured cap count under the `other` series.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use engine::headers::ResponseView;
use engine::metrics::config::DimensionSource;
use engine::metrics::label_sets::fingerprint;
use engine::metrics::names::{self, Measure, MetricKind};
use engine::metrics::{LabelSet, MetricsConfig, Naming, RequestFacts, Workload};
use engine::route_properties::{self, PublishedRoute};
use engine::{ConfigError, RequestView};
use host::metrics::Metrics;
use host::properties;
use host::Module;
use proxy_wasm::traits::{Context, HttpContext};

/// The shared-data key of the label sets admitted under the cap (per `vm_id`), one per naming
/// mode, so two plugins of the module in one `vm_id` with different modes do not share a cap.
fn admitted_label_sets_key(naming: Naming) -> &'static str {
    match naming {
        Naming::Gateway => "gateway_metrics.admitted_label_sets",
        Naming::Istio => "gateway_metrics.admitted_label_sets.istio",
        Naming::IstioRoutes => "gateway_metrics.admitted_label_sets.istioRoutes",
    }
}

/// The most metrics a naming mode records per request.
const MAX_METRICS: usize = 4;

const NANOS_PER_MILLI: i64 = 1_000_000;

/// The module's name: its log prefix, its stats prefix and its `root_id` in the suite build.
pub const MODULE: &str = "metrics";

/// The metrics module: the naming mode and dimensions, and for the whole VM the proxy's
/// workload and the series defined so far.
struct MetricsModule;

/// What every stream of a VM shares besides the config; both follow the config.
struct MetricsShared {
    /// The `source_*` labels of the Istio modes; read at configure time, when the node is known.
    workload: RefCell<Rc<Workload>>,
    series: RefCell<SeriesCache>,
}

impl Module for MetricsModule {
    const NAME: &'static str = MODULE;
    type Config = MetricsConfig;
    type Shared = MetricsShared;
    type Stream = MetricsStream;

    fn compile(bytes: &[u8]) -> Result<MetricsConfig, ConfigError> {
        MetricsConfig::from_json(bytes)
    }

    fn start() -> Result<MetricsShared, String> {
        Ok(MetricsShared {
            workload: RefCell::default(),
            series: RefCell::default(),
        })
    }

    fn configured(config: &MetricsConfig, shared: &MetricsShared) {
        // Another config has other dimensions: its label sets are new keys anyway.
        shared.series.borrow_mut().by_label_set.clear();
        let workload = Rc::new(host::proxy_workload());
        if config.naming != Naming::Gateway {
            log::info!(
                "metrics: naming {}, source workload {}.{}",
                config.naming.config_name(),
                workload.name,
                workload.namespace
            );
        }
        *shared.workload.borrow_mut() = workload;
    }

    fn stream(
        config: Option<Rc<MetricsConfig>>,
        shared: Option<Rc<MetricsShared>>,
        _root_id: u32,
        _stream_id: u32,
    ) -> MetricsStream {
        MetricsStream {
            config,
            // The workload as of the stream's start, as its config is.
            workload: shared
                .as_ref()
                .map(|shared| Rc::clone(&shared.workload.borrow())),
            shared,
        }
    }
}

host::module_main!(MetricsModule);

/// The metric ids of one label set, in the order of its naming mode's metrics.
type Series = [Option<u32>; MAX_METRICS];

/// This VM's series: at most `maxLabelSets` admitted label sets, plus the overflow series.
#[derive(Default)]
struct SeriesCache {
    metrics: Metrics,
    by_label_set: HashMap<String, Series>,
}

impl SeriesCache {
    fn series_for(&mut self, config: &MetricsConfig, labels: &LabelSet) -> Series {
        let key = labels.encoded();
        if let Some(series) = self.by_label_set.get(&key) {
            return *series;
        }
        if host::label_set_cap::admit(
            admitted_label_sets_key(config.naming),
            fingerprint(&key),
            config.max_label_sets,
        ) {
            let series = self.define(config.naming, labels);
            self.by_label_set.insert(key, series);
            series
        } else {
            // Not cached under the request's key: that would grow without bound.
            self.define(config.naming, &LabelSet::overflow(config))
        }
    }

    fn define(&mut self, naming: Naming, labels: &LabelSet) -> Series {
        let mut series = [None; MAX_METRICS];
        for (id, metric) in series.iter_mut().zip(naming.metrics()) {
            let name = names::stat_name(labels, metric.name);
            *id = match metric.kind {
                MetricKind::Counter => self.metrics.counter(&name),
                MetricKind::Histogram => self.metrics.histogram(&name),
            };
        }
        series
    }
}

struct MetricsStream {
    config: Option<Rc<MetricsConfig>>,
    workload: Option<Rc<Workload>>,
    shared: Option<Rc<MetricsShared>>,
}

impl Context for MetricsStream {}

impl HttpContext for MetricsStream {
    fn on_log(&mut self) {
        let _in = host::in_callback("on_log");
        let (Some(config), Some(workload), Some(shared)) =
            (&self.config, &self.workload, &self.shared)
        else {
            return;
        };
        let facts = self.request_facts(config);
        let labels = LabelSet::of_request(config, workload, &facts);
        let series = shared.series.borrow_mut().series_for(config, &labels);
        for (id, metric) in series.iter().zip(config.naming.metrics()) {
            let (Some(id), Some(value)) = (id, measure(metric.measure)) else {
                continue;
            };
            match metric.kind {
                MetricKind::Counter => host::metrics::increment(*id, value),
                MetricKind::Histogram => {
                    host::metrics::record(*id, u64::try_from(value).unwrap_or(0));
                }
            }
        }
    }
}

/// What `measure` is for the finished request; `None` when Envoy does not say.
fn measure(measure: Measure) -> Option<i64> {
    match measure {
        Measure::Request => Some(1),
        Measure::DurationMs => {
            properties::get_i64(&["request", "duration"]).map(|nanos| nanos / NANOS_PER_MILLI)
        }
        Measure::RequestBytes => properties::get_i64(&["request", "total_size"]),
        Measure::ResponseBytes => properties::get_i64(&["response", "total_size"]),
    }
}

impl MetricsStream {
    fn request_facts(&self, config: &MetricsConfig) -> RequestFacts {
        let principal = |attribute: &str| {
            (config.naming == Naming::Istio)
                .then(|| properties::get_nonempty_string(&["upstream", attribute]))
                .flatten()
        };
        // The router's one property (absent without the router, or with its `publishRoute`
        // off); a value that does not decode counts as absent.
        let route = properties::get_string(&[route_properties::ROUTE])
            .and_then(|value| PublishedRoute::decode(&value));
        let route_name = match &route {
            Some(route) => Some(route.route_name.clone()),
            None => properties::get_string(&["xds", "route_name"]),
        }
        .filter(|name| !name.is_empty());
        let cluster = properties::get_string(&["xds", "cluster_name"])
            .or_else(|| route.as_ref().map(|route| route.cluster.clone()))
            .filter(|name| !name.is_empty());
        RequestFacts {
            method: properties::get_string(&["request", "method"]),
            content_type: host::RequestHeaders::new()
                .first_header_value("content-type")
                .map(Cow::into_owned),
            response_code: properties::get_i64(&["response", "code"]),
            grpc_status: properties::get_i64(&["response", "grpc_status"]),
            response_flags: properties::get_i64(&["response", "flags"])
                .map_or(0, i64::cast_unsigned),
            cluster,
            route_name,
            virtual_service: route.map(|route| route.virtual_service),
            // Only Istio's full label set has principals: two reads the other modes skip.
            local_principal: principal("uri_san_local_certificate"),
            peer_principal: principal("uri_san_peer_certificate"),
            dimensions: config
                .dimension_sources
                .iter()
                .map(|source| self.dimension(source))
                .collect(),
        }
    }

    fn dimension(&self, source: &DimensionSource) -> Option<String> {
        match source {
            DimensionSource::RequestHeader(name) => host::RequestHeaders::new()
                .header(name)
                .map(Cow::into_owned),
            DimensionSource::ResponseHeader(name) => host::ResponseHeaders::new()
                .header(name)
                .map(Cow::into_owned),
            DimensionSource::Attribute { path, value_type } => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                value_type.render(&properties::get_bytes(&path)?)
            }
        }
    }
}
