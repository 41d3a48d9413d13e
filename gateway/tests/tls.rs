//! Every Gateway server through the gateway binary and a real Envoy with the router from dist/:
//! HTTPS terminated with a `credentialName` Secret (SIMPLE, and MUTUAL with the generic keys and
//! a `-cacert` Secret) and with files (MUTUAL, a client with and without a certificate), two
//! HTTPS servers on one port told apart by SNI (a named host and `*`), ALPN h2 and http/1.1,
//! `minProtocolVersion`, `httpsRedirect` → 301, a GRPC server in plain text speaking h2c,
//! `ns/host` hosts and a `Host` with a port, each port on a listener of its own, the servers the
//! gateway cannot serve reported, and a Gateway and a WasmPlugin whose `selector` picks other
//! pods left out. The client-certificate checks: `OPTIONAL_MUTUAL` (no certificate, one from the
//! CA, one from another CA), `subjectAltNames` (DNS and URI), `verifyCertificateSpki` and
//! `verifyCertificateHash` (with and without colons), each accepting the certificate it names and
//! refusing another from the same CA. The handshake's bounds: `maxProtocolVersion` and
//! `cipherSuites` (which govern TLS 1.2 only, as in Envoy; invalid and duplicate names dropped
//! with Istio's warnings). A DestinationRule's TLS origination is tested against the gateway's own
//! MUTUAL and SIMPLE listeners: MUTUAL with files (SNI and SAN checks) and with `credentialName`
//! Secrets (`data` in istio-system, `stringData` in the rule's namespace), SIMPLE with
//! `insecureSkipVerify` and against the system roots, and a port's `DISABLE` over the rule's
//! SIMPLE. Certificates are made per test (rcgen, ECDSA P-256 keys); the client is rustls,
//! speaking HTTP/1.1 by hand so the test sees exactly what Envoy answered.

#[allow(dead_code)]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use envoy_test::{wasm_module, Upstream, UpstreamOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::crypto::ring::cipher_suite::{
    TLS13_AES_128_GCM_SHA256, TLS13_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::version::{TLS12, TLS13};
use rustls::{ProtocolVersion, SupportedCipherSuite, SupportedProtocolVersion};
use support::{Gateway, Result};

/// A certificate and its key.
struct Identity {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

impl Identity {
    /// Envoy's `verify_certificate_spki` form: base64 of the SHA-256 of the DER
    /// SubjectPublicKeyInfo.
    fn spki_sha256(&self) -> Result<String> {
        Ok(base64::engine::general_purpose::STANDARD.encode(sha256(&self.key.public_key_der())?))
    }

    /// The SHA-256 of the certificate's DER: `verify_certificate_hash` and the `Hash` of
    /// `x-forwarded-client-cert`.
    fn sha256(&self) -> Result<Vec<u8>> {
        sha256(self.certificate.der())
    }

    /// A certificate for `names` (DNS names, and URIs for those with `://`) signed by this CA,
    /// with a key of its own; `client` adds the clientAuth usage.
    fn issue(&self, names: &[String], client: bool) -> Result<Identity> {
        let key = KeyPair::generate()?;
        let (uris, dns): (Vec<&String>, Vec<&String>) =
            names.iter().partition(|name| name.contains("://"));
        let mut params = CertificateParams::new(dns.into_iter().cloned().collect::<Vec<_>>())?;
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI(uri.clone().try_into()?));
        }
        if client {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let certificate = params.signed_by(&key, &self.certificate, &self.key)?;
        Ok(Identity { certificate, key })
    }

    /// A client certificate from this CA for `name.example.com` and
    /// `spiffe://cluster.local/ns/shop/sa/name`.
    fn issue_client(&self, name: &str) -> Result<Identity> {
        self.issue(
            &[
                format!("{name}.example.com"),
                format!("spiffe://cluster.local/ns/shop/sa/{name}"),
            ],
            true,
        )
    }
}

/// SHA-256 from rustls's ring provider (the hash of a TLS 1.3 suite), so the tests need no
/// hashing crate of their own.
fn sha256(data: &[u8]) -> Result<Vec<u8>> {
    let suite = TLS13_AES_128_GCM_SHA256
        .tls13()
        .ok_or("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite")?;
    Ok(suite.common.hash_provider.hash(data).as_ref().to_vec())
}

/// Lower-case hex without separators (`df6f…`).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Upper-case hex with colons (`DF:6F:…`), the other form Istio and Envoy take.
fn hex_with_colons(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|byte| format!("{byte:02X}")).collect();
    pairs.join(":")
}

/// A test CA, a server certificate for the test hosts and a client certificate
/// ([`Identity::issue_client`] `client`).
struct Pki {
    ca: Identity,
    server: Identity,
    client: Identity,
}

