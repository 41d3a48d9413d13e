//! A small HTTP client for tests: HTTP/1.1 or h2c, pooled keep-alive connections,
//! and a bounded wait on every request.

use std::error::Error as StdError;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The longest a request (including reading the whole response) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled HTTP client. Clones share the pool, so a load loop reuses connections.
#[derive(Clone, Debug)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// Speaks HTTP/1.1 with keep-alive.
    pub fn http1() -> Self {
        Self::build(false)
    }

    /// Speaks HTTP/2 with prior knowledge (h2c): no upgrade, no TLS.
    pub fn http2() -> Self {
        Self::build(true)
    }

    fn build(http2_only: bool) -> Self {
        let mut connector = HttpConnector::new();
        // Without it, Nagle's algorithm and delayed ACKs add ~40 ms to small requests.
        connector.set_nodelay(true);
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .http2_only(http2_only)
            .build(connector);
        Client { inner }
    }

    /// Starts a GET request.
    pub fn get(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("GET", url)
    }

    /// Starts a POST request.
    pub fn post(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("POST", url)
    }

    /// Starts a request with any method, e.g. `"PUT"` or `"PURGE"`.
    pub fn request(&self, method: impl Into<String>, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

/// A request being put together; nothing is checked or sent before [`Self::send`].
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl RequestBuilder {
    /// Adds a header; adding the same name again sends it several times.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response.
    pub async fn send(self) -> Result<Response> {
        let context = format!("{} {}", self.method, self.url);
        let request = self.build().map_err(|e| Error::http(&context, e))?;
        let exchange = async {
            let response = self
                .client
                .inner
                .request(request)
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| describe(&e))?;
            Ok::<_, String>(Response {
                status,
                headers,
                body: body.to_bytes(),
            })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(detail)) => Err(Error::http(context, detail)),
            Err(_) => Err(Error::http(
                context,
                format!("no complete response within {REQUEST_TIMEOUT:?}"),
            )),
        }
    }

    fn build(&self) -> std::result::Result<Request<Full<Bytes>>, String> {
        let method = Method::from_bytes(self.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = Request::builder()
            .method(method)
            .uri(&self.url)
            .body(Full::new(self.body.clone()))
            .map_err(|e| e.to_string())?;
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header name {name:?}: {e}"))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| format!("value of header {name}: {e}"))?;
            request.headers_mut().append(name, value);
        }
        Ok(request)
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Every header as received, names lowercase; repeated names stay repeated.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        header_values(&self.headers, name)
    }

    /// The body as text; invalid UTF-8 is replaced, not an error.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::http(
                format!("parsing a {} response as JSON", self.status),
                format!("{e}; body: {}", self.text()),
            )
        })
    }
}

/// An error with its chain of causes: hyper's top-level messages ("client error
/// (Connect)") alone do not say what failed.
fn describe(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Every value of header `name` (case-insensitive) in `headers`, in order.
pub fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
        .collect()
}
