//! From a config directory to the Envoy that stands in for istio-ingressgateway: resources
//! read and checked, modules fetched, the filter chain ordered, clusters and listener built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distribution::agent::cache::ModuleCache;
use envoy_runner::{Bootstrap, HttpFilter, Listener, RouteConfig};
use serde_json::{json, Value};

use crate::error::{Errors, ResourceError};
use crate::kinds::destination_rule::{self, DestinationRule};
use crate::kinds::extension::{self, Code, Extension};
use crate::kinds::gateway::{self, Gateway, Server};
use crate::kinds::secret::{self, Secret};
use crate::kinds::service::{self, Service};
use crate::kinds::service_entry::{self, ServiceEntry};
use crate::kinds::virtual_service::{self, VirtualService};
use crate::plugins;
use crate::resources;
use crate::service_ports;

/// The name of the gateway's listener (and the stat prefix of its connection manager).
pub const LISTENER: &str = "gateway";

pub struct Options {
    pub config_dir: PathBuf,
    /// Where the first HTTP server of the Gateway is served, on 127.0.0.1; 0 picks a free port.
    pub port: u16,
    /// Envoy's admin interface, on 127.0.0.1; 0 picks a free port.
    pub admin_port: u16,
    pub cache_dir: PathBuf,
    /// `namespace/name` (or name) of the Gateway to serve, default the first with a plain HTTP
    /// server; [`MESH`] binds the router to the mesh instead (see README).
    pub gateway: Option<String>,
    /// Where Envoy writes Istio's access log ([`crate::access_log`]); `None` for no access log.
    pub access_log: Option<PathBuf>,
}

/// Istio's name for the sidecars as a gateway: VirtualServices without `gateways` bind to it.
pub const MESH: &str = "mesh";

/// What to start, and what to tell the user about it.
pub struct Plan {
    pub bootstrap: Bootstrap,
    /// One line per filter of the chain and per cluster, in order.
    pub summary: Vec<String>,
    /// Resources or parts of them the gateway leaves aside, and modules it could not fetch.
    pub notes: Vec<String>,
}

/// The resources of a directory, by kind, in file order.
#[derive(Default)]
pub(crate) struct Resources {
    pub(crate) extensions: Vec<Extension>,
    pub(crate) gateways: Vec<Gateway>,
    pub(crate) virtual_services: Vec<VirtualService>,
    pub(crate) service_entries: Vec<ServiceEntry>,
    pub(crate) services: Vec<Service>,
    pub(crate) destination_rules: Vec<DestinationRule>,
    pub(crate) secrets: Vec<Secret>,
}

/// Every resource of `dir` parsed, and the notes about what was left aside.
pub(crate) fn load(dir: &Path) -> Result<(Resources, Vec<String>), Errors> {
    let (raw, mut notes) = resources::load_dir(dir)?;
    let mut parsed = Resources::default();
    let mut errors = Errors::default();
    for resource in &raw {
        let result = match resource.origin.kind.as_str() {
            "WasmPlugin" | "TrafficExtension" => extension::parse(resource, &mut notes)
                .map(|extension| parsed.extensions.push(extension)),
            "Gateway" => gateway::parse(resource).map(|gateway| parsed.gateways.push(gateway)),
            "VirtualService" => {
                parsed
                    .virtual_services
                    .push(virtual_service::parse(resource));
                Ok(())
            }
            "ServiceEntry" => {
                service_entry::parse(resource).map(|entry| parsed.service_entries.push(entry))
            }
            "Service" => service::parse(resource).map(|service| parsed.services.push(service)),
            "Secret" => secret::parse(resource).map(|secret| parsed.secrets.push(secret)),
            _ => destination_rule::parse(resource).map(|rule| parsed.destination_rules.push(rule)),
        };
        if let Err(error) = result {
            errors.push(error);
        }
    }
    let mut parsed = errors.into_result(parsed)?;
    crate::credentials::resolve(&mut parsed.destination_rules, &parsed.secrets)?;
    Ok((parsed, notes))
}

