//! A client for the OCI distribution HTTP API v2: enough to push an image (blob uploads, then the
//! manifest) and to pull one back (manifest by tag or digest, blobs by digest), with the Basic
//! and Bearer token authentication that registries ask for in their `WWW-Authenticate` challenge.

use std::cell::RefCell;
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{self, Method, Response};
use ureq::{Body, SendBody};

use super::credentials::{self, Credentials};
use super::reference::{is_loopback, Reference};
use crate::error::{Context, Error, Result};
use crate::oci::digest::Digest;
use crate::oci::image::{Blob, Image};
use crate::oci::manifest::{Descriptor, Manifest};
use crate::oci::media_type;

/// Upper bound on any one response body: far above any wasm module, bounded all the same.
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

pub struct Client {
    agent: ureq::Agent,
    /// `http://host:port` for loopback registries, `https://host[:port]` for the rest.
    base: String,
    credentials: Option<Credentials>,
    /// The `Authorization` value that the last challenge earned, reused until refused.
    authorization: RefCell<Option<String>>,
}

/// A manifest fetched from a registry, with the digest of its exact bytes.
pub struct PulledManifest {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub manifest: Manifest,
}

impl Client {
    /// A client for `registry` (`host[:port]`) with the docker config's credentials for it.
    pub fn new(registry: &str) -> Result<Self> {
        Ok(Self::with_credentials(
            registry,
            credentials::for_registry(registry)?,
        ))
    }

    pub fn with_credentials(registry: &str, credentials: Option<Credentials>) -> Self {
        let scheme = if is_loopback(registry) {
            "http"
        } else {
            "https"
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .new_agent();
        Client {
            agent,
            base: format!("{scheme}://{registry}"),
            credentials,
            authorization: RefCell::new(None),
        }
    }

    /// Uploads every blob the registry lacks, then the manifest under `tag`; returns the
    /// manifest digest after checking it against the one the registry reports.
    pub fn push(&self, repository: &str, tag: &str, image: &Image) -> Result<Digest> {
        let scope = format!("repository:{repository}:pull,push");
        for blob in &image.blobs {
            self.push_blob(repository, &scope, blob)
                .context(format!("uploading blob {}", blob.digest))?;
        }
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
        let mut response = self.execute(
            Method::PUT,
            &url,
            &scope,
            &[("content-type", image.media_type.as_str())],
            Some(&image.manifest),
        )?;
        expect_status(&mut response, &[201], &format!("PUT {url}"))?;
        if let Some(reported) = header(&response, "docker-content-digest") {
            if reported != image.digest.to_string() {
                return Err(Error::new(format!(
                    "PUT {url}: the registry stored the manifest as {reported}, expected {}",
                    image.digest
                )));
            }
        }
        Ok(image.digest.clone())
    }

    fn push_blob(&self, repository: &str, scope: &str, blob: &Blob) -> Result<()> {
        let blob_url = format!("{}/v2/{repository}/blobs/{}", self.base, blob.digest);
        let mut existing = self.execute(Method::HEAD, &blob_url, scope, &[], None)?;
        if existing.status() == http::StatusCode::OK {
            return Ok(());
        }
        drain(&mut existing);
        let start_url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let mut started = self.execute(Method::POST, &start_url, scope, &[], Some(&[]))?;
        expect_status(&mut started, &[202], &format!("POST {start_url}"))?;
        let location = header(&started, "location")
            .ok_or_else(|| Error::new(format!("POST {start_url}: no Location in the answer")))?;
        let upload_url = self.resolve(&location);
        let separator = if upload_url.contains('?') { '&' } else { '?' };
        let digest_param = blob.digest.to_string().replace(':', "%3A");
        let put_url = format!("{upload_url}{separator}digest={digest_param}");
        let mut finished = self.execute(
            Method::PUT,
            &put_url,
            scope,
            &[("content-type", "application/octet-stream")],
            Some(&blob.bytes),
        )?;
        expect_status(&mut finished, &[201], "PUT upload")
    }

    /// Fetches a manifest by tag or digest; a pinned digest must match the bytes received.
    pub fn pull_manifest(&self, reference: &Reference) -> Result<PulledManifest> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base,
            reference.repository,
            reference.identifier()
        );
        let scope = format!("repository:{}:pull", reference.repository);
        let accept = [media_type::OCI_MANIFEST, media_type::DOCKER_MANIFEST].join(", ");
        let mut response = self.execute(Method::GET, &url, &scope, &[("accept", &accept)], None)?;
        expect_status(&mut response, &[200], &format!("GET {url}"))?;
        let bytes = read_body(&mut response).context(format!("GET {url}"))?;
        let digest = Digest::of(&bytes);
        if let Some(pinned) = &reference.digest {
            pinned.verify(&bytes, &format!("manifest of {reference}"))?;
        }
        let manifest = Manifest::parse(&bytes).context(format!("manifest of {reference}"))?;
        Ok(PulledManifest {
            bytes,
            digest,
            manifest,
        })
    }

    /// Fetches a blob and checks it against the descriptor's digest.
    pub fn pull_blob(&self, repository: &str, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let digest = descriptor.parsed_digest()?;
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let scope = format!("repository:{repository}:pull");
        let mut response = self.execute(Method::GET, &url, &scope, &[], None)?;
        expect_status(&mut response, &[200], &format!("GET {url}"))?;
        let bytes = read_body(&mut response).context(format!("GET {url}"))?;
        digest.verify(&bytes, &format!("blob {digest}"))?;
        Ok(bytes)
    }

    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }

    /// Sends a request; on a 401 answers the challenge once and sends it again.
    fn execute(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response<Body>> {
        let authorization = self.authorization.borrow().clone();
        let response = self.send(&method, url, headers, body, authorization.as_deref())?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        let authorization = self
            .answer(&challenge, scope)
            .context(format!("{method} {url}"))?;
        *self.authorization.borrow_mut() = Some(authorization.clone());
        self.send(&method, url, headers, body, Some(&authorization))
    }

    fn send(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        authorization: Option<&str>,
    ) -> Result<Response<Body>> {
        let mut request = http::Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let sent = match body {
            Some(bytes) => self.agent.run(request.body(bytes).map_err(http_error)?),
            None => self
                .agent
                .run(request.body(SendBody::none()).map_err(http_error)?),
        };
        sent.context(format!("{method} {url}"))
    }

    /// The `Authorization` value for a challenge: Basic from the credentials, or a Bearer token
    /// from the challenge's realm (with the credentials when there are some).
    fn answer(&self, challenge: &str, scope: &str) -> Result<String> {
        let (scheme, parameters) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let parameters = parse_challenge(parameters);
        let parameter = |name: &str| {
            parameters
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        if scheme.eq_ignore_ascii_case("basic") {
            return self.credentials.as_ref().map(Credentials::basic_authorization).ok_or_else(|| {
                Error::new("the registry wants credentials: log in with `docker login` (no credential helpers)")
            });
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::new(format!(
                "unsupported authentication challenge {challenge:?}"
            )));
        }
        let realm =
            parameter("realm").ok_or_else(|| Error::new("Bearer challenge without realm"))?;
        let mut token_url = format!(
            "{realm}?scope={}",
            query_escape(parameter("scope").unwrap_or(scope))
        );
        if let Some(service) = parameter("service") {
            token_url.push_str(&format!("&service={}", query_escape(service)));
        }
        let authorization = self
            .credentials
            .as_ref()
            .map(Credentials::basic_authorization);
        let mut response = self.send(
            &Method::GET,
            &token_url,
            &[],
            None,
            authorization.as_deref(),
        )?;
        expect_status(&mut response, &[200], &format!("token request to {realm}"))?;
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&read_body(&mut response)?)?;
        let token = answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| Error::new(format!("token answer from {realm} has no token")))?;
        Ok(format!("Bearer {token}"))
    }
}

