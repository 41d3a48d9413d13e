//! A route's mirrors: the clusters that get a copy of a share of its requests.

use crate::error::FieldPath;
use crate::percentage::{FractionalPercent, PercentSpec};
use crate::virtual_service::{Destination, HttpRoute, NamedVirtualService, RouterConfig};
use crate::ConfigError;

use super::destination_cluster::destination_cluster;
use super::service_ports::ServicePorts;

/// `mirror` with `mirrorPercentage` (100% when unset), or `mirrors`; never both. A mirror to a
/// service the registry does not have is left out (with a warning).
pub(super) fn compile_mirrors(
    http: &HttpRoute,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &mut ServicePorts,
    path: &FieldPath,
) -> Result<Vec<(String, FractionalPercent)>, ConfigError> {
    let percentage = |spec: Option<&PercentSpec>, path: &FieldPath| {
        spec.map_or(Ok(FractionalPercent::ALL), |spec| {
            FractionalPercent::from_istio_mirror(spec.value, path)
        })
    };
    let mut mirrors = Vec::new();
    let mut add = |destination: &Destination,
                   destination_path: FieldPath,
                   share: FractionalPercent|
     -> Result<(), ConfigError> {
        match destination_cluster(
            destination,
            virtual_service,
            config,
            service_ports,
            &destination_path,
        )? {
            (cluster, None) => mirrors.push((cluster, share)),
            (cluster, Some(reason)) => {
                service_ports.unknown_mirror(&cluster, &destination_path, &reason)
            }
        }
        Ok(())
    };
    match (&http.mirror, http.mirrors.is_empty()) {
        (Some(_), false) => {
            return Err(path.error("only one of mirror or mirrors may be set"));
        }
        (Some(mirror), true) => {
            let share = match (&http.mirror_percentage, http.mirror_percent) {
                (Some(spec), _) => percentage(Some(spec), &path.field("mirrorPercentage"))?,
                (None, Some(percent)) => FractionalPercent::per_hundred(
                    i32::try_from(percent).unwrap_or(i32::MAX),
                    &path.field("mirrorPercent"),
                )?,
                (None, None) => FractionalPercent::ALL,
            };
            add(mirror, path.field("mirror"), share)?;
        }
        (None, _) => {
            for (index, mirror) in http.mirrors.iter().enumerate() {
                let mirror_path = path.field("mirrors").index(index);
                let share =
                    percentage(mirror.percentage.as_ref(), &mirror_path.field("percentage"))?;
                add(&mirror.destination, mirror_path.field("destination"), share)?;
            }
        }
    }
    Ok(mirrors)
}
