//! `Gateway` (networking.istio.io): the servers a gateway listens with and the hosts it serves,
//! checked as Istio's validation checks them (`ValidateGateway`, `validateServer`,
//! `validateTLSOptions` in `pkg/config/validation`): what it refuses is an error here, what it
//! warns about is a warning.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::parse_spec;
use super::traffic_policy::Source;
use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

#[derive(Debug, Clone)]
pub struct Gateway {
    pub origin: Origin,
    /// The labels of the gateway's pods: what a WasmPlugin `selector` is matched against.
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<Server>,
    /// Istio's validation warnings (`field: reason`), which do not stop the Gateway.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Server {
    /// `servers[i]`, for messages.
    pub index: usize,
    pub port: u32,
    /// `HTTP`, `HTTP2`, `HTTPS`, `GRPC`, `TLS`, `TCP`, … upper-cased.
    pub protocol: String,
    /// Without the `namespace/` part.
    pub hosts: Vec<String>,
    pub tls: Option<ServerTls>,
}

/// `servers[].tls`.
#[derive(Debug, Clone, Default)]
pub struct ServerTls {
    pub https_redirect: bool,
    pub mode: TlsMode,
    /// `serverCertificate` and `privateKey` (files), or the `credentialName` Secret's.
    pub certificate: Option<(Source, Source)>,
    /// `caCertificates`, or the Secret's `ca.crt` (`MUTUAL`, `OPTIONAL_MUTUAL`).
    pub ca_certificates: Option<Source>,
    /// `credentialName`: resolved against the directory's Secrets by
    /// [`crate::credentials::resolve_gateways`], which fills `certificate` and `ca_certificates`.
    pub credential_name: Option<String>,
    pub subject_alt_names: Vec<String>,
    pub verify_certificate_spki: Vec<String>,
    pub verify_certificate_hash: Vec<String>,
    /// Envoy's names (`TLSv1_2`), `None` for `TLS_AUTO`.
    pub min_protocol_version: Option<&'static str>,
    pub max_protocol_version: Option<&'static str>,
    /// Valid and each once, as pilot passes them to Envoy (`FilterCipherSuites`).
    pub cipher_suites: Vec<String>,
}

/// `tls.mode`; unset is `PASSTHROUGH`, the enum's first value, as in Istio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    #[default]
    Passthrough,
    Simple,
    Mutual,
    AutoPassthrough,
    IstioMutual,
    OptionalMutual,
}

impl TlsMode {
    pub fn name(self) -> &'static str {
        match self {
            TlsMode::Passthrough => "PASSTHROUGH",
            TlsMode::Simple => "SIMPLE",
            TlsMode::Mutual => "MUTUAL",
            TlsMode::AutoPassthrough => "AUTO_PASSTHROUGH",
            TlsMode::IstioMutual => "ISTIO_MUTUAL",
            TlsMode::OptionalMutual => "OPTIONAL_MUTUAL",
        }
    }

    /// The modes where the gateway terminates TLS with its own certificate.
    pub fn terminates(self) -> bool {
        matches!(
            self,
            TlsMode::Simple | TlsMode::Mutual | TlsMode::OptionalMutual
        )
    }

    /// The modes that check a client certificate against `caCertificates`.
    pub fn verifies_clients(self) -> bool {
        matches!(self, TlsMode::Mutual | TlsMode::OptionalMutual)
    }
}

/// How the local gateway serves one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// Plain-text HTTP; with `tls.httpsRedirect`, every request is answered 301 to `https`.
    Plain { https_redirect: bool },
    /// HTTPS terminated with the server's certificate.
    Terminate,
    /// Not served, and why.
    Not(String),
}

impl Server {
    /// What the local gateway does with this server.
    pub fn serving(&self) -> Serving {
        let protocol = self.protocol.as_str();
        let tls = self.tls.as_ref();
        if is_http(protocol) {
            return Serving::Plain {
                https_redirect: tls.is_some_and(|tls| tls.https_redirect),
            };
        }
        match (protocol, tls.map(|tls| tls.mode)) {
            ("HTTPS", Some(mode)) if mode.terminates() => Serving::Terminate,
            ("HTTPS", Some(TlsMode::IstioMutual)) => Serving::Not(
                "tls.mode ISTIO_MUTUAL needs the mesh: the workload certificate and trust bundle istiod issues through the proxy's SDS".into(),
            ),
            ("HTTPS" | "TLS", Some(mode @ (TlsMode::Passthrough | TlsMode::AutoPassthrough))) => {
                Serving::Not(format!(
                    "tls.mode {} forwards the TLS stream by SNI to a VirtualService's `tls` routes; the router serves HTTP routes only",
                    mode.name()
                ))
            }
            ("TLS", _) => Serving::Not(
                "protocol TLS terminates into a VirtualService's `tcp` routes; the router serves HTTP routes only".into(),
            ),
            (other, _) => Serving::Not(format!(
                "protocol {other} carries no HTTP: the router serves HTTP routes only"
            )),
        }
    }