impl Pki {
    fn new() -> Result<Pki> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "gateway test CA");
        let ca = Identity {
            certificate: params.self_signed(&key)?,
            key,
        };
        let server = ca.issue(
            &["shop.example.com".into(), "mtls.example.com".into()],
            false,
        )?;
        let client = ca.issue_client("client")?;
        Ok(Pki { ca, server, client })
    }

    /// The PEM files a config names: `certs/server.pem`, `server.key`, `ca.pem`, `client.pem`,
    /// `client.key` under `dir`.
    fn write_files(&self, dir: &Path) -> Result<()> {
        let certs = dir.join("certs");
        fs::create_dir_all(&certs)?;
        fs::write(certs.join("server.pem"), self.server.certificate.pem())?;
        fs::write(certs.join("server.key"), self.server.key.serialize_pem())?;
        fs::write(certs.join("ca.pem"), self.ca.certificate.pem())?;
        fs::write(certs.join("client.pem"), self.client.certificate.pem())?;
        fs::write(certs.join("client.key"), self.client.key.serialize_pem())?;
        Ok(())
    }

    /// A rustls client trusting the test CA, speaking as `client` says.
    fn client_config(&self, client: TlsClient<'_>) -> Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca.certificate.der().to_vec()))?;
        let mut provider = rustls::crypto::ring::default_provider();
        if !client.suites.is_empty() {
            provider.cipher_suites = client.suites.to_vec();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(client.versions)?
            .with_root_certificates(roots);
        let mut config = match client.certificate {
            Some(identity) => builder.with_client_auth_cert(
                vec![CertificateDer::from(identity.certificate.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.serialize_der())),
            )?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = client
            .alpn
            .iter()
            .map(|protocol| protocol.as_bytes().to_vec())
            .collect();
        Ok(config)
    }
}

/// The versions of a client speaking only one (statics, for [`TlsClient::versions`]).
static TLS12_ONLY: [&SupportedProtocolVersion; 1] = [&TLS12];
static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&TLS13];

/// How a test client speaks: its protocol versions, its cipher suites (every one of ring's when
/// empty), the ALPN protocols it offers and the certificate it presents when asked for one.
#[derive(Clone, Copy)]
struct TlsClient<'a> {
    versions: &'a [&'static SupportedProtocolVersion],
    suites: &'a [SupportedCipherSuite],
    alpn: &'a [&'a str],
    certificate: Option<&'a Identity>,
}

impl Default for TlsClient<'_> {
    /// TLS 1.3 and 1.2, every suite, `http/1.1`, no certificate.
    fn default() -> Self {
        TlsClient {
            versions: rustls::DEFAULT_VERSIONS,
            suites: &[],
            alpn: &["http/1.1"],
            certificate: None,
        }
    }
}

impl<'a> TlsClient<'a> {
    /// The default client presenting `identity`.
    fn presenting(identity: &'a Identity) -> Self {
        TlsClient {
            certificate: Some(identity),
            ..TlsClient::default()
        }
    }

    /// A TLS 1.2 client offering only `suites`.
    fn tls12_with(suites: &'a [SupportedCipherSuite]) -> Self {
        TlsClient {
            versions: &TLS12_ONLY,
            suites,
            ..TlsClient::default()
        }
    }
}

/// What one TLS connection got: the ALPN protocol and TLS version Envoy chose and the raw
/// HTTP/1.1 response (empty when no request was sent, or when the handshake or the request
/// failed: `Err`).
struct Exchange {
    alpn: Option<String>,
    version: Option<ProtocolVersion>,
    response: String,
}

/// Connects to `port` with SNI `host`; with `request`, sends `GET path` for `host` over
/// HTTP/1.1 and reads the answer until Envoy closes.
fn exchange(
    config: rustls::ClientConfig,
    port: u16,
    host: &str,
    request: Option<&str>,
) -> Result<Exchange> {
    let name = ServerName::try_from(host.to_string())?;
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name)?;
    let mut socket = TcpStream::connect(("127.0.0.1", port))?;
    socket.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    while connection.is_handshaking() {
        connection.complete_io(&mut socket)?;
    }
    let alpn = connection
        .alpn_protocol()
        .map(|alpn| String::from_utf8_lossy(alpn).into_owned());
    let version = connection.protocol_version();
    let mut response = Vec::new();
    if let Some(path) = request {
        let mut stream = rustls::Stream::new(&mut connection, &mut socket);
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: tls-test\r\nconnection: close\r\n\r\n"
        )?;
        stream.flush()?;
        match stream.read_to_end(&mut response) {
            Ok(_) => {}
            // Envoy closes without close_notify once the response is out: what was read stands.
            Err(error)
                if error.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Exchange {
        alpn,
        version,
        response: String::from_utf8_lossy(&response).into_owned(),
    })
}

fn status(response: &str) -> Option<u16> {
    response.split(' ').nth(1)?.parse().ok()
}

/// `GET /items` for `host` on `port` with `config`: the exchange when Envoy answered, else why it
/// did not (the handshake failed, or the connection closed with no response).
fn get(
    config: rustls::ClientConfig,
    port: u16,
    host: &str,
) -> std::result::Result<Exchange, String> {
    match exchange(config, port, host, Some("/items")) {
        Ok(exchange) if status(&exchange.response).is_some() => Ok(exchange),
        Ok(exchange) => Err(format!("no response: {:?}", exchange.response)),
        Err(error) => Err(error.to_string()),
    }
}

