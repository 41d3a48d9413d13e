//! Every Gateway server through the gateway binary and a real Envoy with the router from dist/:
//! HTTPS terminated with a `credentialName` Secret (SIMPLE) and with files (MUTUAL, a client with
//! and without a certificate), ALPN h2 and http/1.1, `minProtocolVersion`, `httpsRedirect` → 301,
//! each port on a listener of its own, and the servers the gateway cannot serve reported.
//! A DestinationRule's TLS origination (MUTUAL, with SNI and SAN checks) is tested against the
//! gateway's own MUTUAL listener. Certificates are made per test (rcgen); the client is rustls,
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
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use support::{Gateway, Result};

/// A test CA, a server certificate for the test hosts and a client certificate, all PEM.
struct Pki {
    ca: rcgen::Certificate,
    server: (String, String),
    client: (rcgen::Certificate, KeyPair),
}

impl Pki {
    fn new() -> Result<Pki> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "gateway test CA");
        let ca = ca_params.self_signed(&ca_key)?;
        let server_key = KeyPair::generate()?;
        let server = CertificateParams::new(vec![
            "shop.example.com".to_string(),
            "mtls.example.com".to_string(),
        ])?
        .signed_by(&server_key, &ca, &ca_key)?;
        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(vec!["client.example.com".to_string()])?;
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &ca, &ca_key)?;
        Ok(Pki {
            ca,
            server: (server.pem(), server_key.serialize_pem()),
            client: (client, client_key),
        })
    }

    /// The PEM files a config names: `certs/server.pem`, `server.key`, `ca.pem`, `client.pem`,
    /// `client.key` under `dir`.
    fn write_files(&self, dir: &Path) -> Result<()> {
        let certs = dir.join("certs");
        fs::create_dir_all(&certs)?;
        fs::write(certs.join("server.pem"), &self.server.0)?;
        fs::write(certs.join("server.key"), &self.server.1)?;
        fs::write(certs.join("ca.pem"), self.ca.pem())?;
        fs::write(certs.join("client.pem"), self.client.0.pem())?;
        fs::write(certs.join("client.key"), self.client.1.serialize_pem())?;
        Ok(())
    }

    fn client_config(&self, alpn: &[&str], with_certificate: bool) -> Result<rustls::ClientConfig> {
        self.client_config_for(rustls::DEFAULT_VERSIONS, alpn, with_certificate)
    }

    /// A client trusting the test CA, speaking only `versions`.
    fn client_config_for(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&str],
        with_certificate: bool,
    ) -> Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca.der().to_vec()))?;
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)?
        .with_root_certificates(roots);
        let mut config = if with_certificate {
            let (certificate, key) = &self.client;
            builder.with_client_auth_cert(
                vec![CertificateDer::from(certificate.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )?
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(config)
    }
}

/// What one TLS connection got: the ALPN protocol Envoy chose and the raw HTTP/1.1 response
/// (empty when no request was sent, or when the handshake or the request failed: `Err`).
struct Exchange {
    alpn: Option<String>,
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
        response: String::from_utf8_lossy(&response).into_owned(),
    })
}

fn status(response: &str) -> Option<u16> {
    response.split(' ').nth(1)?.parse().ok()
}

/// Writes the Gateway (five servers), the Secret, the certificate files, the router and a
/// VirtualService for the three hosts into `dir`.
fn write_config(dir: &Path, pki: &Pki, upstream_port: u16) -> Result<()> {
    pki.write_files(dir)?;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    fs::write(
        dir.join("gateway.yaml"),
        format!(
            "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [plain.example.com]
  - port: {{number: 80, name: http-redirect, protocol: HTTP}}
    hosts: [shop.example.com]
    tls: {{httpsRedirect: true}}
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [shop.example.com]
    tls: {{mode: SIMPLE, credentialName: shop-cert, minProtocolVersion: TLSV1_3}}
  - port: {{number: 8443, name: https-mtls, protocol: HTTPS}}
    hosts: [mtls.example.com]
    tls: {{mode: MUTUAL, serverCertificate: certs/server.pem, privateKey: certs/server.key, caCertificates: certs/ca.pem}}
  - port: {{number: 15443, name: tls-passthrough, protocol: TLS}}
    hosts: ['*']
    tls: {{mode: PASSTHROUGH}}
---
apiVersion: v1
kind: Secret
metadata: {{name: shop-cert, namespace: istio-system}}
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: shop}}
spec:
  hosts: [shop.example.com, plain.example.com, mtls.example.com]
  gateways: [istio-system/gw]
  http:
  - route: [{{destination: {{host: shop.shop.svc.cluster.local, port: {{number: 9080}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: shop, namespace: shop}}
spec:
  hosts: [shop.shop.svc.cluster.local]
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {upstream_port}}}}}]
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: router, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  url: file://{}
  priority: -100
