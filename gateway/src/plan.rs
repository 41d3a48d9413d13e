//! From a config directory to the Envoy that stands in for istio-ingressgateway: resources
//! read and checked, modules fetched, the filter chain ordered, clusters and listener built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distribution::agent::cache::ModuleCache;
use envoy_runner::{Bootstrap, Cluster, HttpFilter, Listener};
use serde_json::json;

use crate::error::{Errors, ResourceError};
use crate::kinds::destination_rule::{self, DestinationRule};
use crate::kinds::extension::{self, Code, Extension};
use crate::kinds::gateway::{self, Gateway, Server, Serving};
use crate::kinds::secret::{self, Secret};
use crate::kinds::service::{self, Service};
use crate::kinds::service_entry::{self, ServiceEntry};
use crate::kinds::virtual_service::{self, VirtualService};
use crate::listeners;
use crate::plugins;
use crate::resources;
use crate::servers;
use crate::service_ports;

/// The name of the gateway's listener (and the stat prefix of its connection manager).
pub const LISTENER: &str = "gateway";

pub struct Options {
    pub config_dir: PathBuf,
    /// Where the first HTTP server of the Gateway is served, on 127.0.0.1; 0 picks a free port.
    pub port: u16,
    /// Where the other server ports are served (Gateway port number → local port); a port not
    /// listed gets a free one.
    pub ports: BTreeMap<u32, u16>,
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
    /// The listeners, the first on `Options::port`.
    pub listeners: Vec<ServedListener>,
}

/// One Envoy listener of the plan: a Gateway port number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedListener {
    /// The Envoy listener's name: [`LISTENER`] for the first, `gateway-<port number>` for the others.
    pub name: String,
    /// The Gateway servers' port number.
    pub gateway_port: u32,
    /// Whether it terminates TLS (`https://`) or serves plain text (`http://`).
    pub tls: bool,
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
    crate::credentials::resolve_gateways(&mut parsed.gateways, &parsed.secrets)?;
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
    let (primary, server, _) = served_gateway(
        &parsed.gateways,
        &options.config_dir,
        options.gateway.as_deref(),
    )?;
    let mesh = options.gateway.as_deref() == Some(MESH);
    let ports = if mesh {
        notes.push(format!(
            "--gateway mesh: the router applies the VirtualServices of the mesh (no gateways, or `mesh`), \
             as a sidecar routes outbound requests, for every host, on one plain-text listener for port {} of {}",
            server.port, primary.origin
        ));
        vec![servers::Port {
            number: server.port,
            chains: vec![servers::Chain {
                gateway: primary,
                servers: vec![server],
                hosts: vec!["*".to_string()],
                redirect_hosts: Vec::new(),
                tls: None,
            }],
        }]
    } else {
        servers::ports(&parsed.gateways, primary, &mut notes)
    };
    // Istio's validation refuses a bad VirtualService whether or not it is bound anywhere.
    check_virtual_services(&parsed, &service_ports)?;

    let mut registry = parsed.service_entries;
    registry.extend(service_ports::services_without_endpoints(
        &registry,
        &parsed.services,
        &mut notes,
    ));
    let built = crate::clusters::build(
        &registry,
        &parsed.destination_rules,
        &primary.selector,
        &mut notes,
    );
    let cluster_lines: Vec<String> = built
        .clusters
        .iter()
        .map(|cluster| {
            let endpoints: Vec<String> = match &cluster.dns {
                Some(dns) => dns
                    .endpoints
                    .iter()
                    .map(|(name, port)| format!("{name}:{port} (DNS)"))
                    .collect(),
                None => cluster.endpoints.iter().map(ToString::to_string).collect(),
            };
            format!("cluster {} -> [{}]", cluster.name, endpoints.join(", "))
        })
        .collect();
    let cache = ModuleCache::new(&options.cache_dir);
    let mut modules = Modules::default();
    let mut summary = Vec::new();
    let mut listeners: Vec<Listener> = Vec::new();
    let mut served = Vec::new();
    let mut bound_any = false;
    for (index, port) in ports.iter().enumerate() {
        let name = if index == 0 {
            LISTENER.to_string()
        } else {
            format!("{LISTENER}-{}", port.number)
        };
        let local_port = if index == 0 {
            options.port
        } else {
            options.ports.get(&port.number).copied().unwrap_or(0)
        };
        let mut chains = Vec::new();
        for (chain_index, chain) in port.chains.iter().enumerate() {
            let binding = if mesh {
                MESH.to_string()
            } else {
                chain.gateway.origin.qualified_name()
            };
            let listener_info = plugins::Listener {
                labels: &primary.selector,
                port: port.number,
            };
            // The notes about extensions and bindings are the same for every chain: once.
            let mut chain_notes = Vec::new();
            let extensions =
                plugins::applicable(parsed.extensions.clone(), &listener_info, &mut chain_notes);
            let (configs, bound) = plugin_configs(
                &extensions,
                &parsed.virtual_services,
                &binding,
                &service_ports,
                &mut chain_notes,
            )?;
            bound_any |= bound;
            for note in chain_notes {
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
            let chain_name = if chain_index == 0 {
                name.clone()
            } else {
                format!("{name}-{chain_index}")
            };
            summary.push(format!(
                "listener {chain_name}: Gateway port {} {}, hosts [{}]{}",
                port.number,
                chain.describe(),
                chain.hosts.join(" "),
                match &chain.tls {
                    Some((tls, _)) => format!(", TLS {}", tls.mode.name()),
                    None if chain.redirect_hosts.is_empty() => String::new(),
                    None => format!(", httpsRedirect [{}]", chain.redirect_hosts.join(" ")),
                }
            ));
            let filters = modules.filters(&extensions, configs, &cache, &mut summary, &mut notes);
            chains.push(listeners::chain(
                &chain_name,
                port.number,
                local_port,
                chain,
                filters,
                &built.hash_policy,
                options.access_log.as_deref(),
            ));
        }
        served.push(ServedListener {
            name: name.clone(),
            gateway_port: port.number,
            tls: port.chains.iter().any(|chain| chain.tls.is_some()),
        });
        let mut chains = chains.into_iter();
        if let Some(first) = chains.next() {
            listeners.push(chains.fold(first.port(local_port), Listener::chain));
        }
    }
    if !bound_any && !parsed.virtual_services.is_empty() {
        notes.push(format!(
            "{} VirtualService(s) not bound: no router extension without a pluginConfig of its own \
             (the router is the extension named `router`, or whose module is named `router`)",
            parsed.virtual_services.len()
        ));
    }

    summary.extend(cluster_lines);
    let bootstrap = bootstrap(options, listeners, built.clusters);
    Ok(Plan {
        bootstrap,
        summary,
        notes,
        listeners: served,
    })
}

