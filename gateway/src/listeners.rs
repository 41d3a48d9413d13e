//! One served chain ([`crate::servers::Chain`]) as Envoy's: a connection manager with the
//! chain's filters and the router's route, virtual hosts for its hosts (`require_tls` for the
//! `httpsRedirect` ones), and for an HTTPS server the `DownstreamTlsContext` pilot writes
//! (`BuildListenerTLSContext`): ALPN h2 and http/1.1, the server certificate, the client CA for
//! `MUTUAL` and `OPTIONAL_MUTUAL`, the protocol versions and cipher suites.

use std::path::Path;

use envoy_runner::{DownstreamTls, HttpFilter, Listener, RouteConfig};
use serde_json::{json, Map, Value};

use crate::cluster_policy::{data_source, subject_alt_name_matchers};
use crate::kinds::gateway::{ServerTls, TlsMode};
use crate::servers::Chain;

/// The Envoy listener (one filter chain) for `chain`, named `name`, for Gateway port
/// `server_port` served on `local_port` (0 when Envoy picks it).
pub fn chain(
    name: &str,
    server_port: u32,
    local_port: u16,
    chain: &Chain<'_>,
    filters: Vec<HttpFilter>,
    hash_policy: &[Value],
    access_log: Option<&Path>,
) -> Listener {
    let mut route_config = RouteConfig::for_router();
    // Consistent hashing: the key is the route's, and the router's cluster_header routes (one
    // per retry policy, see `envoy_runner::router_routes`) serve every cluster, so each carries
    // every DestinationRule's key; a cluster without a hash load balancer ignores it.
    if !hash_policy.is_empty() {
        let routes = route_config
            .0
            .pointer_mut("/virtual_hosts/0/routes")
            .and_then(Value::as_array_mut);
        for route in routes.into_iter().flatten() {
            route["route"]["hash_policy"] = Value::from(hash_policy.to_vec());
        }
    }
    let template = route_config
        .0
        .pointer("/virtual_hosts/0")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let plain: Vec<String> = chain
        .hosts
        .iter()
        .filter(|host| !chain.redirect_hosts.contains(host))
        .cloned()
        .collect();
    let mut virtual_hosts = Vec::new();
    if !plain.is_empty() {
        let mut virtual_host = template.clone();
        virtual_host["name"] = json!(format!("gateway:{server_port}"));
        virtual_host["domains"] = Value::from(domains(&plain, server_port, local_port));
        virtual_hosts.push(virtual_host);
    }
    if !chain.redirect_hosts.is_empty() {
        // pilot's `httpsRedirect`: `require_tls: ALL`, Envoy answers 301 to https.
        let mut virtual_host = template;
        virtual_host["name"] = json!(format!("gateway:{server_port}:https-redirect"));
        virtual_host["domains"] =
            Value::from(domains(&chain.redirect_hosts, server_port, local_port));
        virtual_host["require_tls"] = json!("ALL");
        virtual_hosts.push(virtual_host);
    }
    route_config.0["virtual_hosts"] = Value::from(virtual_hosts);
    // istio-ingressgateway's connection manager defaults come with every harness listener;
    // the client's route headers are stripped before routing as on the rendered manifests.
    let mut listener = Listener::new(name, route_config)
        .port(local_port)
        .extra(envoy_runner::gateway_defaults::strip_route_headers())
        .upstream_filter(envoy_runner::gateway_defaults::strip_route_authority());
    if let Some(path) = access_log {
        listener = listener.extra(crate::access_log::connection_manager_patch(path));
    }
    for filter in filters {
        listener = listener.filter(filter);
    }
    if let Some((tls, server_names)) = &chain.tls {
        listener = listener.tls(DownstreamTls {
            context: downstream_tls_context(tls),
            server_names: server_names.clone(),
        });
    }
    listener
}

