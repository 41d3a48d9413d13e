//! Destination ports as Istio resolves them, from the ports of each service (`servicePorts`),
//! which the router cannot see for itself: Istio's registry (Kubernetes Services, ServiceEntries)
//! lives outside the request.
//!
//! Istio's `GetDestinationCluster` takes the destination's own port, else the service's only
//! port. A service with several ports and a destination naming none is refused here, as
//! `istioctl analyze` flags it (IST0112), rather than silently sent to the listener's port as
//! pilot does. A service the registry does not have has no cluster in Istio: Envoy answers 503
//! (`NC`, `cluster_not_found`); here the config reports it as a warning and the router answers
//! 503 with [`UNKNOWN_SERVICE_DETAILS`], which names the cause in the access log.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::{ConfigWarning, FieldPath};
use crate::ConfigError;

/// `%RESPONSE_CODE_DETAILS%` of the 503 for a destination that is not a known service port.
pub const UNKNOWN_SERVICE_DETAILS: &str = "router_unknown_service";

/// The registry of a config, and what compiling the destinations against it found.
#[derive(Debug, Default)]
pub(super) struct ServicePorts {
    /// Lower-cased fully-qualified host → its ports; `None` without `servicePorts`, when every
    /// destination is taken as it is (its port, else `defaultPort`) and none is unknown.
    ports: Option<HashMap<String, Vec<u16>>>,
    pub(super) warnings: Vec<ConfigWarning>,
    /// Route clusters no service has: requests picked for them get the 503.
    pub(super) unknown_clusters: HashSet<String>,
}

/// How a destination's port resolved.
pub(super) enum Resolution {
    Known(u16),
    /// Not in the registry: the port the cluster name gets, and why it is unknown.
    Unknown {
        port: u16,
        reason: String,
    },
}

impl ServicePorts {
    /// Checks `servicePorts`: fully-qualified hosts (a short name would depend on the
    /// namespace of each VirtualService that names it), each with at least one port.
    pub(super) fn compile(
        spec: Option<&BTreeMap<String, Vec<u32>>>,
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        let Some(spec) = spec else {
            return Ok(Self::default());
        };
        let mut ports = HashMap::with_capacity(spec.len());
        for (host, numbers) in spec {
            let host_path = path.field(&format!("{host:?}"));
            if !host.contains('.') {
                return Err(host_path.error(format!(
                    "host {host:?} must be fully qualified, e.g. {host}.default.svc.cluster.local"
                )));
            }
            if numbers.is_empty() {
                return Err(host_path.error("a service has at least one port"));
            }
            let mut service_ports: Vec<u16> = Vec::with_capacity(numbers.len());
            for (index, number) in numbers.iter().enumerate() {
                let port = host_path.index(index).port(*number)?;
                if !service_ports.contains(&port) {
                    service_ports.push(port);
                }
            }
            if ports
                .insert(host.to_ascii_lowercase(), service_ports)
                .is_some()
            {
                return Err(host_path.error("host listed twice (hosts are case-insensitive)"));
            }
        }
        Ok(Self {
            ports: Some(ports),
            ..Self::default()
        })
    }

    /// The port for a destination at `path` to `fqdn`: its own (`port`), else the service's
    /// only one; `default_port` when there is no registry or the service is not in it.
    pub(super) fn resolve(
        &self,
        fqdn: &str,
        port: Option<u16>,
        default_port: u16,
        path: &FieldPath,
    ) -> Result<Resolution, ConfigError> {
        let Some(registry) = &self.ports else {
            return Ok(Resolution::Known(port.unwrap_or(default_port)));
        };
        let Some(service_ports) = registry.get(&fqdn.to_ascii_lowercase()) else {
            return Ok(Resolution::Unknown {
                port: port.unwrap_or(default_port),
                reason: format!("service {fqdn} is not in servicePorts"),
            });
        };
        match (port, service_ports.as_slice()) {
            (Some(port), _) if service_ports.contains(&port) => Ok(Resolution::Known(port)),
            (Some(port), _) => Ok(Resolution::Unknown {
                port,
                reason: format!(
                    "service {fqdn} has no port {port} (ports {})",
                    list(service_ports)
                ),
            }),
            (None, [only]) => Ok(Resolution::Known(*only)),
            (None, _) => Err(path.field("port").error(format!(
                "service {fqdn} has ports {}; name one",
                list(service_ports)
            ))),
        }
    }

    /// Records a route destination that no service has: a warning, and the 503 for it.
    pub(super) fn unknown_route(&mut self, cluster: &str, path: &FieldPath, reason: &str) {
        self.warnings.push(path.warning(format!(
            "{reason}; requests routed to {cluster} answer 503 ({UNKNOWN_SERVICE_DETAILS})"
        )));
        self.unknown_clusters.insert(cluster.to_owned());
    }