fn http_error(error: http::Error) -> Error {
    Error::new(format!("building the request: {error}"))
}

fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)?
        .to_str()
        .ok()
        .map(str::to_string)
}

fn read_body(response: &mut Response<Body>) -> Result<Vec<u8>> {
    Ok(response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()?)
}

fn drain(response: &mut Response<Body>) {
    // The answer is of no use; reading it lets the connection be reused.
    let _ = read_body(response);
}

fn expect_status(response: &mut Response<Body>, expected: &[u16], what: &str) -> Result<()> {
    let status = response.status().as_u16();
    if expected.contains(&status) {
        return Ok(());
    }
    let body = read_body(response).unwrap_or_default();
    Err(Error::new(format!(
        "{what}: HTTP {status}: {}",
        String::from_utf8_lossy(&body).trim()
    )))
}

/// `key="value", key2=value2` pairs of a `WWW-Authenticate` header.
fn parse_challenge(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, remainder) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap_or(quoted.len());
                (&quoted[..end], quoted.get(end + 1..).unwrap_or_default())
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        pairs.push((key, value.to_string()));
        rest = remainder.trim_start().trim_start_matches(',');
    }
    pairs
}

fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_bearer_challenge() {
        let pairs = parse_challenge(
            r#"realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            pairs,
            vec![
                (
                    "realm".to_string(),
                    "https://auth.example.com/token".to_string()
                ),
                ("service".to_string(), "registry.example.com".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string()),
            ]
        );
    }

    #[test]
    fn escapes_query_values() {
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