/// [`get`]'s status, or why there was none.
fn get_status(
    config: rustls::ClientConfig,
    port: u16,
    host: &str,
) -> std::result::Result<u16, String> {
    get(config, port, host)
        .and_then(|exchange| status(&exchange.response).ok_or_else(|| exchange.response.clone()))
}

/// What the echo upstream received, from the body of an HTTP/1.1 response.
fn echo(exchange: &Exchange) -> Result<envoy_test::Echo> {
    let (_, body) = exchange
        .response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no body: {:?}", exchange.response))?;
    Ok(serde_json::from_str(body)?)
}

/// A Gateway `istio-system/gw` with `servers` (the items of its `servers` list), a
/// VirtualService taking `hosts` through it to the echo upstream on `upstream_port`, its
/// ServiceEntry and the router, then `more` (YAML documents, each after `---`).
fn gateway_config(servers: &str, hosts: &str, upstream_port: u16, more: &str) -> Result<String> {
    Ok(format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}{service}---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: router, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  url: file://{router}
  priority: -100
{more}",
        service = routed_service("shop", hosts, upstream_port),
        router = wasm_module("router")?.display()
    ))
}

/// A VirtualService `shop/<name>` taking `hosts` through `istio-system/gw` to
/// `<name>.shop.svc.cluster.local:9080`, and its ServiceEntry: the echo upstream on
/// `upstream_port`. Each document after `---`.
fn routed_service(name: &str, hosts: &str, upstream_port: u16) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{hosts}]
  gateways: [istio-system/gw]
  http:
  - route: [{{destination: {{host: {name}.shop.svc.cluster.local, port: {{number: 9080}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{name}.shop.svc.cluster.local]
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {upstream_port}}}}}]
"
    )
}

/// A server's `tls` (flow style): `mode` with the test files' server certificate and key, and
/// the CA unless SIMPLE, then `extra` (`, field: value`…).
fn files_tls(mode: &str, extra: &str) -> String {
    let ca = if mode == "SIMPLE" {
        ""
    } else {
        ", caCertificates: certs/ca.pem"
    };
    format!("{{mode: {mode}, serverCertificate: certs/server.pem, privateKey: certs/server.key{ca}{extra}}}")
}

/// A Gateway server item: HTTPS on port `number` (named `https-NUMBER`) for `host`, TLS as in
/// [`files_tls`].
fn https_server(number: u32, host: &str, mode: &str, extra: &str) -> String {
    format!(
        "  - port: {{number: {number}, name: https-{number}, protocol: HTTPS}}
    hosts: [{host}]
    tls: {}
",
        files_tls(mode, extra)
    )
}

/// One test's gateway on [`gateway_config`], with `pki`'s files, and its echo upstream `shop`;
/// both stop when dropped (the gateway first).
struct Served {
    gateway: Gateway,
    _upstream: Upstream,
    _scratch: tempfile::TempDir,
}

impl Served {
    async fn start(pki: &Pki, servers: &str, hosts: &str, more: &str) -> Result<Served> {
        let scratch = tempfile::tempdir()?;
        let upstream = Upstream::start("shop", UpstreamOptions::default()).await?;
        let dir = scratch.path().join("config");
        pki.write_files(&dir)?;
        fs::write(
            dir.join("gateway.yaml"),
            gateway_config(servers, hosts, upstream.addr().port(), more)?,
        )?;
        let gateway = Gateway::start(&dir, &scratch.path().join("cache"), scratch.path())?;
        Ok(Served {
            gateway,
            _upstream: upstream,
            _scratch: scratch,
        })
    }

