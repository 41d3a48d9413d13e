//! The router's route table for a config directory, compiled as `make gateway` gives it to
//! the router module: the VirtualServices bound to the served Gateway, with the registry's
//! service ports. `gateway explain` and `gateway test` evaluate requests against it natively.

use std::path::Path;

use engine::router::RouteTable;

use crate::error::Errors;
use crate::kinds::extension::Code;
use crate::kinds::virtual_service::{self, VirtualService};
use crate::plan::{self, MESH};
use crate::service_ports;

/// The compiled routes and what they came from.
pub struct Routing {
    pub table: RouteTable,
    pub virtual_services: Vec<VirtualService>,
    /// `namespace/name` of the served Gateway, `mesh`, or the router's own `pluginConfig`.
    pub binding: String,
    /// The served Gateway server's port: what a VirtualService `port` match sees.
    pub server_port: u16,
    /// The hosts of the listener's virtual host (the Gateway's servers on its port, `*` for
    /// the mesh): Envoy answers 404 for any other `:authority` before the route applies.
    pub listener_hosts: Vec<String>,
}

impl Routing {
    /// Whether the listener has a virtual host for `authority` (any port, any case).
    pub fn listener_serves(&self, authority: &str) -> bool {
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        }
        .to_ascii_lowercase();
        self.listener_hosts
            .iter()
            .any(|pattern| crate::analysis::covers(pattern, &host))
    }

    /// `file: VirtualService ns/name` of the VirtualService named `qualified` (`ns/name`).
    pub fn describe(&self, qualified: &str) -> String {
        self.virtual_services
            .iter()
            .find(|vs| vs.origin.qualified_name() == qualified)
            .map_or_else(
                || format!("VirtualService {qualified}"),
                |vs| format!("{}: {}", vs.origin.file.display(), vs.origin),
            )
    }
}

/// The route table of `dir` for `gateway` (as `--gateway`: `None` for the default): the
/// router extension's own `pluginConfig` when it has one, else the bound VirtualServices.
pub fn load(dir: &Path, gateway: Option<&str>) -> Result<Routing, Errors> {
    let (parsed, mut notes) = plan::load(dir)?;
    let ports = service_ports::collect(&parsed.service_entries, &parsed.services, &mut notes);
    let (served, server, hosts) = plan::served_gateway(&parsed.gateways, dir, gateway)?;
    let binding = if gateway == Some(MESH) {
        MESH.to_string()
    } else {
        served.origin.qualified_name()
    };
    plan::check_virtual_services(&parsed, &ports)?;
    // A router with a `pluginConfig` of its own routes by it, as under `make gateway`; else
    // the VirtualServices bound to the served Gateway are its config.
    let own = parsed
        .extensions
        .iter()
        .find_map(|extension| match &extension.code {
            Code::Wasm(wasm)
                if extension.origin.name == "router"
                    || plan::module_name(&wasm.url) == "router" =>
            {
                wasm.plugin_config
                    .clone()
                    .map(|config| (config, &extension.origin))
            }
            _ => None,
        });
    let (config, origin, virtual_services, field, binding) = match own {
        Some((config, origin)) => {
            let field = if origin.kind == "WasmPlugin" {
                "spec.pluginConfig"
            } else {
                "spec.wasm.pluginConfig"
            };
            let binding = format!("{field} of {origin}");
            (config, origin, &[][..], field, binding)
        }
        None => (
            virtual_service::router_config(&parsed.virtual_services, Some(&binding), &ports),
            &served.origin,
            parsed.virtual_services.as_slice(),
            "spec",
            binding,
        ),
    };
    // The router's own parser, its errors located in the VirtualService they are in.
    virtual_service::check_router_config(&config, virtual_services, origin, field)?;
    let bytes = serde_json::to_vec(&config).map_err(|error| origin.error(field, error))?;
    let table = RouteTable::from_json(&bytes)
        .map_err(|error| origin.error(format!("{field}.{}", error.path), error.reason))?;
    Ok(Routing {
        table,
        virtual_services: parsed.virtual_services,
        binding,
        server_port: u16::try_from(server.port).unwrap_or(0),
        listener_hosts: if gateway == Some(MESH) {
            vec!["*".to_string()]
        } else {
            hosts
        },
    })
}
