//! Which Gateway servers the local gateway serves, grouped as pilot groups them into Envoy
//! listeners (`buildGatewayListeners`): one listener per port number; on it one filter chain for
//! the plain-text HTTP servers, or one chain per terminated HTTPS server, told apart by SNI.

use std::collections::BTreeMap;

use crate::kinds::gateway::{Gateway, Server, ServerTls, Serving};

/// The servers on one port number: one Envoy listener.
#[derive(Debug)]
pub struct Port<'a> {
    /// The Gateway's port number (the local listener binds a port of its own).
    pub number: u32,
    pub chains: Vec<Chain<'a>>,
}

/// One filter chain of a listener, with its connection manager and router binding.
#[derive(Debug)]
pub struct Chain<'a> {
    /// The Gateway the router binds to on this chain.
    pub gateway: &'a Gateway,
    /// The servers this chain serves (several plain-text ones merge; a TLS chain has one).
    pub servers: Vec<&'a Server>,
    /// Hosts served, each once, in order.
    pub hosts: Vec<String>,
    /// Of `hosts`, those whose server has `tls.httpsRedirect`: answered 301 to `https`.
    pub redirect_hosts: Vec<String>,
    /// TLS terminated on this chain, with the SNI names it takes (empty: every name).
    pub tls: Option<(&'a ServerTls, Vec<String>)>,
}

impl Chain<'_> {
    /// `servers[1], servers[2] of Gateway ns/name`, for messages.
    pub fn describe(&self) -> String {
        let indexes: Vec<String> = self
            .servers
            .iter()
            .map(|server| format!("servers[{}]", server.index))
            .collect();
        format!("{} of {}", indexes.join(", "), self.gateway.origin)
    }
}

/// Whether a Gateway's `selector` selects the pods labelled `labels` (an empty selector selects
/// every gateway pod, as in Istio).
fn selects(gateway: &Gateway, labels: &BTreeMap<String, String>) -> bool {
    crate::labels::selects(&gateway.selector, labels)
}

/// The ports to listen on for the gateway pods of `primary` (its `selector` is their labels):
/// every server of every Gateway that selects them, `primary`'s first, its first plain-text HTTP
/// server's port first of all (the one `PORT` maps). What cannot be served is a note.
pub fn ports<'a>(
    gateways: &'a [Gateway],
    primary: &'a Gateway,
    notes: &mut Vec<String>,
) -> Vec<Port<'a>> {
    let mut ports: Vec<Port<'a>> = Vec::new();
    let mut order: Vec<&'a Gateway> = vec![primary];
    for gateway in gateways {
        if std::ptr::eq(gateway, primary) {
            continue;
        }
        if selects(gateway, &primary.selector) {
            order.push(gateway);
        } else {
            notes.push(format!(
                "{}: {}: not served: its selector {:?} does not select the gateway pods {:?} (those of {})",
                gateway.origin.file.display(),
                gateway.origin,
                gateway.selector,
                primary.selector,
                primary.origin
            ));
        }
    }
    for gateway in order {
        for warning in &gateway.warnings {
            notes.push(format!(
                "{}: {}: {warning}",
                gateway.origin.file.display(),
                gateway.origin
            ));
        }
        let mut servers: Vec<&Server> = gateway.servers.iter().collect();
        if std::ptr::eq(gateway, primary) {
            // Stable: the first plain-text server leads, the others keep their order.
            if let Some(first) = servers.iter().position(|server| server.is_plain_http()) {
                let server = servers.remove(first);
                servers.insert(0, server);
            }
        }
        for server in servers {
            if let Err(reason) = add(&mut ports, gateway, server) {
                notes.push(format!(
                    "{}: {}: spec.servers[{}] (port {} {}) is not served: {reason}",
                    gateway.origin.file.display(),
                    gateway.origin,
                    server.index,
                    server.port,
                    server.protocol
                ));
            }
        }
    }
    ports
}