    /// The local port of the listener for Gateway port `number`.
    fn port(&self, number: u32) -> Result<u16> {
        let url = self
            .gateway
            .listener(number)
            .ok_or_else(|| format!("no listener for port {number}: {:?}", self.gateway.summary))?;
        Ok(url.rsplit(':').next().unwrap_or_default().parse()?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_is_served_https_terminated_mutual_checked_http_redirected() -> Result<()> {
    let pki = Pki::new()?;
    // The catch-all server's certificate: a name no server lists, from the same CA.
    let other = pki.ca.issue(&["other.example.com".into()], false)?;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let servers = "  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [shop/plain.example.com]
  - port: {number: 80, name: http-redirect, protocol: HTTP}
    hosts: [shop.example.com]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert, minProtocolVersion: TLSV1_3}
  - port: {number: 8443, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, serverCertificate: certs/server.pem, privateKey: certs/server.key, caCertificates: certs/ca.pem}
  - port: {number: 15443, name: tls-passthrough, protocol: TLS}
    hosts: ['*']
    tls: {mode: PASSTHROUGH}
  - port: {number: 443, name: https-any, protocol: HTTPS}
    hosts: ['*']
    tls: {mode: SIMPLE, credentialName: other-cert}
  - port: {number: 9443, name: https-mtls-secret, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, credentialName: mtls}
  - port: {number: 8081, name: grpc, protocol: GRPC}
    hosts: [grpc.example.com]
";
    let secret = |name: &str, keys: &[(&str, String)]| {
        let data: String = keys
            .iter()
            .map(|(key, value)| format!("  {key}: {}\n", b64(value)))
            .collect();
        format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: istio-system}}
data:
{data}"
        )
    };
    let (server_pem, server_key) = (pki.server.certificate.pem(), pki.server.key.serialize_pem());
    let other_upstream = Upstream::start("other", UpstreamOptions::default()).await?;
    let more = [
        secret(
            "shop-cert",
            &[
                ("tls.crt", server_pem.clone()),
                ("tls.key", server_key.clone()),
            ],
        ),
        secret(
            "other-cert",
            &[
                ("tls.crt", other.certificate.pem()),
                ("tls.key", other.key.serialize_pem()),
            ],
        ),
        // The generic keys, and the client CA in the `-cacert` Secret.
        secret("mtls", &[("cert", server_pem), ("key", server_key)]),
        secret("mtls-cacert", &[("cacert", pki.ca.certificate.pem())]),
        routed_service("other", "other.example.com", other_upstream.addr().port()),
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: east, namespace: istio-system}}
spec:
  selector: {{istio: eastwestgateway}}
  servers:
  - port: {{number: 9090, name: http, protocol: HTTP}}
    hosts: ['*']
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: east-headers, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: eastwestgateway}}}}
  url: file://{}
  pluginConfig: {{rules: [{{name: east, request: {{set: {{x-east: 'yes'}}}}}}]}}