/// The modules of the extensions, each fetched once however many chains run it.
#[derive(Default)]
struct Modules {
    /// By URL: the module's file and how it was found, or why it could not be fetched.
    fetched: BTreeMap<String, Result<(PathBuf, String), String>>,
    /// The filters already in the summary.
    summarized: Vec<String>,
}

impl Modules {
    /// The HTTP filters of one chain; the first time a module is met, a summary line (and a
    /// note when it cannot be fetched).
    fn filters(
        &mut self,
        extensions: &[Extension],
        configs: Vec<String>,
        cache: &ModuleCache,
        summary: &mut Vec<String>,
        notes: &mut Vec<String>,
    ) -> Vec<HttpFilter> {
        let mut filters = Vec::new();
        for (extension, config) in extensions.iter().zip(configs) {
            let first = !self.summarized.contains(&extension.filter_name);
            let (filter, line) = match &extension.code {
                Code::Lua(code) => (plugins::lua_filter(extension, code), "Lua".to_string()),
                Code::Wasm(wasm) => {
                    let fetched = self
                        .fetched
                        .entry(wasm.url.clone())
                        .or_insert_with(|| plugins::module(wasm, cache));
                    match fetched {
                        Ok((path, how)) => (
                            plugins::wasm_filter(extension, wasm, path, config),
                            format!("{} ({how})", wasm.url),
                        ),
                        Err(error) => {
                            let fail_open = plugins::fails_open(wasm);
                            let instead = if fail_open {
                                "FAIL_OPEN: an allow-all RBAC filter in its place"
                            } else {
                                "FAIL_CLOSE: a deny-all RBAC filter in its place, requests get 403"
                            };
                            if first {
                                notes.push(format!(
                                    "{}: {}: cannot fetch the Wasm module: {error}; {instead}",
                                    extension.origin.file.display(),
                                    extension.origin
                                ));
                            }
                            (
                                plugins::unavailable_filter(extension, fail_open),
                                format!("{} UNAVAILABLE ({instead})", wasm.url),
                            )
                        }
                    }
                }
            };
            if first {
                self.summarized.push(extension.filter_name.clone());
                summary.push(format!(
                    "filter {} [{} priority {}]: {line}",
                    extension.filter_name,
                    extension.phase.name(),
                    extension
                        .priority
                        .map_or_else(|| "unset".to_string(), |priority| priority.to_string())
                ));
            }
            filters.push(filter);
        }
        filters
    }
}