/// Checks every VirtualService, bound or not, as Istio's validation does: against the router's
/// own parser, with the registry's service ports.
pub(crate) fn check_virtual_services(
    parsed: &Resources,
    service_ports: &BTreeMap<String, Vec<u16>>,
) -> Result<(), ResourceError> {
    let unbound = virtual_service::router_config(&parsed.virtual_services, None, service_ports);
    if let Some(first) = parsed.virtual_services.first() {
        virtual_service::check_router_config(
            &unbound,
            &parsed.virtual_services,
            &first.origin,
            "spec",
        )?;
    }
    Ok(())
}

pub fn plan(options: &Options) -> Result<Plan, Errors> {
    let (parsed, mut notes) = load(&options.config_dir)?;
    let service_ports =
        service_ports::collect(&parsed.service_entries, &parsed.services, &mut notes);
    let (gateway, server, hosts) = served_gateway(
        &parsed.gateways,
        &options.config_dir,
        options.gateway.as_deref(),
        &mut notes,
    )?;
    let mesh = options.gateway.as_deref() == Some(MESH);
    let (binding, hosts) = if mesh {
        notes.push(format!(
            "--gateway mesh: the router applies the VirtualServices of the mesh (no gateways, or `mesh`), \
             as a sidecar routes outbound requests, for every host, on the listener of {}",
            gateway.origin
        ));
        (MESH.to_string(), vec!["*".to_string()])
    } else {
        (gateway.origin.qualified_name(), hosts)
    };
    let labels = &gateway.selector;
    let listener_info = plugins::Listener {
        labels,
        port: server.port,
    };
    // Istio's validation refuses a bad VirtualService whether or not it is bound anywhere.
    check_virtual_services(&parsed, &service_ports)?;
    let extensions = plugins::applicable(parsed.extensions, &listener_info, &mut notes);
    let configs = plugin_configs(
        &extensions,
        &parsed.virtual_services,
        &binding,
        &service_ports,
        &mut notes,
    )?;

    let cache = ModuleCache::new(&options.cache_dir);
    let mut summary = Vec::new();
    let mut filters = Vec::new();
    for (extension, config) in extensions.iter().zip(configs) {
        let (filter, line) = match &extension.code {
            Code::Lua(code) => (plugins::lua_filter(extension, code), "Lua".to_string()),
            Code::Wasm(wasm) => match plugins::module(wasm, &cache) {
                Ok((path, how)) => (
                    plugins::wasm_filter(extension, wasm, &path, config),
                    format!("{} ({how})", wasm.url),
                ),
                Err(error) => {
                    let fail_open = plugins::fails_open(wasm);
                    let instead = if fail_open {
                        "FAIL_OPEN: an allow-all RBAC filter in its place"
                    } else {
                        "FAIL_CLOSE: a deny-all RBAC filter in its place, requests get 403"
                    };
                    notes.push(format!(
                        "{}: {}: cannot fetch the Wasm module: {error}; {instead}",
                        extension.origin.file.display(),
                        extension.origin
                    ));
                    (
                        plugins::unavailable_filter(extension, fail_open),
                        format!("{} UNAVAILABLE ({instead})", wasm.url),
                    )
                }
            },
        };
        summary.push(format!(
            "filter {} [{} priority {}]: {line}",
            extension.filter_name,
            extension.phase.name(),
            extension
                .priority
                .map_or_else(|| "unset".to_string(), |priority| priority.to_string())
        ));
        filters.push(filter);
    }

    let mut registry = parsed.service_entries;
    registry.extend(service_ports::services_without_endpoints(
        &registry,
        &parsed.services,
        &mut notes,
    ));
    let built = crate::clusters::build(&registry, &parsed.destination_rules, &mut notes);
    summary.extend(built.clusters.iter().map(|cluster| {
        let endpoints: Vec<String> = match &cluster.dns {
            Some(dns) => dns
                .endpoints
                .iter()
                .map(|(name, port)| format!("{name}:{port} (DNS)"))
                .collect(),
            None => cluster.endpoints.iter().map(ToString::to_string).collect(),
        };
        format!("cluster {} -> [{}]", cluster.name, endpoints.join(", "))
    }));
    let bootstrap = bootstrap(options, server, &hosts, filters, built);
    Ok(Plan {
        bootstrap,
        summary,
        notes,
    })
}

