//! Echo upstreams: loopback HTTP servers that answer every request with a JSON
//! description of what they received, so a test sees exactly what Envoy forwarded.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use envoy_runner::{Error as HarnessError, Result};

/// How long the accept loop backs off after a failed accept (e.g. out of file
/// descriptors), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How an upstream answers.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// The status of every response (after the first `fail_first`); default 200.
    pub status: u16,
    /// How long to wait before answering; default none.
    pub delay: Duration,
    /// Answer the first this many requests with 503, e.g. to exercise retries.
    pub fail_first: usize,
    /// Headers added to every response, after `content-type`.
    pub response_headers: Vec<(String, String)>,
    /// Headers added after those, as raw bytes: values that are not UTF-8 (obs-text).
    pub raw_response_headers: Vec<(String, Vec<u8>)>,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            status: 200,
            delay: Duration::ZERO,
            fail_first: 0,
            response_headers: Vec::new(),
            raw_response_headers: Vec::new(),
        }
    }
}

/// What an upstream received, as it records it and echoes it back as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echo {
    /// The name of the upstream that answered.
    pub upstream: String,
    /// The request method.
    pub method: String,
    /// Path and query, as received.
    pub path: String,
    /// `:authority` for HTTP/2, the `Host` header for HTTP/1.1.
    pub authority: String,
    /// The protocol Envoy spoke to the upstream: `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Every header, names lowercase, repeated names kept (grouped by name).
    pub headers: Vec<(String, String)>,
    /// The body, with invalid UTF-8 replaced.
    pub body: String,
    /// The headers whose values are not UTF-8 (shown replaced in `headers`), byte for byte.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_headers: Vec<(String, Vec<u8>)>,
}

impl Echo {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        envoy_runner::header_values(&self.headers, name)
    }
}

/// A running echo server on 127.0.0.1; it stops when dropped.
///
/// One port takes both HTTP/1.1 and HTTP/2 with prior knowledge, so the same
/// upstream serves HTTP/1.1 and h2c clusters; [`Echo::version`] tells which was used.
#[derive(Debug)]
pub struct Upstream {
    name: String,
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Echo>>>,
    server: JoinHandle<()>,
}

impl Upstream {
    /// Binds a free loopback port and starts serving on the current tokio runtime.
    pub async fn start(name: impl Into<String>, options: UpstreamOptions) -> Result<Upstream> {
        let name = name.into();
        let behaviour = Behaviour::new(&name, options)?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| HarnessError::io(format!("binding upstream {name}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io(format!("reading the address of upstream {name}"), e))?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            name: name.clone(),
            behaviour,
            received: Arc::clone(&received),
        });
        let server = tokio::spawn(serve(listener, state));
        Ok(Upstream {
            name,
            addr,
            received,
            server,
        })
    }

    /// The upstream's name, as it appears in [`Echo::upstream`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address to put in a [`crate::Cluster`].
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests have arrived so far.
    pub fn requests_received(&self) -> usize {
        self.lock_received().len()
    }

    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Echo> {
        self.lock_received().clone()
    }

    fn lock_received(&self) -> std::sync::MutexGuard<'_, Vec<Echo>> {
        // A panic while holding the lock cannot leave the Vec half-updated.
        self.received.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Upstream {
    /// Stops accepting; dropping the accept loop's `JoinSet` aborts open connections.
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The options, checked once at start so answering a request cannot fail.
struct Behaviour {
    status: StatusCode,
    delay: Duration,
    fail_first: usize,
    response_headers: Vec<(HeaderName, HeaderValue)>,
}

impl Behaviour {
    fn new(name: &str, options: UpstreamOptions) -> Result<Behaviour> {
        let invalid =
            |detail: String| HarnessError::http(format!("options of upstream {name}"), detail);
        let status = StatusCode::from_u16(options.status)
            .map_err(|e| invalid(format!("status {}: {e}", options.status)))?;
        let response_headers = options
            .response_headers
            .iter()
            .map(|(name, value)| {
                let header_name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| invalid(format!("header name {name:?}: {e}")))?;
                let header_value = HeaderValue::from_str(value)
                    .map_err(|e| invalid(format!("value of header {name}: {e}")))?;
                Ok((header_name, header_value))
            })
            .chain(options.raw_response_headers.iter().map(|(name, value)| {
                let header_name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| invalid(format!("header name {name:?}: {e}")))?;
                let header_value = HeaderValue::from_bytes(value)
                    .map_err(|e| invalid(format!("value of header {name}: {e}")))?;
                Ok((header_name, header_value))
            }))
            .collect::<Result<_>>()?;
        Ok(Behaviour {
            status,
            delay: options.delay,
            fail_first: options.fail_first,
            response_headers,
        })
    }
}

struct State {
    name: String,
    behaviour: Behaviour,
    received: Arc<Mutex<Vec<Echo>>>,
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Small echo responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        while connections.try_join_next().is_some() {}
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&state), request));
            // A connection error (e.g. Envoy resetting it) only ends that connection.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(e) => format!("(error reading the request body: {e})"),
    };
    let authority = parts
        .uri
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| {
            let host = parts.headers.get(HOST)?;
            Some(String::from_utf8_lossy(host.as_bytes()).into_owned())
        })
        .unwrap_or_default();
    let echo = Echo {
        upstream: state.name.clone(),
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|path| path.as_str().to_owned())
            .unwrap_or_default(),
        authority,
        version: format!("{:?}", parts.version),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body,
        raw_headers: parts
            .headers
            .iter()
            .filter(|(_, value)| std::str::from_utf8(value.as_bytes()).is_err())
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
    };
    let index = {
        let mut received = state
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        received.push(echo.clone());
        received.len() - 1
    };

    let behaviour = &state.behaviour;
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    // Serializing strings cannot fail.
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&echo).unwrap_or_default(),
    )));
    *response.status_mut() = if index < behaviour.fail_first {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        behaviour.status
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in &behaviour.response_headers {
        headers.append(name.clone(), value.clone());
    }
    Ok(response)
}
