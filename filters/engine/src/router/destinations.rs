//! Weighted destinations: each gets `weight / total` of the requests, as Envoy's
//! `weighted_clusters` does.

use std::sync::Arc;

use crate::error::FieldPath;
use crate::interner::Interner;
use crate::virtual_service::{HttpRoute, NamedVirtualService, RouterConfig};
use crate::ConfigError;

use super::destination_cluster::destination_cluster;
use super::route_headers::{CompactHeaders, RouteHeaders};
use super::service_ports::ServicePorts;

/// The clusters of one route with their weights; a single destination takes everything.
#[derive(Debug, Clone)]
pub struct WeightedClusters {
    /// Ascending by cumulative weight; the last cumulative weight is the total.
    cumulative: Vec<WeightedCluster>,
}

#[derive(Debug, Clone)]
pub struct WeightedCluster {
    /// Shared with every other route to the same cluster.
    pub cluster: Arc<str>,
    /// The destination's own `headers`.
    pub headers: CompactHeaders,
    upper: u64,
}

impl WeightedClusters {
    /// Validates weights as Istio does: none negative and, with several destinations, a
    /// positive total. `weights` are `None` where the config gave none.
    pub fn new(
        destinations: Vec<(Arc<str>, Option<i64>, RouteHeaders)>,
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        if destinations.is_empty() {
            return Err(path.error("at least one destination is required"));
        }
        let single = destinations.len() == 1;
        let mut total: u64 = 0;
        let mut cumulative = Vec::with_capacity(destinations.len());
        for (index, (cluster, weight, headers)) in destinations.into_iter().enumerate() {
            let weight = match weight {
                Some(weight) if weight < 0 => {
                    return Err(path
                        .index(index)
                        .field("weight")
                        .error(format!("weight {weight} < 0")))
                }
                Some(weight) => weight.unsigned_abs(),
                None => 0,
            };
            total += if single { 1 } else { weight };
            cumulative.push(WeightedCluster {
                cluster,
                headers: CompactHeaders::new(headers),
                upper: total,
            });
        }
        if total == 0 {
            return Err(path.error("total destination weight = 0"));
        }
        Ok(Self { cumulative })
    }

    /// The cluster for a draw; `draw` is uniform over `u64` (random, or a hash for sticky
    /// splits), reduced to `0..total`.
    pub fn pick(&self, draw: u64) -> Option<&WeightedCluster> {
        let point = draw % self.total();
        self.cumulative
            .iter()
            .find(|destination| point < destination.upper)
            .or(self.cumulative.last())
    }

    /// For a route with one destination, takes that destination's `headers` (leaving none),
    /// for the route to merge into its own as pilot does.
    pub fn take_single_headers(&mut self) -> Option<RouteHeaders> {
        match self.cumulative.as_mut_slice() {
            [single] => Some(single.headers.take()),
            _ => None,
        }
    }

    pub fn total(&self) -> u64 {
        self.cumulative
            .last()
            .map_or(1, |destination| destination.upper.max(1))
    }
}

/// A route's `route` destinations as weighted clusters; a destination no service in
/// `servicePorts` has is kept, and reported.
pub(super) fn compile_destinations(
    http: &HttpRoute,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &mut ServicePorts,
    names: &mut Interner<str>,
    path: &FieldPath,
) -> Result<WeightedClusters, ConfigError> {
    let route_path = path.field("route");
    let mut destinations = Vec::with_capacity(http.route.len());
    for (index, weighted) in http.route.iter().enumerate() {
        let destination_path = route_path.index(index).field("destination");
        let cluster = match destination_cluster(
            &weighted.destination,
            virtual_service,
            config,
            service_ports,
            &destination_path,
        )? {
            (cluster, None) => cluster,
            (cluster, Some(reason)) => {
                service_ports.unknown_route(&cluster, &destination_path, &reason);
                cluster
            }
        };
        destinations.push((
            names.intern(&cluster),
            weighted.weight,
            RouteHeaders::compile(
                weighted.headers.as_ref(),
                &route_path.index(index).field("headers"),
                &mut Vec::new(),
            )?,
        ));
    }
    WeightedClusters::new(destinations, &route_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn clusters(weights: &[Option<i64>]) -> Result<WeightedClusters, ConfigError> {
        let destinations = weights
            .iter()
            .enumerate()
            .map(|(index, weight)| (format!("c{index}").into(), *weight, RouteHeaders::default()))
            .collect();
        WeightedClusters::new(destinations, &FieldPath::root().field("route"))
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn shares_follow_weights() {
        let split = clusters(&[Some(20), Some(30), Some(50)]).expect("valid");
        let mut counts = [0usize; 3];
        for draw in 0..100u64 {
            let cluster = &split.pick(draw).expect("a destination").cluster;
            let index: usize = cluster[1..].parse().expect("index");
            counts[index] += 1;
        }
        assert_eq!(counts, [20, 30, 50]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn zero_weight_gets_nothing_and_a_single_destination_gets_everything() {
        let split = clusters(&[Some(0), Some(1)]).expect("valid");
        let pick = |split: &WeightedClusters, draw| {
            split.pick(draw).expect("a destination").cluster.to_string()
        };
        assert!((0..1000).all(|draw| pick(&split, draw) == "c1"));
        let single = clusters(&[Some(0)]).expect("a lone destination ignores its weight");
        assert_eq!(pick(&single, u64::MAX), "c0");
        let unweighted = clusters(&[None]).expect("valid");
        assert_eq!(pick(&unweighted, 7), "c0");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn istio_weight_rules_are_enforced() {
        assert_eq!(
            clusters(&[Some(50), Some(-1)])
                .expect_err("negative")
                .to_string(),
            "route[1].weight: weight -1 < 0"
        );
        assert_eq!(
            clusters(&[Some(0), Some(0)])
                .expect_err("zero total")
                .to_string(),
            "route: total destination weight = 0"
        );
        assert_eq!(
            clusters(&[None, None]).expect_err("zero total").to_string(),
            "route: total destination weight = 0"
        );
    }
}