",
            wasm_module("headers")?.display()
        ),
    ]
    .concat();
    let served = Served::start(
        &pki,
        servers,
        "shop.example.com, plain.example.com, mtls.example.com, grpc.example.com",
        &more,
    )
    .await?;
    let gateway = &served.gateway;
    let (https, mtls) = (served.port(443)?, served.port(8443)?);
    assert!(gateway
        .listener(443)
        .unwrap_or_default()
        .starts_with("https://"));
    let stderr = gateway.stderr();
    assert!(
        stderr.contains("spec.servers[4] (port 15443 TLS) is not served: tls.mode PASSTHROUGH"),
        "{stderr}"
    );

    // Port 80: plain.example.com is served, shop.example.com is redirected to https.
    let client = envoy_test::Client::http1();
    let plain = client
        .get(format!("{}/items", gateway.url))
        .header("host", "plain.example.com")
        .send()
        .await?;
    assert_eq!(plain.status, 200, "{}", gateway.stderr());
    let redirected = client
        .get(format!("{}/items?x=1", gateway.url))
        .header("host", "shop.example.com")
        .send()
        .await?;
    assert_eq!(redirected.status, 301);
    assert_eq!(
        redirected.header("location"),
        Some("https://shop.example.com/items?x=1")
    );

    // Port 443, SIMPLE with the Secret: ALPN offers h2 first and gets it; over HTTP/1.1 the
    // request reaches the upstream, which sees `x-forwarded-proto: https`.
    let h2 = exchange(
        pki.client_config(TlsClient {
            alpn: &["h2", "http/1.1"],
            ..TlsClient::default()
        })?,
        https,
        "shop.example.com",
        None,
    )?;
    assert_eq!(h2.alpn.as_deref(), Some("h2"));
    let http1 = get(
        pki.client_config(TlsClient::default())?,
        https,
        "shop.example.com",
    )?;
    assert_eq!(http1.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(status(&http1.response), Some(200), "{}", http1.response);
    let echoed = echo(&http1)?;
    assert_eq!(echoed.upstream, "shop");
    assert_eq!(echoed.header("x-forwarded-proto"), Some("https"));
    // minProtocolVersion TLSV1_3: a TLS 1.2 client is refused.
    let tls12 = TlsClient {
        versions: &TLS12_ONLY,
        ..TlsClient::default()
    };
    let refused = get_status(pki.client_config(tls12)?, https, "shop.example.com");
    assert!(refused.is_err(), "{refused:?}");

    // Port 8443, MUTUAL with files: with the client certificate 200, without it no response.
    let with = pki.client_config(TlsClient::presenting(&pki.client))?;
    assert_eq!(get_status(with, mtls, "mtls.example.com"), Ok(200));
    let without = get_status(
        pki.client_config(TlsClient::default())?,
        mtls,
        "mtls.example.com",
    );
    assert!(
        without.is_err(),
        "answered without a client certificate: {without:?}"
    );

    // `selector`: the Gateway for other pods is not served (no listener for its port), and the
    // WasmPlugin for them is not in the HTTP chain.
    assert!(
        stderr.contains("Gateway istio-system/east: not served: its selector"),
        "{stderr}"
    );
    assert_eq!(gateway.listener(9090), None);
    assert!(
        stderr.contains(
            "WasmPlugin istio-system/east-headers: not applied: selector istio=eastwestgateway"
        ),
        "{stderr}"
    );
    let filters = gateway.http_filters().await?;
    let names: Vec<&str> = filters.iter().filter_map(|f| f["name"].as_str()).collect();
    assert!(
        names.contains(&"extensions.istio.io/wasmplugin/istio-system.router")
            && !names.iter().any(|name| name.contains("east-headers")),
        "{names:?}"
    );

    // A GRPC server in plain text: its own listener, which speaks h2c (prior knowledge, with the
    // host as `:authority`), routed to the upstream.
    let grpc = served.port(8081)?;
    let h2c = envoy_test::raw_http2(
        &format!("127.0.0.1:{grpc}"),
        &envoy_test::RawHttp2Request::get("grpc.example.com", b"/grpc-items"),
    )
    .await?;
    let logged = gateway.wait_for_log("/grpc-items", 1);
    assert_eq!(h2c.status(), Some(200), "{h2c:?} {logged:?}");
    assert!(
        logged
            .iter()
            .any(|line| line.contains("\"GET /grpc-items HTTP/2\" 200")
                && line.contains("outbound|9080||shop.shop.svc.cluster.local")),
        "{logged:?}"
    );

    // `hosts`: `shop/plain.example.com` is served as plain.example.com, with a port too.
    let with_port = envoy_test::Client::http1()
        .get(format!("{}/items", gateway.url))
        .header("host", format!("plain.example.com:{}", served.port(80)?))
        .send()
        .await?;
    assert_eq!(with_port.status, 200, "{}", with_port.text());

    // Two HTTPS servers on port 443: SNI shop.example.com gets its chain (the Secret's
    // certificate, TLS 1.3 only: below), a name no server lists gets the `*` one: its own
    // certificate (which rustls checked for other.example.com), TLS 1.2 allowed, and the
    // VirtualService for that host.
    let any = get(pki.client_config(tls12)?, https, "other.example.com")?;
    assert_eq!(status(&any.response), Some(200), "{}", any.response);
    assert_eq!(any.version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(echo(&any)?.upstream, "other");

    // Port 9443, MUTUAL with the Secret `mtls` (cert, key) and the CA of `mtls-cacert`.
    let secret_mtls = served.port(9443)?;
    let with = pki.client_config(TlsClient::presenting(&pki.client))?;
    assert_eq!(get_status(with, secret_mtls, "mtls.example.com"), Ok(200));
    let without = get_status(
        pki.client_config(TlsClient::default())?,
        secret_mtls,
        "mtls.example.com",
    );
    assert!(
        without.is_err(),
        "answered without a client certificate: {without:?}"
    );
    served.gateway.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_checked_optional_mutual_san_spki_and_hash() -> Result<()> {
    let pki = Pki::new()?;
    // From the same CA but another name and key: what each check must refuse.
    let other = pki.ca.issue_client("other")?;
    // The client's names from another CA: what the CA check must refuse.
    let stranger = Pki::new()?.client;
    let hash = pki.client.sha256()?;
    let servers = [
        (9443, "OPTIONAL_MUTUAL", String::new()),
        (
            9444,
            "OPTIONAL_MUTUAL",
            ", subjectAltNames: [client.example.com]".to_string(),
        ),
        (
            9445,
            "MUTUAL",
            ", subjectAltNames: [client.example.com]".to_string(),
        ),
        (
            9446,
            "MUTUAL",
            ", subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/client']".to_string(),
        ),
        (
            9447,
            "MUTUAL",
            format!(", verifyCertificateSpki: ['{}']", pki.client.spki_sha256()?),
        ),
        (
            9448,
            "MUTUAL",
            format!(", verifyCertificateHash: ['{}']", hex_with_colons(&hash)),
        ),
        (
            9449,
            "MUTUAL",
            format!(", verifyCertificateHash: ['{}']", hex(&hash)),
        ),
    ];
    let servers: String = servers
        .iter()
        .map(|(number, mode, extra)| https_server(*number, "mtls.example.com", mode, extra))
        .collect();
    let served = Served::start(&pki, &servers, "mtls.example.com", "").await?;
    let host = "mtls.example.com";
    let as_client = |identity: Option<&Identity>, number: u32| -> Result<_> {
        let config = pki.client_config(TlsClient {
            certificate: identity,
            ..TlsClient::default()
        })?;
        Ok(get(config, served.port(number)?, host))
    };

    // OPTIONAL_MUTUAL: without a certificate 200, and the upstream sees no client certificate.
    let without = as_client(None, 9443)??;
    assert_eq!(status(&without.response), Some(200), "{}", without.response);
    assert_eq!(echo(&without)?.header("x-forwarded-client-cert"), None);
    // With one from the CA 200: Envoy asked for it (rustls sends one only when asked), checked
    // it and tells the upstream (SANITIZE_SET) its hash and names.
    let with = as_client(Some(&pki.client), 9443)??;
    assert_eq!(status(&with.response), Some(200), "{}", with.response);
    let xfcc = echo(&with)?
        .header("x-forwarded-client-cert")
        .map(str::to_string)
        .unwrap_or_default();
    for part in [
        format!("Hash={}", hex(&hash)),
        "URI=spiffe://cluster.local/ns/shop/sa/client".to_string(),
        "DNS=client.example.com".to_string(),
    ] {
        assert!(xfcc.contains(&part), "{part} not in {xfcc:?}");
    }
    // Another name from the CA is fine without a SAN check; another CA's certificate is not.
    assert!(as_client(Some(&other), 9443)?.is_ok());
    let refused = as_client(Some(&stranger), 9443)?;
    assert!(refused.is_err(), "another CA's certificate was taken");

    // OPTIONAL_MUTUAL with subjectAltNames: a sent certificate must match, and a certificate
    // must be sent: Envoy's `DefaultCertValidator` sets SSL_VERIFY_FAIL_IF_NO_PEER_CERT once a
    // SAN, SPKI or hash check is set, whatever `require_client_certificate` says (pilot renders
    // the same context, so Istio's gateway refuses it too).
    let without = as_client(None, 9444)?;
    assert!(
        without.is_err(),
        "answered without a certificate: {:?}",
        without.map(|e| e.response)
    );
    assert!(as_client(Some(&pki.client), 9444)?.is_ok());
    assert!(as_client(Some(&other), 9444)?.is_err());

    // MUTUAL with a DNS SAN, a URI SAN, the SPKI, the hash with colons and without: the
    // client's certificate passes, the other one from the same CA is refused.
    for (number, check) in [
        (9445, "subjectAltNames DNS"),
        (9446, "subjectAltNames URI"),
        (9447, "verifyCertificateSpki"),
        (9448, "verifyCertificateHash with colons"),
        (9449, "verifyCertificateHash"),
    ] {
        let accepted = as_client(Some(&pki.client), number)?;
        assert!(
            accepted
                .as_ref()
                .is_ok_and(|e| status(&e.response) == Some(200)),
            "{check}: the matching certificate was refused: {:?}",
            accepted.map(|e| e.response)
        );
        let refused = as_client(Some(&other), number)?;
        assert!(
            refused.is_err(),
            "{check}: another certificate of the CA was taken: {:?}",
            refused.map(|e| e.response)
        );
    }
    served.gateway.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_protocol_version_and_cipher_suites_bound_the_handshake() -> Result<()> {
    let pki = Pki::new()?;
    let aes128 = "ECDHE-ECDSA-AES128-GCM-SHA256";
    let servers: String = [
        (9443, ", maxProtocolVersion: TLSV1_2".to_string()),
        (
            9444,
            format!(", maxProtocolVersion: TLSV1_2, cipherSuites: [{aes128}]"),
        ),
        (9445, format!(", cipherSuites: [{aes128}]")),
        // 9444's list with a name Istio does not know and a duplicate, which it drops.
        (
            9446,
            format!(
                ", maxProtocolVersion: TLSV1_2, cipherSuites: [NOT-A-CIPHER, {aes128}, {aes128}]"
            ),
        ),
    ]
    .iter()
    .map(|(number, extra)| https_server(*number, "shop.example.com", "SIMPLE", extra))
    .collect();
    let served = Served::start(&pki, &servers, "shop.example.com", "").await?;
    let host = "shop.example.com";
    let connect = |client: TlsClient<'_>, number: u32| -> Result<_> {
        Ok(get(pki.client_config(client)?, served.port(number)?, host))
    };
    let version = |result: std::result::Result<Exchange, String>| {
        result.map(|exchange| (status(&exchange.response), exchange.version))
    };
    let tls13_only = TlsClient {
        versions: &TLS13_ONLY,
        ..TlsClient::default()
    };
    let chacha = [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256];

    // maxProtocolVersion TLSV1_2: a client of both versions gets TLS 1.2, a TLS 1.3 one is
    // refused. Any TLS 1.2 suite will do (Envoy's defaults), ChaCha20 too.
    assert_eq!(
        version(connect(TlsClient::default(), 9443)?),
        Ok((Some(200), Some(ProtocolVersion::TLSv1_2)))
    );
    let refused = connect(tls13_only, 9443)?;
    assert!(refused.is_err(), "TLS 1.3 was spoken above the maximum");
    assert!(connect(TlsClient::tls12_with(&chacha), 9443)?.is_ok());

    // cipherSuites [ECDHE-ECDSA-AES128-GCM-SHA256]: a TLS 1.2 client offering only it gets 200;
    // one offering only ChaCha20 or AES256 is refused. The same on 9446, whose list also has an
    // invalid name and a duplicate: dropped with Istio's warnings, the rest applies.
    let only_aes128 = [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    for number in [9444, 9446] {
        assert_eq!(
            version(connect(TlsClient::tls12_with(&only_aes128), number)?),
            Ok((Some(200), Some(ProtocolVersion::TLSv1_2))),
            "port {number}"
        );
        for suites in [chacha, [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]] {
            let refused = connect(TlsClient::tls12_with(&suites), number)?;
            assert!(
                refused.is_err(),
                "port {number}: {:?}: a suite not in cipherSuites was taken",
                suites[0].suite()
            );
        }
    }
    let stderr = served.gateway.stderr();
    for warning in [
        "spec.servers[3].tls.cipherSuites: ignoring invalid cipher suites: [NOT-A-CIPHER]"
            .to_string(),
        format!("spec.servers[3].tls.cipherSuites: ignoring duplicate cipher suites: [{aes128}]"),
    ] {
        assert!(stderr.contains(&warning), "{warning} not in {stderr}");
    }

    // The same list without a maximum: TLS 1.2 is bound by it, TLS 1.3 is not (BoringSSL's
    // TLS 1.3 suites are not configurable), so a TLS 1.3 ChaCha20 client gets 200.
    assert!(connect(TlsClient::tls12_with(&chacha), 9445)?.is_err());
    let tls13_chacha = TlsClient {
        suites: &[TLS13_CHACHA20_POLY1305_SHA256],
        ..tls13_only
    };
    assert_eq!(
        version(connect(tls13_chacha, 9445)?),
        Ok((Some(200), Some(ProtocolVersion::TLSv1_3)))
    );
    served.gateway.stop()?;
    Ok(())
}

/// `N` distinct ports nothing listens on now (bound together, read, released), for
/// `--port-map`: the config must name the upstream listeners' ports before the gateway binds them.
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_rule_tls_originates_mutual_tls_with_sni_and_san_checks() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let pki = Pki::new()?;
    let upstream = Upstream::start("shop", UpstreamOptions::default()).await?;
    let dir = scratch.path().join("config");
    pki.write_files(&dir)?;
    let [mtls_port, simple_port] = free_ports()?;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let entry = |name: &str, port: u16, number: u16| {
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{name}.example.com]
  resolution: STATIC
  ports: [{{number: {number}, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
"
        )
    };
    let mut config = format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [plain.example.com]
  - port: {{number: 8443, name: https-mtls, protocol: HTTPS}}
    hosts: [mtls.example.com]
    tls: {{mode: MUTUAL, serverCertificate: certs/server.pem, privateKey: certs/server.key, caCertificates: certs/ca.pem}}
  - port: {{number: 9443, name: https-simple, protocol: HTTPS}}
    hosts: [mtls.example.com]
    tls: {{mode: SIMPLE, serverCertificate: certs/server.pem, privateKey: certs/server.key}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: front, namespace: shop}}
spec:
  hosts: [plain.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{{uri: {{prefix: /mutual}}}}]
    rewrite: {{authority: mtls.example.com}}
    route: [{{destination: {{host: mutual.example.com}}}}]
  - match: [{{uri: {{prefix: /simple}}}}]
    rewrite: {{authority: mtls.example.com}}
    route: [{{destination: {{host: simple.example.com}}}}]
  - match: [{{uri: {{prefix: /wrong-san}}}}]
    rewrite: {{authority: mtls.example.com}}
    route: [{{destination: {{host: wrong-san.example.com}}}}]
  - match: [{{uri: {{prefix: /credential}}}}]
    rewrite: {{authority: mtls.example.com}}
    route: [{{destination: {{host: credential.example.com}}}}]
  - match: [{{uri: {{prefix: /string-data}}}}]
    rewrite: {{authority: mtls.example.com}}
    route: [{{destination: {{host: string-data.example.com}}}}]
  - match: [{{uri: {{prefix: /skip-verify}}}}]
    rewrite: {{authority: mtls.example.com}}
    route: [{{destination: {{host: skip-verify.example.com}}}}]
  - match: [{{uri: {{prefix: /system-roots}}}}]
    rewrite: {{authority: mtls.example.com}}
    route: [{{destination: {{host: system-roots.example.com}}}}]
  - match: [{{uri: {{prefix: /port-disable}}}}]
    route: [{{destination: {{host: port-disable.example.com}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: back, namespace: shop}}
spec:
  hosts: [mtls.example.com]
  gateways: [istio-system/gw]
  http:
  - route: [{{destination: {{host: shop.example.com}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: mutual, namespace: shop}}
spec:
  host: mutual.example.com
  trafficPolicy:
    tls: {{mode: MUTUAL, clientCertificate: certs/client.pem, privateKey: certs/client.key, caCertificates: certs/ca.pem, sni: mtls.example.com, subjectAltNames: [mtls.example.com]}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: simple, namespace: shop}}
spec:
  host: simple.example.com
  trafficPolicy:
    tls: {{mode: SIMPLE, caCertificates: certs/ca.pem, sni: mtls.example.com}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: wrong-san, namespace: shop}}
spec:
  host: wrong-san.example.com
  trafficPolicy:
    tls: {{mode: MUTUAL, clientCertificate: certs/client.pem, privateKey: certs/client.key, caCertificates: certs/ca.pem, sni: mtls.example.com, subjectAltNames: [other.example.com]}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: credential, namespace: shop}}
spec:
  host: credential.example.com
  trafficPolicy:
    tls: {{mode: MUTUAL, credentialName: client-credential, sni: mtls.example.com, subjectAltNames: [mtls.example.com]}}
---
apiVersion: v1
kind: Secret
metadata: {{name: client-credential, namespace: istio-system}}
type: kubernetes.io/tls
data: {{tls.crt: {client_pem_b64}, tls.key: {client_key_b64}, ca.crt: {ca_pem_b64}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: string-data, namespace: shop}}
spec:
  host: string-data.example.com
  trafficPolicy:
    tls: {{mode: MUTUAL, credentialName: shop-client, sni: mtls.example.com}}
---
apiVersion: v1
kind: Secret
metadata: {{name: shop-client, namespace: shop}}
stringData: {{cert: {client_pem_json}, key: {client_key_json}, cacert: {ca_pem_json}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: skip-verify, namespace: shop}}
spec:
  host: skip-verify.example.com
  trafficPolicy:
    tls: {{mode: SIMPLE, insecureSkipVerify: true, sni: mtls.example.com}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: system-roots, namespace: shop}}
spec:
  host: system-roots.example.com
  trafficPolicy:
    tls: {{mode: SIMPLE, sni: mtls.example.com}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: port-disable, namespace: shop}}
spec:
  host: port-disable.example.com
  trafficPolicy:
    tls: {{mode: SIMPLE, caCertificates: certs/ca.pem, sni: mtls.example.com}}
    portLevelSettings: [{{port: {{number: 9080}}, tls: {{mode: DISABLE}}}}]
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: router, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  url: file://{}
  priority: -100
",
        wasm_module("router")?.display(),
        client_pem_b64 = b64(&pki.client.certificate.pem()),
        client_key_b64 = b64(&pki.client.key.serialize_pem()),
        ca_pem_b64 = b64(&pki.ca.certificate.pem()),
        client_pem_json = serde_json::to_string(&pki.client.certificate.pem())?,
        client_key_json = serde_json::to_string(&pki.client.key.serialize_pem())?,
        ca_pem_json = serde_json::to_string(&pki.ca.certificate.pem())?,
    );
    config.push_str(&entry("shop", upstream.addr().port(), 9080));
    config.push_str(&entry("port-disable", upstream.addr().port(), 9080));
    for name in ["mutual", "simple", "wrong-san", "credential", "string-data"] {
        config.push_str(&entry(name, mtls_port, 8443));
    }
    for name in ["skip-verify", "system-roots"] {
        config.push_str(&entry(name, simple_port, 9443));
    }
    fs::write(dir.join("config.yaml"), config)?;
    let map = format!("8443={mtls_port},9443={simple_port}");
    let gateway = Gateway::start_with(
        &dir,
        &scratch.path().join("cache"),
        scratch.path(),
        &["--port-map", &map],
    )?;
    assert_eq!(
        gateway.listener(8443),
        Some(format!("https://127.0.0.1:{mtls_port}"))
    );
    let get = |path: &'static str| {
        envoy_test::Client::http1()
            .get(format!("{}{path}", gateway.url))
            .header("host", "plain.example.com")
            .send()
    };
    // The gateway's MUTUAL listener answers only a client with a certificate from the CA: the
    // request got there through the DestinationRule's origination, SNI and SAN checked.
    let mutual = get("/mutual").await?;
    assert_eq!(mutual.status, 200, "{:#?}", {
        gateway.wait_for_log("/mutual", 2);
        gateway.stdout_lines()
    });
    let echo: envoy_test::Echo = mutual.json()?;
    assert_eq!(
        (echo.upstream.as_str(), echo.authority.as_str()),
        ("shop", "mtls.example.com")
    );
    assert_eq!(echo.header("x-forwarded-proto"), Some("https"));
    // The rewrite's contract header went neither to the second hop nor upstream.
    assert_eq!(echo.header(engine::router::AUTHORITY_HEADER), None);
    // SIMPLE sends no client certificate, and a SAN the server does not have fails the check:
    // both are upstream connection failures.
    for path in ["/simple", "/wrong-san"] {
        let response = get(path).await?;
        assert_eq!(response.status, 503, "{path}: {}", response.text());
    }
    // MUTUAL with the client certificate and CA from a `credentialName` Secret: a
    // kubernetes.io/tls one in istio-system (base64 `data`), and one with the generic keys in
    // `stringData` in the rule's namespace.
    for path in ["/credential", "/string-data"] {
        let response = get(path).await?;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(response.json::<envoy_test::Echo>()?.upstream, "shop");
    }
    // SIMPLE to the gateway's SIMPLE listener without caCertificates: insecureSkipVerify takes
    // the test CA's certificate unchecked; without it the system's roots refuse it.
    let skipped = get("/skip-verify").await?;
    assert_eq!(skipped.status, 200, "{}", skipped.text());
    let refused = get("/system-roots").await?;
    assert_eq!(refused.status, 503, "{}", refused.text());
    // The port's `tls: {mode: DISABLE}` replaces the rule's SIMPLE: plain text to the echo.
    let plain = get("/port-disable").await?;
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert_eq!(plain.json::<envoy_test::Echo>()?.upstream, "shop");
    gateway.stop()?;
    Ok(())
}
