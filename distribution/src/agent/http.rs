//! `http(s)://` modules, fetched as istio-agent's `HTTPFetcher` does: up to five attempts with
//! exponential backoff on connection errors and retryable 5xx answers, and the body unboxed
//! from gzip and tar (first file) layers until a wasm binary shows.

use std::io::Read;
use std::time::Duration;

use flate2::read::GzDecoder;

use crate::error::{Error, Result};
use crate::oci::image::check_wasm_binary;

/// istio-agent's defaults: `HTTPRequestMaxRetries` and the backoff's first interval.
const MAX_ATTEMPTS: u32 = 5;
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// The timeout pilot sets on every remote module (`buildDataSource`).
const TIMEOUT: Duration = Duration::from_secs(30);
/// istio's `MaxWasmBinarySizeBytes` default (256 MiB).
const MAX_MODULE_BYTES: u64 = 256 * 1024 * 1024;

/// The module's bytes, unboxed; not yet checked against any checksum.
pub fn fetch(url: &str) -> Result<Vec<u8>> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .new_agent();
    let mut backoff = INITIAL_BACKOFF;
    let mut last_error = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        match agent.get(url).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if status == 200 {
                    let body = response
                        .body_mut()
                        .with_config()
                        .limit(MAX_MODULE_BYTES)
                        .read_to_vec()
                        .map_err(|error| Error::new(format!("reading {url}: {error}")))?;
                    return Ok(unbox(body));
                }
                last_error = format!("status code {status}");
                if !retryable(status) {
                    return Err(failed(attempt, &last_error));
                }
            }
            Err(error) => last_error = error.to_string(),
        }
        if attempt < MAX_ATTEMPTS {
            std::thread::sleep(backoff);
            backoff *= 2;
        }
    }
    Err(failed(MAX_ATTEMPTS, &last_error))
}

fn failed(attempts: u32, last_error: &str) -> Error {
    Error::new(format!(
        "wasm module download failed after {attempts} attempts, last error: {last_error}"
    ))
}

fn retryable(status: u16) -> bool {
    status >= 500 && !matches!(status, 501 | 505 | 511)
}

/// Peels gzip and tar layers off `origin` until it is a wasm binary; gives `origin` back when
/// a layer cannot be read (the wasm check that follows then reports it).
fn unbox(origin: Vec<u8>) -> Vec<u8> {
    let mut bytes = origin.clone();
    loop {
        if check_wasm_binary(&bytes).is_ok() {
            return bytes;
        }
        let inner = if bytes.starts_with(&[0x1f, 0x8b]) {
            gunzip(&bytes)
        } else if bytes.len() > 262 && &bytes[257..262] == b"ustar" {
            first_tar_file(&bytes)
        } else {
            None
        };
        match inner {
            Some(inner) => bytes = inner,
            None => return origin,
        }
    }
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .take(MAX_MODULE_BYTES)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn first_tar_file(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(bytes);
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut out = Vec::new();
    entry.read_to_end(&mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const WASM: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn unboxes_gzip_and_tar_layers() {
        let mut header = tar::Header::new_ustar();
        header.set_size(WASM.len() as u64);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_data(&mut header, "anything.wasm", WASM)
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        assert_eq!(unbox(gz.finish().unwrap()), WASM);
        assert_eq!(unbox(WASM.to_vec()), WASM);
        assert_eq!(unbox(b"not wasm".to_vec()), b"not wasm");
    }

    #[test]
    fn retries_only_transient_server_errors() {
        assert!(retryable(503));
        assert!(!retryable(501));
        assert!(!retryable(404));
    }
}