/// The Gateway and server the listener serves: the first plain HTTP server of the first
/// Gateway that has one, with the hosts of all that Gateway's HTTP servers on the same port.
pub(crate) fn served_gateway<'a>(
    gateways: &'a [Gateway],
    dir: &Path,
    wanted: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(&'a Gateway, &'a Server, Vec<String>), ResourceError> {
    let chosen = |gateway: &Gateway| match wanted {
        None | Some(MESH) => true,
        Some(wanted) => gateway.origin.qualified_name() == wanted || gateway.origin.name == wanted,
    };
    let Some((gateway, server)) = gateways.iter().filter(|g| chosen(g)).find_map(|gateway| {
        gateway
            .servers
            .iter()
            .find(|server| server.is_plain_http())
            .map(|server| (gateway, server))
    }) else {
        let which = match wanted {
            None | Some(MESH) => "no Gateway".to_string(),
            Some(wanted) => format!("--gateway {wanted}: no such Gateway"),
        };
        return Err(ResourceError::in_file(
            dir,
            format!("{which} with a plain-text HTTP server (protocol HTTP, HTTP2 or GRPC, no tls)"),
        ));
    };
    let mut hosts: Vec<String> = Vec::new();
    for other in gateways {
        for candidate in &other.servers {
            let served = std::ptr::eq(other, gateway)
                && candidate.port == server.port
                && candidate.is_plain_http();
            if served {
                for host in &candidate.hosts {
                    if !hosts.contains(host) {
                        hosts.push(host.clone());
                    }
                }
            } else {
                notes.push(format!(
                    "{}: {}: spec.servers[{}] (port {} {}) is not served: the local gateway serves one plain HTTP port, {} of {}",
                    other.origin.file.display(),
                    other.origin,
                    candidate.index,
                    candidate.port,
                    candidate.protocol,
                    server.port,
                    gateway.origin
                ));
            }
        }
    }
    Ok((gateway, server, hosts))
}