/// pilot's `BuildListenerTLSContext` for a gateway server that terminates TLS.
pub fn downstream_tls_context(tls: &ServerTls) -> Value {
    let mut common = Map::new();
    common.insert("alpn_protocols".into(), json!(["h2", "http/1.1"]));
    if let Some((certificate, key)) = &tls.certificate {
        common.insert(
            "tls_certificates".into(),
            json!([{
                "certificate_chain": data_source(certificate),
                "private_key": data_source(key),
            }]),
        );
    }
    if tls.mode.verifies_clients() {
        let mut validation = Map::new();
        if let Some(ca) = &tls.ca_certificates {
            validation.insert("trusted_ca".into(), data_source(ca));
        }
        if !tls.subject_alt_names.is_empty() {
            validation.insert(
                "match_typed_subject_alt_names".into(),
                subject_alt_name_matchers(&tls.subject_alt_names),
            );
        }
        if !tls.verify_certificate_spki.is_empty() {
            validation.insert(
                "verify_certificate_spki".into(),
                json!(tls.verify_certificate_spki),
            );
        }
        if !tls.verify_certificate_hash.is_empty() {
            validation.insert(
                "verify_certificate_hash".into(),
                json!(tls.verify_certificate_hash),
            );
        }
        common.insert("validation_context".into(), Value::Object(validation));
    }
    let mut params = Map::new();
    if let Some(version) = tls.min_protocol_version {
        params.insert("tls_minimum_protocol_version".into(), json!(version));
    }
    if let Some(version) = tls.max_protocol_version {
        params.insert("tls_maximum_protocol_version".into(), json!(version));
    }
    if !tls.cipher_suites.is_empty() {
        params.insert("cipher_suites".into(), json!(tls.cipher_suites));
    }
    if !params.is_empty() {
        common.insert("tls_params".into(), Value::Object(params));
    }
    json!({
        "common_tls_context": common,
        // OPTIONAL_MUTUAL asks for a client certificate and checks one that is sent, but lets a
        // client without one in (unless a SAN, SPKI or hash pin makes Envoy require it).
        "require_client_certificate": tls.mode == TlsMode::Mutual,
    })
}

/// The virtual host's domains: each Gateway host alone and with a port, since Envoy matches
/// `Host` with its port (a client of 127.0.0.1:PORT sends `host:PORT`).
pub fn domains(hosts: &[String], server_port: u32, listen_port: u16) -> Vec<String> {
    let mut domains: Vec<String> = Vec::new();
    let mut add = |domain: String| {
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    };
    for host in hosts {
        add(host.clone());
        if host == "*" {
            continue;
        }
        if host.starts_with('*') {
            // One wildcard per domain: `*.example.com:*` would have two.
            add(format!("{host}:{server_port}"));
            add(format!("{host}:{listen_port}"));
        } else {
            add(format!("{host}:*"));
        }
    }
    domains
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::traffic_policy::Source;

    #[test]
    fn domains_cover_hosts_with_and_without_ports() {
        let hosts = vec!["shop.example.com".to_string(), "*.example.org".to_string()];
        assert_eq!(
            domains(&hosts, 80, 8080),
            [
                "shop.example.com",
                "shop.example.com:*",
                "*.example.org",
                "*.example.org:80",
                "*.example.org:8080"
            ]
        );
    }

    #[test]
    fn a_mutual_server_asks_for_a_client_certificate_and_checks_it() {
        let tls = ServerTls {
            mode: TlsMode::Mutual,
            certificate: Some((Source::Inline("CERT".into()), Source::File("k.pem".into()))),
            ca_certificates: Some(Source::Inline("CA".into())),
            subject_alt_names: vec!["client.example.com".into()],
            min_protocol_version: Some("TLSv1_3"),
            ..ServerTls::default()
        };
        let context = downstream_tls_context(&tls);
        assert_eq!(context["require_client_certificate"], true);
        let common = &context["common_tls_context"];
        assert_eq!(common["alpn_protocols"], json!(["h2", "http/1.1"]));
        assert_eq!(
            common["tls_certificates"][0]["private_key"]["filename"],
            "k.pem"
        );
        assert_eq!(
            common["validation_context"]["trusted_ca"]["inline_string"],
            "CA"
        );
        assert_eq!(
            common["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]["exact"],
            "client.example.com"
        );
        assert_eq!(
            common["tls_params"]["tls_minimum_protocol_version"],
            "TLSv1_3"
        );
        let simple = downstream_tls_context(&ServerTls {
            mode: TlsMode::Simple,
            ..tls
        });
        assert_eq!(simple["require_client_certificate"], false);
        assert!(simple["common_tls_context"]
            .get("validation_context")
            .is_none());
    }
}
