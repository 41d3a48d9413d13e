//! The local module cache, laid out as istio-agent's `LocalFileCache`:
//! `<dir>/<sha256 of module name>/<checksum>.wasm`, where the module name is the URL (for
//! `oci://`, without tag or digest) and the checksum is the module's sha256 (`http(s)://`) or
//! the image's manifest digest (`oci://`). Unlike istio-agent's in-memory index, the index from
//! a URL to the checksum last pulled for it is kept on disk (`<dir>/<name hash>/urls/<url hash>`),
//! so the cache outlives the process.

use std::fs;
use std::path::{Path, PathBuf};

use super::pull_policy::PullPolicy;
use super::{http, oci};
use crate::error::{Context, Error, Result};
use crate::oci::digest::Digest;
use crate::oci::image::check_wasm_binary;
use crate::registry::reference::Reference;

pub struct ModuleCache {
    dir: PathBuf,
}

/// A module ready for Envoy: a local file, and how it was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModule {
    pub path: PathBuf,
    /// The checksum the module is known by (hex sha256 of the module or of the image manifest).
    pub checksum: String,
    pub pulled: bool,
}

/// What to fetch: a WasmPlugin's `url` (with a scheme), `sha256` and `imagePullPolicy`.
#[derive(Debug, Clone, Copy)]
pub struct ModuleRequest<'a> {
    pub url: &'a str,
    pub sha256: Option<&'a str>,
    pub pull_policy: PullPolicy,
}

impl ModuleCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModuleCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The module of an `http(s)://` or `oci://` URL, from the cache when the checksum (given,
    /// or pinned in the URL, or pulled before when the policy allows) names a cached module,
    /// else fetched and checked against the checksum when there is one.
    pub fn get(&self, request: ModuleRequest<'_>) -> Result<CachedModule> {
        let name = module_name(request.url)?;
        let module_dir = self.dir.join(Digest::of(name.as_bytes()).hex());
        let url_index = module_dir
            .join("urls")
            .join(Digest::of(request.url.as_bytes()).hex());
        let known = self.known_checksum(request, &url_index)?;
        if let Some(checksum) = &known {
            let path = module_dir.join(format!("{checksum}.wasm"));
            if path.is_file() {
                return Ok(CachedModule {
                    path,
                    checksum: checksum.clone(),
                    pulled: false,
                });
            }
        }
        let (checksum, module) = fetch(request.url, known.as_deref())?;
        check_wasm_binary(&module).map_err(|_| {
            Error::new(format!(
                "fetched Wasm binary from {} is invalid",
                request.url
            ))
        })?;
        let path = module_dir.join(format!("{checksum}.wasm"));
        write_atomically(&path, &module)?;
        if !pinned_by_url(request.url) {
            write_atomically(&url_index, checksum.as_bytes())?;
        }
        Ok(CachedModule {
            path,
            checksum,
            pulled: true,
        })
    }

    fn known_checksum(
        &self,
        request: ModuleRequest<'_>,
        url_index: &Path,
    ) -> Result<Option<String>> {
        if let Some(sha256) = request.sha256.filter(|sha256| !sha256.is_empty()) {
            return Ok(Some(sha256.to_string()));
        }
        if let Some(digest) = url_digest(request.url)? {
            return Ok(Some(digest.hex().to_string()));
        }
        if request.pull_policy.reuses_pulled(request.url) {
            if let Ok(checksum) = fs::read_to_string(url_index) {
                return Ok(Some(checksum.trim().to_string()));
            }
        }
        Ok(None)
    }
}

/// Fetches the module; the checksum of what came is compared with `expected` before the
/// module is accepted (for an image, before its layers are even downloaded).
fn fetch(url: &str, expected: Option<&str>) -> Result<(String, Vec<u8>)> {
    let mismatch = |actual: &str, expected: &str| {
        Error::new(format!(
            "module downloaded from {url} has checksum {actual}, which does not match: {expected}"
        ))
    };
    if let Some(image) = url.strip_prefix("oci://") {
        let prepared =
            oci::PreparedImage::fetch(image).context("could not fetch Wasm OCI image")?;
        let actual = prepared.digest().hex().to_string();
        if let Some(expected) = expected.filter(|expected| *expected != actual) {
            return Err(mismatch(&actual, expected));
        }
        Ok((actual, prepared.module()?))
    } else if url.starts_with("http://") || url.starts_with("https://") {
        let module = http::fetch(url)?;
        let actual = Digest::of(&module).hex().to_string();
        if let Some(expected) = expected.filter(|expected| *expected != actual) {
            return Err(mismatch(&actual, expected));
        }
        Ok((actual, module))
    } else {
        Err(Error::new(format!(
            "unsupported Wasm module downloading URL scheme: {url}"
        )))
    }
}

/// `oci://registry/repository` for images, the URL itself otherwise.
fn module_name(url: &str) -> Result<String> {
    Ok(match url.strip_prefix("oci://") {
        Some(image) => oci::module_name(image),
        None => url.to_string(),
    })
}

/// The digest an `oci://…@sha256:…` URL pins.
fn url_digest(url: &str) -> Result<Option<Digest>> {
    match url.strip_prefix("oci://") {
        Some(image) if image.contains('@') => Ok(Reference::parse(image)?.digest),
        _ => Ok(None),
    }
}

fn pinned_by_url(url: &str) -> bool {
    url.starts_with("oci://") && url.contains('@')
}

/// Writes through a temporary file and a rename, so a reader never sees half a module.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::new(format!("{} has no parent", path.display())))?;
    fs::create_dir_all(parent).context(format!("creating {}", parent.display()))?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&temporary, bytes).context(format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, path).context(format!("writing {}", path.display()))
}