/// Adds `server` to the listener of its port, or says why it cannot be.
fn add<'a>(
    ports: &mut Vec<Port<'a>>,
    gateway: &'a Gateway,
    server: &'a Server,
) -> Result<(), String> {
    let https_redirect = match server.serving() {
        Serving::Not(reason) => return Err(reason),
        Serving::Plain { https_redirect } => Some(https_redirect),
        Serving::Terminate => None,
    };
    let index = match ports.iter().position(|port| port.number == server.port) {
        Some(index) => index,
        None => {
            ports.push(Port {
                number: server.port,
                chains: Vec::new(),
            });
            ports.len() - 1
        }
    };
    let port = &mut ports[index];
    match (https_redirect, port.chains.first_mut()) {
        (Some(https_redirect), None) => {
            port.chains
                .push(plain_chain(gateway, server, https_redirect));
            Ok(())
        }
        (Some(https_redirect), Some(chain)) if chain.tls.is_none() => {
            if !std::ptr::eq(chain.gateway, gateway) {
                return Err(format!(
                    "the port's plain-text chain routes for {} (the router binds one Gateway per chain, Istio merges both into one route table)",
                    chain.describe()
                ));
            }
            chain.servers.push(server);
            for host in &server.hosts {
                if !chain.hosts.contains(host) {
                    chain.hosts.push(host.clone());
                    if https_redirect {
                        chain.redirect_hosts.push(host.clone());
                    }
                }
            }
            Ok(())
        }
        (Some(_), Some(chain)) => Err(format!(
            "the port terminates TLS for {}; a plain-text server cannot share it",
            chain.describe()
        )),
        (None, Some(chain)) if chain.tls.is_none() => Err(format!(
            "the port serves plain-text HTTP for {}; a TLS server cannot share it",
            chain.describe()
        )),
        (None, _) => {
            let tls = server.tls.as_ref().ok_or("no tls settings")?;
            // Each SNI name goes to one chain: the first server that lists it.
            let taken: Vec<&String> = port
                .chains
                .iter()
                .flat_map(|chain| chain.tls.iter().flat_map(|(_, names)| names))
                .collect();
            let catch_all_taken = port.chains.iter().any(|chain| {
                chain
                    .tls
                    .as_ref()
                    .is_some_and(|(_, names)| names.is_empty())
            });
            let wildcard = server.hosts.iter().any(|host| host == "*");
            let names: Vec<String> = if wildcard {
                Vec::new()
            } else {
                server
                    .hosts
                    .iter()
                    .filter(|host| !taken.contains(host))
                    .cloned()
                    .collect()
            };
            if (wildcard && catch_all_taken) || (!wildcard && names.is_empty()) {
                return Err(format!(
                    "its hosts' TLS connections already go to another server of the port ({})",
                    port.chains
                        .iter()
                        .map(Chain::describe)
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            let mut chain = plain_chain(gateway, server, false);
            chain.tls = Some((tls, names));
            // Envoy tries chains with names before the one that takes every name.
            port.chains.push(chain);
            Ok(())
        }
    }
}

fn plain_chain<'a>(gateway: &'a Gateway, server: &'a Server, https_redirect: bool) -> Chain<'a> {
    let mut hosts: Vec<String> = Vec::new();
    for host in &server.hosts {
        if !hosts.contains(host) {
            hosts.push(host.clone());
        }
    }
    Chain {
        gateway,
        servers: vec![server],
        redirect_hosts: if https_redirect {
            hosts.clone()
        } else {
            Vec::new()
        },
        hosts,
        tls: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Origin;
    use crate::resources::Resource;

    fn gateway(name: &str, spec: &str) -> Gateway {
        let resource = Resource {
            origin: Origin {
                file: "gw.yaml".into(),
                document: 1,
                kind: "Gateway".into(),
                namespace: "web".into(),
                name: name.into(),
            },
            value: serde_json::json!({ "spec": serde_yaml_ng::from_str::<serde_json::Value>(spec).unwrap() }),
        };
        crate::kinds::gateway::parse(&resource).unwrap()
    }

    #[test]
    fn servers_group_by_port_plain_ones_merge_tls_ones_split_by_sni() {
        let gateways = vec![
            gateway(
                "a",
                "selector: {istio: ingressgateway}
servers:
- {port: {number: 443, name: https-shop, protocol: HTTPS}, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop}}
- {port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.example.com]}
- {port: {number: 80, name: http-2, protocol: HTTP}, hosts: [admin.example.com], tls: {httpsRedirect: true}}
- {port: {number: 443, name: https-all, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: all}}
- {port: {number: 443, name: https-again, protocol: HTTPS}, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: x}}
- {port: {number: 31400, name: tcp, protocol: TCP}, hosts: ['*']}",
            ),
            gateway(
                "b",
                "selector: {istio: ingressgateway}
servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [b.example.com]}]",
            ),
            gateway(
                "other",
                "selector: {istio: eastwestgateway}
servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]",
            ),
        ];
        let mut notes = Vec::new();
        let ports = ports(&gateways, &gateways[0], &mut notes);
        let numbers: Vec<u32> = ports.iter().map(|port| port.number).collect();
        assert_eq!(
            numbers,
            [80, 443],
            "the first plain HTTP server's port leads"
        );
        assert_eq!(ports[0].chains.len(), 1);
        assert_eq!(
            ports[0].chains[0].hosts,
            ["shop.example.com", "admin.example.com"]
        );
        assert_eq!(ports[0].chains[0].redirect_hosts, ["admin.example.com"]);
        let names: Vec<&Vec<String>> = ports[1]
            .chains
            .iter()
            .map(|chain| &chain.tls.as_ref().unwrap().1)
            .collect();
        assert_eq!(names, [&vec!["shop.example.com".to_string()], &Vec::new()]);
        assert_eq!(notes.len(), 4, "{notes:#?}");
        assert!(
            notes[0].contains("Gateway web/other: not served: its selector"),
            "{}",
            notes[0]
        );
        assert!(notes[1].contains("spec.servers[4] (port 443 HTTPS) is not served: its hosts' TLS connections already go to another server"), "{}", notes[1]);
        assert!(
            notes[2].contains(
                "spec.servers[5] (port 31400 TCP) is not served: protocol TCP carries no HTTP"
            ),
            "{}",
            notes[2]
        );
        assert!(notes[3].contains("Gateway web/b: spec.servers[0] (port 80 HTTP) is not served: the port's plain-text chain routes for servers[1], servers[2] of Gateway web/a"), "{}", notes[3]);
    }
}