/// Each extension's plugin config (JSON text, empty for none). The router (the extension
/// named `router`, or whose module is named `router`) without a `pluginConfig` of its own gets
/// the VirtualServices bound to the served Gateway; every router config is checked with the
/// router's own parser, its errors reported against the resource and field they are in.
fn plugin_configs(
    extensions: &[Extension],
    virtual_services: &[VirtualService],
    binding: &str,
    service_ports: &BTreeMap<String, Vec<u16>>,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, ResourceError> {
    let mut configs = Vec::new();
    let mut bound = false;
    for extension in extensions {
        let Code::Wasm(wasm) = &extension.code else {
            configs.push(String::new());
            continue;
        };
        let field = if extension.origin.kind == "WasmPlugin" {
            "spec.pluginConfig"
        } else {
            "spec.wasm.pluginConfig"
        };
        let is_router = extension.origin.name == "router" || module_name(&wasm.url) == "router";
        let config = match (&wasm.plugin_config, is_router) {
            (Some(config), true) => {
                notes.extend(virtual_service::check_router_config(
                    config,
                    &[],
                    &extension.origin,
                    field,
                )?);
                Some(config.clone())
            }
            (None, true) if !bound => {
                bound = true;
                let config =
                    virtual_service::router_config(virtual_services, Some(binding), service_ports);
                notes.extend(virtual_service::check_router_config(
                    &config,
                    virtual_services,
                    &extension.origin,
                    field,
                )?);
                Some(config)
            }
            (config, _) => config.clone(),
        };
        configs.push(config.map(|config| config.to_string()).unwrap_or_default());
    }
    if !bound && !virtual_services.is_empty() {
        notes.push(format!(
            "{} VirtualService(s) not bound: no router extension without a pluginConfig of its own \
             (the router is the extension named `router`, or whose module is named `router`)",
            virtual_services.len()
        ));
    }
    Ok(configs)
}

/// `router` for `oci://host/wasm/router:v1`, `http://host/router.wasm`, `file:///x/router.wasm`.
pub(crate) fn module_name(url: &str) -> &str {
    let path = url.split("://").nth(1).unwrap_or(url);
    let path = path.split(['@', '?', '#']).next().unwrap_or(path);
    let last = path.rsplit('/').next().unwrap_or(path);
    let last = last.split(':').next().unwrap_or(last);
    last.strip_suffix(".wasm").unwrap_or(last)
}

/// The virtual host's domains: each Gateway host alone and with a port, since Envoy matches
/// `Host` with its port (a client of 127.0.0.1:PORT sends `host:PORT`).
fn domains(hosts: &[String], server_port: u32, listen_port: u16) -> Vec<String> {
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

fn bootstrap(
    options: &Options,
    server: &Server,
    hosts: &[String],
    filters: Vec<HttpFilter>,
    built: crate::clusters::Built,
) -> Bootstrap {
    let mut route_config = RouteConfig::for_router();
    if let Some(virtual_host) = route_config.0.pointer_mut("/virtual_hosts/0") {
        virtual_host["name"] = json!(format!("gateway:{}", server.port));
        virtual_host["domains"] = Value::from(domains(hosts, server.port, options.port));
    }
    // Consistent hashing: the key is the route's, and the router's cluster_header routes (one
    // per retry policy, see `envoy_runner::router_routes`) serve every cluster, so each carries
    // every DestinationRule's key; a cluster without a hash load balancer ignores it.
    if !built.hash_policy.is_empty() {
        let routes = route_config
            .0
            .pointer_mut("/virtual_hosts/0/routes")
            .and_then(Value::as_array_mut);
        for route in routes.into_iter().flatten() {
            route["route"]["hash_policy"] = Value::from(built.hash_policy.clone());
        }
    }
    let clusters = built.clusters;
    // istio-ingressgateway's connection manager defaults come with every harness listener;
    // the client's route headers are stripped before routing as on the rendered manifests.
    let mut listener = Listener::new(LISTENER, route_config)
        .port(options.port)
        .extra(envoy_runner::gateway_defaults::strip_route_headers());
    if let Some(path) = &options.access_log {
        listener = listener.extra(crate::access_log::connection_manager_patch(path));
    }
    for filter in filters {
        listener = listener.filter(filter);
    }
    let mut bootstrap = Bootstrap::new().listener(listener).extra(json!({
        "admin": {"address": {"socket_address": {"port_value": options.admin_port}}},
    }));
    for cluster in clusters {
        bootstrap = bootstrap.cluster(cluster);
    }
    bootstrap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_come_from_the_last_path_segment() {
        assert_eq!(
            module_name("oci://127.0.0.1:5000/wasm/router@sha256:ab"),
            "router"
        );
        assert_eq!(module_name("oci://127.0.0.1:5000/wasm/router:v1"), "router");
        assert_eq!(
            module_name("http://127.0.0.1:80/m/router.wasm?x=1"),
            "router"
        );
        assert_eq!(module_name("file:///dist/headers.wasm"), "headers");
    }

    #[test]
    fn domains_cover_hosts_with_and_without_ports() {
        let hosts = [
            "bookinfo.example.com".to_string(),
            "*.example.org".to_string(),
            "*".to_string(),
        ];
        assert_eq!(
            domains(&hosts, 80, 10000),
            [
                "bookinfo.example.com",
                "bookinfo.example.com:*",
                "*.example.org",
                "*.example.org:80",
                "*.example.org:10000",
                "*"
            ]
        );
    }
}