",
            b64(&pki.server.0),
            b64(&pki.server.1),
            wasm_module("router")?.display()
        ),
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_is_served_https_terminated_mutual_checked_http_redirected() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let pki = Pki::new()?;
    let upstream = Upstream::start("shop", UpstreamOptions::default()).await?;
    let dir = scratch.path().join("config");
    write_config(&dir, &pki, upstream.addr().port())?;
    let gateway = Gateway::start(&dir, &scratch.path().join("cache"), scratch.path())?;
    let port_of = |number: u32| -> Result<u16> {
        let url = gateway
            .listener(number)
            .ok_or_else(|| format!("no listener for port {number}: {:?}", gateway.summary))?;
        Ok(url.rsplit(':').next().unwrap_or_default().parse()?)
    };
    let (https, mtls) = (port_of(443)?, port_of(8443)?);
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
        pki.client_config(&["h2", "http/1.1"], false)?,
        https,
        "shop.example.com",
        None,
    )?;
    assert_eq!(h2.alpn.as_deref(), Some("h2"));
    let http1 = exchange(
        pki.client_config(&["http/1.1"], false)?,
        https,
        "shop.example.com",
        Some("/items"),
    )?;
    assert_eq!(http1.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(status(&http1.response), Some(200), "{}", http1.response);
    assert!(
        http1.response.contains("\"upstream\":\"shop\""),
        "{}",
        http1.response
    );
    assert!(
        http1.response.contains("[\"x-forwarded-proto\",\"https\"]"),
        "{}",
        http1.response
    );
    // minProtocolVersion TLSV1_3: a TLS 1.2 client is refused.
    let tls12 = pki.client_config_for(&[&rustls::version::TLS12], &["http/1.1"], false)?;
    assert!(exchange(tls12, https, "shop.example.com", Some("/")).is_err());

    // Port 8443, MUTUAL with files: with the client certificate 200, without it no response.
    let with = exchange(
        pki.client_config(&["http/1.1"], true)?,
        mtls,
        "mtls.example.com",
        Some("/items"),
    )?;
    assert_eq!(status(&with.response), Some(200), "{}", with.response);
    let without = exchange(
        pki.client_config(&["http/1.1"], false)?,
        mtls,
        "mtls.example.com",
        Some("/items"),
    );
    assert!(
        without
            .as_ref()
            .map_or(true, |exchange| status(&exchange.response).is_none()),
        "answered without a client certificate: {:?}",
        without.map(|exchange| exchange.response)
    );
    gateway.stop()?;
    Ok(())
}

/// A port nothing listens on now (bound, read, released), for `--port-map`: the config must
/// name the MUTUAL listener's port before the gateway binds it.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_rule_tls_originates_mutual_tls_with_sni_and_san_checks() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let pki = Pki::new()?;
    let upstream = Upstream::start("shop", UpstreamOptions::default()).await?;
    let dir = scratch.path().join("config");
    pki.write_files(&dir)?;
    let mtls_port = free_port()?;
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
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: router, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  url: file://{}
  priority: -100
",
        wasm_module("router")?.display()
    );
    config.push_str(&entry("shop", upstream.addr().port(), 9080));
    for name in ["mutual", "simple", "wrong-san"] {
        config.push_str(&entry(name, mtls_port, 8443));
    }
    fs::write(dir.join("config.yaml"), config)?;
    let map = format!("8443={mtls_port}");
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
    gateway.stop()?;
    Ok(())
}
