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
use engine::raw_text;
use engine::route_properties::{self, PublishedRoute};
use engine::{ConfigError, RequestView};
use host::{Module, ProxyWasm, StreamHost, VmHost};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::MetricType;

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
struct MetricsShared<V: VmHost = ProxyWasm> {
    /// The `source_*` labels of the Istio modes; read at configure time, when the node is known.
    workload: RefCell<Rc<Workload>>,
    series: RefCell<SeriesCache<V>>,
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
            series: RefCell::new(SeriesCache::new(ProxyWasm)),
        })
    }

    fn configured(config: &MetricsConfig, shared: &MetricsShared) {
        shared.series.borrow_mut().clear();
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

/// This VM's series: at most `maxLabelSets` admitted label sets, plus the overflow series, each
/// label set's metrics defined once (`define_metric` per series, never per request).
struct SeriesCache<V: VmHost = ProxyWasm> {
    host: V,
    by_label_set: HashMap<String, Series>,
    /// The overflow series, defined by the first request past the cap.
    overflow: Option<Series>,
}

impl<V: VmHost> SeriesCache<V> {
    fn new(host: V) -> Self {
        Self {
            host,
            by_label_set: HashMap::new(),
            overflow: None,
        }
    }

    /// Another config has other dimensions: its label sets are new keys anyway.
    fn clear(&mut self) {
        self.by_label_set.clear();
        self.overflow = None;
    }

    fn series_for(&mut self, config: &MetricsConfig, labels: &LabelSet) -> Series {
        let key = labels.encoded();
        if let Some(series) = self.by_label_set.get(&key) {
            return *series;
        }
        if host::label_set_cap::admit(
            &self.host,
            admitted_label_sets_key(config.naming),
            fingerprint(&key),
            config.max_label_sets,
        ) {
            let series = self.define(config.naming, labels);
            self.by_label_set.insert(key, series);
            series
        } else if let Some(overflow) = self.overflow {
            // Not cached under the request's key: that would grow without bound.
            overflow
        } else {
            let overflow = self.define(config.naming, &LabelSet::overflow(config));
            self.overflow = Some(overflow);
            overflow
        }
    }

    fn define(&self, naming: Naming, labels: &LabelSet) -> Series {
        let mut series = [None; MAX_METRICS];
        for (id, metric) in series.iter_mut().zip(naming.metrics()) {
            let name = names::stat_name(labels, metric.name);
            let kind = match metric.kind {
                MetricKind::Counter => MetricType::Counter,
                MetricKind::Histogram => MetricType::Histogram,
            };
            *id = self
                .host
                .define_metric(kind, &name)
                .inspect_err(|status| log::error!("cannot define {kind:?} {name}: {status:?}"))
                .ok();
        }
        series
    }

    /// One host call per metric: `increment_metric` for a counter, `record_metric` for a
    /// histogram.
    fn record(&self, naming: Naming, series: &Series, host: &impl StreamHost) {
        for (id, metric) in series.iter().zip(naming.metrics()) {
            let (Some(id), Some(value)) = (id, measure(host, metric.measure)) else {
                continue;
            };
            let recorded = match metric.kind {
                MetricKind::Counter => self.host.increment_metric(*id, value),
                MetricKind::Histogram => self
                    .host
                    .record_metric(*id, u64::try_from(value).unwrap_or(0)),
            };
            if let Err(status) = recorded {
                log::warn!("cannot record metric {id}: {status:?}");
            }
        }
    }
}

struct MetricsStream<V: VmHost = ProxyWasm> {
    config: Option<Rc<MetricsConfig>>,
    workload: Option<Rc<Workload>>,
    shared: Option<Rc<MetricsShared<V>>>,
}

impl Context for MetricsStream {}

impl HttpContext for MetricsStream {
    fn on_log(&mut self) {
        let _in = host::in_callback("on_log");
        self.on_log_event(&ProxyWasm);
    }
}

/// What `measure` is for the finished request; `None` when Envoy does not say. The request
/// itself costs no host call.
fn measure(host: &impl StreamHost, measure: Measure) -> Option<i64> {
    match measure {
        Measure::Request => Some(1),
        Measure::DurationMs => {
            get_i64(host, &["request", "duration"]).map(|nanos| nanos / NANOS_PER_MILLI)
        }
        Measure::RequestBytes => get_i64(host, &["request", "total_size"]),
        Measure::ResponseBytes => get_i64(host, &["response", "total_size"]),
    }
}

/// A string attribute or property, decoded losslessly ([`raw_text`]).
fn get_string(host: &impl StreamHost, path: &[&str]) -> Option<String> {
    host.property(path).map(raw_text::decode_owned)
}

/// An integer attribute, which Envoy encodes as 8 little-endian bytes (durations in ns too).
fn get_i64(host: &impl StreamHost, path: &[&str]) -> Option<i64> {
    let raw: [u8; 8] = host.property(path)?.try_into().ok()?;
    Some(i64::from_le_bytes(raw))
}

/// The stream logic, over any host (Envoy's, or the fakes in the tests).
impl<V: VmHost> MetricsStream<V> {
    /// The finished request: its labels, their series (defined on first use), one record per
    /// metric.
    fn on_log_event(&self, host: &impl StreamHost) {
        let (Some(config), Some(workload), Some(shared)) =
            (&self.config, &self.workload, &self.shared)
        else {
            return;
        };
        let facts = request_facts(config, host);
        let labels = LabelSet::of_request(config, workload, &facts);
        let mut series = shared.series.borrow_mut();
        let ids = series.series_for(config, &labels);
        series.record(config.naming, &ids, host);
    }
}

/// What the labels of `config`'s naming mode and dimensions need to know of the request: an
/// attribute no label reads is not asked for (each is a host call).
fn request_facts(config: &MetricsConfig, host: &impl StreamHost) -> RequestFacts {
    let labels = config.naming.labels();
    let principal = |attribute: &str| {
        (config.naming == Naming::Istio)
            .then(|| get_string(host, &["upstream", attribute]).filter(|value| !value.is_empty()))
            .flatten()
    };
    // The router's one property (absent without the router, or with its `publishRoute`
    // off); a value that does not decode counts as absent.
    let route = get_string(host, &[route_properties::ROUTE])
        .and_then(|value| PublishedRoute::decode(&value));
    let route_name = match &route {
        Some(route) => Some(route.route_name.clone()),
        None => get_string(host, &["xds", "route_name"]),
    }
    .filter(|name| !name.is_empty());
    // The router's cluster is the one Envoy's `cluster_header` route went to: no read for it.
    let cluster = match &route {
        Some(route) => Some(route.cluster.clone()),
        None => get_string(host, &["xds", "cluster_name"]),
    }
    .filter(|name| !name.is_empty());
    // One or two request headers at most (content-type, request-header dimensions): each a
    // single-value lookup, not a read of the whole map.
    let request = host.sparse_request();
    let content_type = request
        .first_header_value("content-type")
        .map(Cow::into_owned);
    // `grpc_response_status` is empty for anything but gRPC: no read for the rest.
    let is_grpc = content_type
        .as_deref()
        .is_some_and(|content_type| content_type.starts_with("application/grpc"));
    RequestFacts {
        method: labels
            .contains(&"request_method")
            .then(|| get_string(host, &["request", "method"]))
            .flatten(),
        content_type,
        response_code: get_i64(host, &["response", "code"]),
        grpc_status: (is_grpc && labels.contains(&"grpc_response_status"))
            .then(|| get_i64(host, &["response", "grpc_status"]))
            .flatten(),
        response_flags: get_i64(host, &["response", "flags"]).map_or(0, i64::cast_unsigned),
        cluster,
        route_name,
        virtual_service: route.map(|route| route.virtual_service),
        // Only Istio's full label set has principals: two reads the other modes skip.
        local_principal: principal("uri_san_local_certificate"),
        peer_principal: principal("uri_san_peer_certificate"),
        dimensions: config
            .dimension_sources
            .iter()
            .map(|source| dimension(source, host, &request))
            .collect(),
    }
}

fn dimension(
    source: &DimensionSource,
    host: &impl StreamHost,
    request: &impl RequestView,
) -> Option<String> {
    match source {
        DimensionSource::RequestHeader(name) => request.header(name).map(Cow::into_owned),
        DimensionSource::ResponseHeader(name) => host.response().header(name).map(Cow::into_owned),
        DimensionSource::Attribute { path, value_type } => {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            value_type.render(&host.property(&path)?)
        }
    }
}

#[cfg(test)]
mod tests;