    /// A plain-text HTTP server (with or without `httpsRedirect`).
    pub fn is_plain_http(&self) -> bool {
        matches!(self.serving(), Serving::Plain { .. })
    }
}

/// Istio's HTTP protocols (`protocol.Instance.IsHTTP`), spoken in plain text.
fn is_http(protocol: &str) -> bool {
    ["HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"].contains(&protocol)
}

/// The protocols Istio parses (`protocol.Parse`); anything else is refused.
const PROTOCOLS: &[&str] = &[
    "HTTP",
    "HTTPS",
    "HTTP2",
    "GRPC",
    "GRPC-WEB",
    "HTTP_PROXY",
    "TCP",
    "TLS",
    "UDP",
    "MONGO",
    "REDIS",
    "MYSQL",
];

/// Istio's `ValidCipherSuites` (BoringSSL's names, without PSK).
const CIPHER_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

/// Istio's `IsValidCipherSuite`: the names above, `ALL`, and expressions starting with an
/// operator (`-`, `+`, `[`), which it does not parse.
fn valid_cipher_suite(suite: &str) -> bool {
    suite.is_empty()
        || suite == "ALL"
        || !suite.starts_with(|c: char| c.is_alphanumeric())
        || CIPHER_SUITES.contains(&suite)
}

#[derive(Deserialize)]
struct GatewaySpec {
    #[serde(default)]
    selector: BTreeMap<String, String>,
    #[serde(default)]
    servers: Vec<ServerSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerSpec {
    port: PortSpec,
    #[serde(default)]
    hosts: Vec<String>,
    tls: Option<TlsSpec>,
    #[serde(default)]
    bind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortSpec {
    number: u32,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    name: String,
    target_port: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TlsSpec {
    #[serde(default)]
    https_redirect: bool,
    mode: Option<String>,
    server_certificate: Option<String>,
    private_key: Option<String>,
    ca_certificates: Option<String>,
    ca_crl: Option<String>,
    credential_name: Option<String>,
    #[serde(default)]
    credential_names: Vec<String>,
    #[serde(default)]
    tls_certificates: Vec<serde_json::Value>,
    #[serde(default)]
    subject_alt_names: Vec<String>,
    #[serde(default)]
    verify_certificate_spki: Vec<String>,
    #[serde(default)]
    verify_certificate_hash: Vec<String>,
    min_protocol_version: Option<String>,
    max_protocol_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
}

pub fn parse(resource: &Resource) -> Result<Gateway, ResourceError> {
    let origin = &resource.origin;
    let spec: GatewaySpec = parse_spec(resource)?;
    if spec.servers.is_empty() {
        return Err(origin.error("spec.servers", "gateway must have at least one server"));
    }
    let mut servers = Vec::new();
    let mut warnings = Vec::new();
    let mut port_names: Vec<String> = Vec::new();
    for (index, server) in spec.servers.into_iter().enumerate() {
        let at = format!("spec.servers[{index}]");
        let protocol = server.port.protocol.to_ascii_uppercase();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(origin.error(
                format!("{at}.port.protocol"),
                format!(
                    "invalid protocol {:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                    server.port.protocol
                ),
            ));
        }
        if server.port.number == 0 || server.port.number > 65535 {
            return Err(origin.error(
                format!("{at}.port.number"),
                format!("{} is not a port number (1-65535)", server.port.number),
            ));
        }
        if server.port.target_port.is_some_and(|port| port > 0) {
            return Err(origin.error(
                format!("{at}.port.targetPort"),
                "targetPort has no impact on Gateways",
            ));
        }
        if server.port.name.is_empty() {
            return Err(origin.error(format!("{at}.port.name"), "port name must be set"));
        }
        if port_names.contains(&server.port.name) {
            return Err(origin.error(
                format!("{at}.port.name"),
                format!(
                    "port names in servers must be unique: duplicate name {}",
                    server.port.name
                ),
            ));
        }
        port_names.push(server.port.name.clone());
        if !server.bind.is_empty() {
            warnings.push(format!(
                "{at}.bind: {:?} is not applied: the local gateway listens on 127.0.0.1",
                server.bind
            ));
        }
        if server.hosts.is_empty() {
            return Err(origin.error(
                format!("{at}.hosts"),
                "server config must contain at least one host",
            ));
        }
        let mut hosts = Vec::new();
        for (host_index, host) in server.hosts.iter().enumerate() {
            let host = host.rsplit('/').next().unwrap_or(host);
            let valid = host == "*"
                || (!host.is_empty()
                    && !host.strip_prefix("*.").unwrap_or(host).contains('*')
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.*".contains(&b)));
            if !valid {
                return Err(origin.error(
                    format!("{at}.hosts[{host_index}]"),
                    format!("{host:?} is not a host name, `*.` wildcard or `*`"),
                ));
            }
            hosts.push(host.to_ascii_lowercase());
        }
        let tls = match server.tls {
            None => None,
            Some(tls) => Some(server_tls(origin, tls, &protocol, &at, &mut warnings)?),
        };
        if tls.is_none() && ["HTTPS", "TLS"].contains(&protocol.as_str()) {
            return Err(origin.error(
                format!("{at}.tls"),
                "server must have TLS settings for HTTPS/TLS protocols",
            ));
        }
        servers.push(Server {
            index,
            port: server.port.number,
            protocol,
            hosts,
            tls,
        });
    }
    Ok(Gateway {
        origin: origin.clone(),
        selector: spec.selector,
        servers,
        warnings,
    })
}

/// `servers[i].tls`, with Istio's checks for the server's `protocol`.
fn server_tls(
    origin: &Origin,
    spec: TlsSpec,
    protocol: &str,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<ServerTls, ResourceError> {
    let at = format!("{at}.tls");
    let f = |field: &str| format!("{at}.{field}");
    let set = |value: &Option<String>| value.as_ref().is_some_and(|value| !value.is_empty());
    let mode = match spec.mode.as_deref().unwrap_or("PASSTHROUGH") {
        "PASSTHROUGH" => TlsMode::Passthrough,
        "SIMPLE" => TlsMode::Simple,
        "MUTUAL" => TlsMode::Mutual,
        "AUTO_PASSTHROUGH" => TlsMode::AutoPassthrough,
        "ISTIO_MUTUAL" => TlsMode::IstioMutual,
        "OPTIONAL_MUTUAL" => TlsMode::OptionalMutual,
        other => {
            return Err(origin.error(
                f("mode"),
                format!("unknown mode {other:?} (PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL or OPTIONAL_MUTUAL)"),
            ))
        }
    };
    let with_files =
        set(&spec.server_certificate) || set(&spec.private_key) || set(&spec.ca_certificates);
    let passthrough = matches!(mode, TlsMode::Passthrough | TlsMode::AutoPassthrough);
    if is_http(protocol) {
        // Only a redirect may be set on a plain-text port.
        if !passthrough || with_files {
            return Err(origin.error(
                at.clone(),
                "server cannot have TLS settings for plain text HTTP ports",
            ));
        }
    } else if !["HTTPS", "TLS"].contains(&protocol) {
        return Err(origin.error(
            at.clone(),
            "server cannot have TLS settings for non HTTPS/TLS ports",
        ));
    } else if spec.https_redirect {
        warnings.push(format!(
            "{}: tls.httpsRedirect should only be used with http servers",
            f("httpsRedirect")
        ));
    }
    let min_protocol_version =
        protocol_version(origin, spec.min_protocol_version, &f("minProtocolVersion"))?;
    let max_protocol_version =
        protocol_version(origin, spec.max_protocol_version, &f("maxProtocolVersion"))?;
    if matches!(min_protocol_version, Some("TLSv1_0" | "TLSv1_1")) && spec.cipher_suites.is_empty()
    {
        warnings.push(format!(
            "{}: TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
            f("minProtocolVersion")
        ));
    }
    let mut cipher_suites: Vec<String> = Vec::new();
    let (mut invalid, mut duplicate) = (Vec::new(), Vec::new());
    for suite in spec.cipher_suites {
        if !valid_cipher_suite(&suite) {
            invalid.push(suite);
        } else if cipher_suites.contains(&suite) {
            duplicate.push(suite);
        } else {
            cipher_suites.push(suite);
        }
    }
    for (list, what) in [(&mut invalid, "invalid"), (&mut duplicate, "duplicate")] {
        if !list.is_empty() {
            list.sort();
            warnings.push(format!(
                "{}: ignoring {what} cipher suites: [{}]",
                f("cipherSuites"),
                list.join(" ")
            ));
        }
    }
    let credential_name = spec.credential_name.filter(|name| !name.is_empty());
    if mode == TlsMode::IstioMutual {
        for (value, field, what) in [
            (
                &spec.server_certificate,
                "serverCertificate",
                "server certificate",
            ),
            (&spec.private_key, "privateKey", "private key"),
            (&spec.ca_certificates, "caCertificates", "CA bundle"),
            (&credential_name, "credentialName", "credentialName"),
        ] {
            if set(value) {
                return Err(origin.error(
                    f(field),
                    format!("ISTIO_MUTUAL TLS cannot have associated {what}"),
                ));
            }
        }
    }
    if passthrough && (with_files || credential_name.is_some() || set(&spec.ca_crl)) {
        warnings.push(format!(
            "{at}: {} mode does not use certificates, they will be ignored",
            mode.name()
        ));
    }
    let sources = usize::from(set(&spec.server_certificate) && set(&spec.private_key))
        + usize::from(credential_name.is_some())
        + usize::from(!spec.credential_names.is_empty())
        + usize::from(!spec.tls_certificates.is_empty());
    if sources > 1 {
        return Err(origin.error(
            at.clone(),
            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
        ));
    }
    if !spec.credential_names.is_empty() || !spec.tls_certificates.is_empty() {
        let field = if spec.credential_names.is_empty() {
            "tlsCertificates"
        } else {
            "credentialNames"
        };
        return Err(origin.error(
            f(field),
            "several server certificates (RSA and ECDSA) are not served by the local gateway: use credentialName or serverCertificate/privateKey",
        ));
    }
    if set(&spec.ca_crl) {
        if credential_name.is_some() {
            return Err(origin.error(
                f("caCrl"),
                "CRL is not supported with credentialName. CRL has to be specified in the credential",
            ));
        }
        if mode == TlsMode::Simple {
            return Err(origin.error(f("caCrl"), "CRL is not supported with SIMPLE TLS"));
        }
        if mode.terminates() {
            return Err(origin.error(
                f("caCrl"),
                "certificate revocation lists are not applied by the local gateway",
            ));
        }
    }
    let mut certificate = None;
    let mut ca_certificates = None;
    if mode.terminates() && credential_name.is_none() {
        let prefix = if mode.verifies_clients() {
            "MUTUAL TLS"
        } else {
            "SIMPLE TLS"
        };
        if mode.verifies_clients() && !set(&spec.ca_certificates) {
            return Err(origin.error(
                f("caCertificates"),
                format!("{prefix} requires a client CA bundle"),
            ));
        }
        let server_certificate = origin
            .file_at(spec.server_certificate, f("serverCertificate"))?
            .ok_or_else(|| {
                origin.error(
                    f("serverCertificate"),
                    format!("{prefix} requires a server certificate"),
                )
            })?;
        let private_key = origin
            .file_at(spec.private_key, f("privateKey"))?
            .ok_or_else(|| {
                origin.error(f("privateKey"), format!("{prefix} requires a private key"))
            })?;
        certificate = Some((Source::File(server_certificate), Source::File(private_key)));
        ca_certificates = origin
            .file_at(spec.ca_certificates, f("caCertificates"))?
            .map(Source::File);
    }
    Ok(ServerTls {
        https_redirect: spec.https_redirect,
        mode,
        certificate,
        ca_certificates,
        credential_name,
        subject_alt_names: spec.subject_alt_names,
        verify_certificate_spki: spec.verify_certificate_spki,
        verify_certificate_hash: spec.verify_certificate_hash,
        min_protocol_version,
        max_protocol_version,
        cipher_suites,
    })
}

/// `TLSV1_2` → Envoy's `TLSv1_2`; `TLS_AUTO` (and unset) → `None`, Envoy's default.
fn protocol_version(
    origin: &Origin,
    value: Option<String>,
    field: &str,
) -> Result<Option<&'static str>, ResourceError> {
    match value.as_deref() {
        None | Some("TLS_AUTO") => Ok(None),
        Some("TLSV1_0") => Ok(Some("TLSv1_0")),
        Some("TLSV1_1") => Ok(Some("TLSv1_1")),
        Some("TLSV1_2") => Ok(Some("TLSv1_2")),
        Some("TLSV1_3") => Ok(Some("TLSv1_3")),
        Some(other) => Err(origin.error(
            field,
            format!(
                "unknown TLS version {other:?} (TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(spec: &str) -> Resource {
        let dir = std::env::temp_dir();
        Resource {
            origin: Origin {
                file: dir.join("gateway.yaml"),
                document: 1,
                kind: "Gateway".into(),
                namespace: "web".into(),
                name: "gw".into(),
            },
            value: serde_json::json!({ "spec": serde_yaml_ng::from_str::<serde_json::Value>(spec).unwrap() }),
        }
    }

    fn error(spec: &str) -> String {
        let error = parse(&resource(spec)).unwrap_err();
        format!("{}: {}", error.field, error.reason)
    }

    #[test]
    fn an_https_server_needs_tls_settings_and_a_certificate() {
        assert_eq!(
            error("servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*']}]"),
            "spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols"
        );
        assert_eq!(
            error("servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE}}]"),
            "spec.servers[0].tls.serverCertificate: SIMPLE TLS requires a server certificate"
        );
        // With a credentialName, the Secret holds them (checked by `credentials`).
        assert!(parse(&resource(
            "servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: MUTUAL, credentialName: x}}]"
        ))
        .is_ok());
    }

    #[test]
    fn istios_server_checks_are_errors() {
        assert_eq!(
            error("servers: [{port: {number: 80, protocol: HTTP}, hosts: ['*']}]"),
            "spec.servers[0].port.name: port name must be set"
        );
        assert_eq!(
            error("servers: [{port: {number: 80, name: a, protocol: HTTP}, hosts: ['*']}, {port: {number: 81, name: a, protocol: HTTP}, hosts: ['*']}]"),
            "spec.servers[1].port.name: port names in servers must be unique: duplicate name a"
        );
        assert_eq!(
            error("servers: [{port: {number: 80, name: a, protocol: HTTP}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: x}}]"),
            "spec.servers[0].tls: server cannot have TLS settings for plain text HTTP ports"
        );
        assert_eq!(
            error("servers: [{port: {number: 80, name: a, protocol: TCP}, hosts: ['*'], tls: {httpsRedirect: true}}]"),
            "spec.servers[0].tls: server cannot have TLS settings for non HTTPS/TLS ports"
        );
        assert_eq!(
            error("servers: [{port: {number: 80, name: a, protocol: SCTP}, hosts: ['*']}]"),
            "spec.servers[0].port.protocol: invalid protocol \"SCTP\", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"
        );
        assert_eq!(
            error("servers: [{port: {number: 443, name: a, protocol: HTTPS}, hosts: ['*'], tls: {mode: ISTIO_MUTUAL, credentialName: x}}]"),
            "spec.servers[0].tls.credentialName: ISTIO_MUTUAL TLS cannot have associated credentialName"
        );
        assert_eq!(
            error("servers: [{port: {number: 443, name: a, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: x, caCrl: /c}}]"),
            "spec.servers[0].tls.caCrl: CRL is not supported with credentialName. CRL has to be specified in the credential"
        );
    }

    #[test]
    fn how_each_server_is_served() {
        let gateway = parse(&resource(
            "servers:
- {port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], tls: {httpsRedirect: true}}
- {port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: c, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256, NOPE, ECDHE-RSA-AES128-GCM-SHA256], minProtocolVersion: TLSV1_3}}
- {port: {number: 8443, name: pass, protocol: TLS}, hosts: ['*'], tls: {mode: PASSTHROUGH}}
- {port: {number: 9000, name: tcp, protocol: TCP}, hosts: ['*']}",
        ))
        .unwrap();
        let serving: Vec<Serving> = gateway.servers.iter().map(Server::serving).collect();
        assert_eq!(
            serving[0],
            Serving::Plain {
                https_redirect: true
            }
        );
        assert_eq!(serving[1], Serving::Terminate);
        assert!(matches!(&serving[2], Serving::Not(why) if why.contains("PASSTHROUGH")));
        assert!(matches!(&serving[3], Serving::Not(why) if why.contains("TCP")));
        let tls = gateway.servers[1].tls.as_ref().unwrap();
        assert_eq!(tls.cipher_suites, ["ECDHE-RSA-AES128-GCM-SHA256"]);
        assert_eq!(tls.min_protocol_version, Some("TLSv1_3"));
        assert_eq!(
            gateway.warnings,
            [
                "spec.servers[1].tls.cipherSuites: ignoring invalid cipher suites: [NOPE]",
                "spec.servers[1].tls.cipherSuites: ignoring duplicate cipher suites: [ECDHE-RSA-AES128-GCM-SHA256]",
            ]
        );
    }
}