/// The Gateway whose pods the gateway stands for (`wanted`, else the first with a server it
/// can serve) and its leading server: the first plain-text HTTP one (else the first served
/// over TLS), with the hosts of every plain-text server of that Gateway on the same port.
/// [`crate::servers::ports`] says which of all the servers are served.
pub(crate) fn served_gateway<'a>(
    gateways: &'a [Gateway],
    dir: &Path,
    wanted: Option<&str>,
) -> Result<(&'a Gateway, &'a Server, Vec<String>), ResourceError> {
    let chosen = |gateway: &Gateway| match wanted {
        None | Some(MESH) => true,
        Some(wanted) => gateway.origin.qualified_name() == wanted || gateway.origin.name == wanted,
    };
    let candidates = || gateways.iter().filter(|g| chosen(g));
    let lead = |serves: fn(&Server) -> bool| {
        candidates().find_map(|gateway| {
            gateway
                .servers
                .iter()
                .find(|server| serves(server))
                .map(|server| (gateway, server))
        })
    };
    let found = lead(Server::is_plain_http)
        .or_else(|| lead(|server| server.serving() == Serving::Terminate));
    let Some((gateway, server)) = found else {
        let which = match wanted {
            None | Some(MESH) => "no Gateway".to_string(),
            Some(wanted) if candidates().next().is_none() => {
                format!("--gateway {wanted}: no such Gateway")
            }
            Some(wanted) => format!("--gateway {wanted}: Gateway"),
        };
        return Err(ResourceError::in_file(
            dir,
            format!("{which} with a server the local gateway can serve (protocol HTTP, HTTP2 or GRPC in plain text, or HTTPS with tls.mode SIMPLE, MUTUAL or OPTIONAL_MUTUAL)"),
        ));
    };
    let mut hosts: Vec<String> = Vec::new();
    for candidate in &gateway.servers {
        if candidate.port == server.port && candidate.serving() == server.serving() {
            for host in &candidate.hosts {
                if !hosts.contains(host) {
                    hosts.push(host.clone());
                }
            }
        }
    }
    Ok((gateway, server, hosts))
}

/// Each extension's plugin config (JSON text, empty for none). The router (the extension
/// named `router`, or whose module is named `router`) without a `pluginConfig` of its own gets
/// the VirtualServices bound to the served Gateway; every router config is checked with the
/// router's own parser, its errors reported against the resource and field they are in.
/// Also says whether a router took the VirtualServices.
fn plugin_configs(
    extensions: &[Extension],
    virtual_services: &[VirtualService],
    binding: &str,
    service_ports: &BTreeMap<String, Vec<u16>>,
    notes: &mut Vec<String>,
) -> Result<(Vec<String>, bool), ResourceError> {
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
    Ok((configs, bound))
}

/// `router` for `oci://host/wasm/router:v1`, `http://host/router.wasm`, `file:///x/router.wasm`.
pub(crate) fn module_name(url: &str) -> &str {
    let path = url.split("://").nth(1).unwrap_or(url);
    let path = path.split(['@', '?', '#']).next().unwrap_or(path);
    let last = path.rsplit('/').next().unwrap_or(path);
    let last = last.split(':').next().unwrap_or(last);
    last.strip_suffix(".wasm").unwrap_or(last)
}

fn bootstrap(options: &Options, listeners: Vec<Listener>, clusters: Vec<Cluster>) -> Bootstrap {
    let mut bootstrap = Bootstrap::new().extra(json!({
        "admin": {"address": {"socket_address": {"port_value": options.admin_port}}},
    }));
    for listener in listeners {
        bootstrap = bootstrap.listener(listener);
    }
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
}