    /// Records a mirror that no service has: it is left out, as Envoy skips a shadow cluster
    /// it does not have.
    pub(super) fn unknown_mirror(&mut self, cluster: &str, path: &FieldPath, reason: &str) {
        self.warnings
            .push(path.warning(format!("{reason}; the mirror to {cluster} is skipped")));
    }
}

fn list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn registry(entries: &[(&str, &[u32])]) -> Result<ServicePorts, ConfigError> {
        let spec: BTreeMap<String, Vec<u32>> = entries
            .iter()
            .map(|(host, ports)| ((*host).to_owned(), ports.to_vec()))
            .collect();
        ServicePorts::compile(Some(&spec), &FieldPath::root().field("servicePorts"))
    }

    fn port(resolution: Resolution) -> Result<u16, String> {
        match resolution {
            Resolution::Known(port) => Ok(port),
            Resolution::Unknown { reason, .. } => Err(reason),
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_only_port_is_taken_and_a_named_one_must_exist() {
        let ports = registry(&[
            ("Reviews.default.svc.cluster.local", &[9080]),
            ("api.example.com", &[80, 443, 80]),
        ])
        .expect("valid");
        let at = FieldPath::root().field("destination");
        let resolve = |host, port| ports.resolve(host, port, 80, &at).map(self::port);
        assert_eq!(
            resolve("reviews.default.svc.cluster.local", None),
            Ok(Ok(9080))
        );
        assert_eq!(
            resolve("reviews.default.svc.cluster.local", Some(9080)),
            Ok(Ok(9080))
        );
        assert_eq!(resolve("api.example.com", Some(443)), Ok(Ok(443)));
        assert_eq!(
            resolve("reviews.default.svc.cluster.local", Some(9443)),
            Ok(Err(
                "service reviews.default.svc.cluster.local has no port 9443 (ports 9080)".into()
            ))
        );
        assert_eq!(
            resolve("ratings.default.svc.cluster.local", None),
            Ok(Err(
                "service ratings.default.svc.cluster.local is not in servicePorts".into()
            ))
        );
        assert_eq!(
            resolve("api.example.com", None)
                .expect_err("ambiguous")
                .to_string(),
            "destination.port: service api.example.com has ports 80, 443; name one"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn without_a_registry_every_destination_is_taken_as_it_is() {
        let ports = ServicePorts::compile(None, &FieldPath::root()).expect("valid");
        let at = FieldPath::root();
        assert_eq!(ports.resolve("a.b", None, 80, &at).map(port), Ok(Ok(80)));
        assert_eq!(
            ports.resolve("a.b", Some(8080), 80, &at).map(port),
            Ok(Ok(8080))
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_registries_are_refused_naming_the_host() {
        let error =
            |entries: &[(&str, &[u32])]| registry(entries).expect_err("refused").to_string();
        assert_eq!(
            error(&[("reviews", &[9080])]),
            "servicePorts.\"reviews\": host \"reviews\" must be fully qualified, e.g. reviews.default.svc.cluster.local"
        );
        assert_eq!(
            error(&[("a.b", &[])]),
            "servicePorts.\"a.b\": a service has at least one port"
        );
        assert_eq!(
            error(&[("a.b", &[80, 70000])]),
            "servicePorts.\"a.b\"[1]: port 70000 must be in 1..65535"
        );
        assert_eq!(
            error(&[("a.b", &[80]), ("A.b", &[81])]),
            "servicePorts.\"a.b\": host listed twice (hosts are case-insensitive)"
        );
    }

    /// Through the whole router config: Bookinfo's portless destinations, a warning and the
    /// 503 for an unknown service, mirrors resolved (or skipped) the same way.
    mod through_the_route_table {
        use super::super::super::{Decision, RouteTable, UNKNOWN_SERVICE_DETAILS};
        use crate::request::HeaderList;
        use wasm_bindgen_test::wasm_bindgen_test;

        fn config(http: &str, service_ports: &str) -> String {
            format!(
                r#"{{"virtualServices": [{{"name": "reviews", "namespace": "bookinfo",
                     "spec": {{"hosts": ["reviews"], "http": {http}}}}}],
                   "servicePorts": {service_ports}}}"#
            )
        }

        const PORTS: &str = r#"{"reviews.bookinfo.svc.cluster.local": [9080],
            "ratings.bookinfo.svc.cluster.local": [9080, 9443]}"#;

        fn decide(table: &RouteTable) -> Decision<'_> {
            table.select(
                &HeaderList::get("reviews.bookinfo.svc.cluster.local", "/"),
                &mut || 0,
            )
        }

        #[wasm_bindgen_test(unsupported = test)]
        fn a_portless_destination_takes_the_service_port_and_mirrors_too() {
            let http = r#"[{"route": [{"destination": {"host": "reviews", "subset": "v1"}}],
                "mirror": {"host": "reviews", "subset": "v2"}}]"#;
            let table = RouteTable::from_json(config(http, PORTS).as_bytes()).expect("valid");
            assert!(table.warnings().is_empty(), "{:?}", table.warnings());
            match decide(&table) {
                Decision::Forward(forward) => {
                    assert_eq!(
                        forward.cluster,
                        "outbound|9080|v1|reviews.bookinfo.svc.cluster.local"
                    );
                    assert_eq!(
                        forward.mirrors,
                        ["outbound|9080|v2|reviews.bookinfo.svc.cluster.local"]
                    );
                }
                other => panic!("expected a forward, got {other:?}"),
            }
        }

        #[wasm_bindgen_test(unsupported = test)]
        fn several_ports_and_none_named_is_an_error_naming_the_field() {
            let http = r#"[{"route": [{"destination": {"host": "ratings"}}]}]"#;
            let error = RouteTable::from_json(config(http, PORTS).as_bytes())
                .expect_err("ambiguous")
                .to_string();
            assert_eq!(
                error,
                "virtualServices[0].spec.http[0].route[0].destination.port: \
                 service ratings.bookinfo.svc.cluster.local has ports 9080, 9443; name one"
            );
            let mirror = r#"[{"route": [{"destination": {"host": "reviews"}}],
                "mirrors": [{"destination": {"host": "ratings"}}]}]"#;
            let error = RouteTable::from_json(config(mirror, PORTS).as_bytes())
                .expect_err("ambiguous mirror")
                .to_string();
            assert!(
                error.starts_with("virtualServices[0].spec.http[0].mirrors[0].destination.port:"),
                "{error}"
            );
        }

        #[wasm_bindgen_test(unsupported = test)]
        fn an_unknown_service_is_a_warning_and_a_503() {
            let http = r#"[{"route": [{"destination": {"host": "details"}}],
                "mirror": {"host": "reviews", "port": {"number": 9090}}}]"#;
            let table = RouteTable::from_json(config(http, PORTS).as_bytes()).expect("valid");
            let warnings: Vec<String> = table.warnings().iter().map(ToString::to_string).collect();
            assert_eq!(
                warnings,
                [
                    format!(
                        "virtualServices[0].spec.http[0].route[0].destination: service \
                         details.bookinfo.svc.cluster.local is not in servicePorts; requests \
                         routed to outbound|80||details.bookinfo.svc.cluster.local answer 503 \
                         ({UNKNOWN_SERVICE_DETAILS})"
                    ),
                    "virtualServices[0].spec.http[0].mirror: service \
                     reviews.bookinfo.svc.cluster.local has no port 9090 (ports 9080); the \
                     mirror to outbound|9090||reviews.bookinfo.svc.cluster.local is skipped"
                        .to_owned(),
                ]
            );
            assert!(matches!(
                decide(&table),
                Decision::UnknownService {
                    cluster: "outbound|80||details.bookinfo.svc.cluster.local",
                    ..
                }
            ));
        }

        #[wasm_bindgen_test(unsupported = test)]
        fn without_service_ports_the_default_port_stays() {
            let http = r#"[{"route": [{"destination": {"host": "details"}}]}]"#;
            let json = format!(
                r#"{{"virtualServices": [{{"name": "d", "namespace": "bookinfo",
                     "spec": {{"hosts": ["reviews"], "http": {http}}}}}], "defaultPort": 9080}}"#
            );
            let table = RouteTable::from_json(json.as_bytes()).expect("valid");
            assert!(table.warnings().is_empty());
            match decide(&table) {
                Decision::Forward(forward) => assert_eq!(
                    forward.cluster,
                    "outbound|9080||details.bookinfo.svc.cluster.local"
                ),
                other => panic!("expected a forward, got {other:?}"),
            }
        }

        #[wasm_bindgen_test(unsupported = test)]
        fn the_mesh_gateway_takes_virtual_services_without_gateways() {
            let json = r#"{"virtualServices": [
                {"name": "reviews", "namespace": "bookinfo", "spec": {"hosts": ["reviews"],
                 "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}},
                {"name": "ingress", "namespace": "bookinfo", "spec": {"hosts": ["reviews"],
                 "gateways": ["bookinfo-gateway"],
                 "http": [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}}],
              "servicePorts": {"reviews.bookinfo.svc.cluster.local": [9080]}}"#;
            let cluster = |gateway: &str| {
                let config = json.replacen(
                    r#""servicePorts""#,
                    &format!(r#""gateway": "{gateway}", "servicePorts""#),
                    1,
                );
                let table = RouteTable::from_json(config.as_bytes()).expect("valid");
                match decide(&table) {
                    Decision::Forward(forward) => forward.cluster.to_owned(),
                    other => format!("{other:?}"),
                }
            };
            assert_eq!(
                cluster("mesh"),
                "outbound|9080|v1|reviews.bookinfo.svc.cluster.local"
            );
            assert_eq!(
                cluster("bookinfo/bookinfo-gateway"),
                "outbound|9080|v2|reviews.bookinfo.svc.cluster.local"
            );
        }
    }
}
