//! istio-ingressgateway's connection manager settings (`envoy_test::gateway_defaults`) in a real
//! Envoy: what a client's path and headers mean to the upstream, beside what a stock Envoy
//! listener (`Listener::plain_envoy`) makes of the same request.

use envoy_test::{
    Bootstrap, Client, Cluster, Echo, Envoy, Listener, RouteConfig, Upstream, UpstreamOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One echo upstream behind two listeners: `istio` (the harness default) and `plain`.
struct Pair {
    envoy: Envoy,
    _upstream: Upstream,
}

impl Pair {
    async fn start() -> Result<Self> {
        let options = UpstreamOptions {
            response_headers: vec![("server".into(), "echo-upstream".into())],
            ..UpstreamOptions::default()
        };
        let upstream = Upstream::start("echo", options).await?;
        let bootstrap = Bootstrap::new()
            .listener(Listener::new("istio", RouteConfig::to_cluster("echo")))
            .listener(Listener::new("plain", RouteConfig::to_cluster("echo")).plain_envoy())
            .cluster(Cluster::new("echo", [upstream.addr()]));
        Ok(Pair {
            envoy: Envoy::start(&bootstrap).await?,
            _upstream: upstream,
        })
    }

    fn url(&self, listener: &str, path: &str) -> Result<String> {
        Ok(format!("{}{path}", self.envoy.listener_url(listener)?))
    }

    /// The request as the upstream received it through `listener`.
    async fn echo(
        &self,
        client: &Client,
        listener: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Echo> {
        let mut request = client.get(self.url(listener, path)?);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        assert_eq!(
            response.status,
            200,
            "{listener} {path}: {}",
            response.text()
        );
        Ok(response.json()?)
    }

    /// The status line Envoy answers a raw HTTP/1 request with on `listener`, and the path
    /// the upstream saw when it was forwarded.
    async fn raw(&self, listener: &str, request: &str) -> Result<String> {
        let port = self.envoy.listener_port(listener)?;
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut answer),
        )
        .await
        .map_err(|_| "no complete answer within 10 s")??;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_normalised_as_behind_istio_and_escaped_slashes_kept() -> Result<()> {
    let pair = Pair::start().await?;
    // (client path, what the upstream sees behind Istio's gateway defaults)
    let cases = [
        ("/a/../b", "/b"),
        ("/a/./b/", "/a/b/"),
        ("/a/b/../../../c", "/c"),
        ("/static/..%2Fadmin", "/static/..%2Fadmin"),
        ("/a%2F..%2Fb", "/a%2F..%2Fb"),
        ("/a%2fb/../c", "/c"),
        ("//double//slash", "//double//slash"),
        ("/%41%62c", "/Abc"),
    ];
    for client in [Client::http1(), Client::http2()] {
        for (path, expected) in cases {
            let behind_istio = pair.echo(&client, "istio", path, &[]).await?;
            assert_eq!(behind_istio.path, expected, "istio: {path}");
        }
        // A stock listener forwards `..` as the client wrote it: the defaults are what changes it.
        let plain = pair.echo(&client, "plain", "/a/../b", &[]).await?;
        assert_eq!(plain.path, "/a/../b");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_forwarding_and_envoy_headers_are_sanitised_at_the_edge() -> Result<()> {
    let pair = Pair::start().await?;
    let sent = [
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-client-cert", "Hash=forged"),
        ("x-envoy-internal", "true"),
        ("x-envoy-external-address", "203.0.113.7"),
        ("x-envoy-original-path", "/forged"),
        ("x-envoy-retry-on", "5xx"),
        ("x-envoy-upstream-rq-timeout-ms", "1"),
        ("x-envoy-decorator-operation", "forged"),
        ("x-request-id", "client-chosen-id"),
    ];
    for client in [Client::http1(), Client::http2()] {
        let istio = pair.echo(&client, "istio", "/headers", &sent).await?;
        // use_remote_address with no trusted hops: the peer is the client address and is
        // appended (for a loopback peer Envoy appends its own node address instead); the
        // scheme is the connection's.
        let xff: Vec<&str> = istio
            .header("x-forwarded-for")
            .unwrap_or_default()
            .split(',')
            .collect();
        assert!(xff.len() == 2 && xff[0] == "203.0.113.7", "{xff:?}");
        assert_eq!(istio.header("x-forwarded-proto"), Some("http"));
        assert_eq!(istio.header("x-envoy-external-address"), Some("127.0.0.1"));
        assert_eq!(istio.header("x-forwarded-client-cert"), None);
        assert_eq!(istio.header("x-envoy-internal"), None);
        assert_eq!(istio.header("x-envoy-original-path"), None);
        assert_eq!(istio.header("x-envoy-retry-on"), None);
        assert_eq!(istio.header("x-envoy-upstream-rq-timeout-ms"), None);
        assert_eq!(istio.header("x-envoy-decorator-operation"), None);
        let request_id = istio.header("x-request-id").unwrap_or_default();
        assert!(
            request_id.len() == 36 && request_id != "client-chosen-id",
            "an edge request gets a fresh x-request-id: {request_id:?}"
        );

        // A stock listener trusts the loopback client as internal and keeps what it sent.
        let plain = pair.echo(&client, "plain", "/headers", &sent).await?;
        assert_eq!(plain.header("x-forwarded-for"), Some("203.0.113.7"));
        assert_eq!(plain.header("x-forwarded-proto"), Some("https"));
        assert_eq!(plain.header("x-envoy-original-path"), Some("/forged"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_header_is_istios_and_http10_and_fragments_behave_as_behind_istio() -> Result<()>
{
    let pair = Pair::start().await?;
    let response = Client::http1().get(pair.url("istio", "/x")?).send().await?;
    assert_eq!(response.header("server"), Some("istio-envoy"));
    let plain = Client::http1().get(pair.url("plain", "/x")?).send().await?;
    // Stock Envoy overwrites it too, with its own name.
    assert_eq!(plain.header("server"), Some("envoy"));

    // PILOT_HTTP10 is off by default: HTTP/1.0 is refused with 426 Upgrade Required.
    let http10 = pair
        .raw("istio", "GET /x HTTP/1.0\r\nHost: gateway\r\n\r\n")
        .await?;
    assert!(http10.starts_with("HTTP/1.1 426"), "{http10}");

    // Istio's bootstrap strips a path's fragment instead of refusing the request.
    let fragment = pair
        .raw(
            "istio",
            "GET /frag/path#section HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n",
        )
        .await?;
    assert!(fragment.starts_with("HTTP/1.1 200"), "{fragment}");
    assert!(fragment.contains(r#""path":"/frag/path""#), "{fragment}");
    Ok(())
}
