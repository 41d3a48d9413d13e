//! Takes the wasm module out of an image the way istio-agent does (`pkg/wasm/imagefetcher.go`):
//! a Docker manifest must end in a Docker tar+gzip layer; an OCI manifest is read as the compat
//! variant (last layer OCI tar+gzip) and, failing that, as the wasm artifact variant (exactly two
//! layers, one of them the raw module). Inside a tar, the first entry whose base name is
//! `plugin.wasm` is the module.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use super::image::{check_wasm_binary, PLUGIN_FILE};
use super::manifest::{Descriptor, Manifest};
use super::media_type;
use crate::error::{Context, Error, Result};

/// `fetch` returns a blob's bytes, already checked against the descriptor's digest.
pub fn wasm_from_image(
    manifest: &Manifest,
    mut fetch: impl FnMut(&Descriptor) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let wasm = if manifest.media_type.as_deref() == Some(media_type::DOCKER_MANIFEST) {
        from_last_tar_layer(manifest, media_type::DOCKER_LAYER_TAR_GZIP, &mut fetch)
            .context("as a Docker compat image")?
    } else {
        match from_last_tar_layer(manifest, media_type::OCI_LAYER_TAR_GZIP, &mut fetch) {
            Ok(wasm) => wasm,
            Err(compat) => from_artifact(manifest, &mut fetch).map_err(|artifact| {
                Error::new(format!(
                    "the image is in no format istio-agent accepts: as compat variant: {compat}; \
                     as wasm artifact variant: {artifact}"
                ))
            })?,
        }
    };
    check_wasm_binary(&wasm)?;
    Ok(wasm)
}

fn from_last_tar_layer(
    manifest: &Manifest,
    expected_media_type: &str,
    fetch: &mut impl FnMut(&Descriptor) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let layer = manifest
        .layers
        .last()
        .ok_or_else(|| Error::new("number of layers must be greater than zero"))?;
    if layer.media_type != expected_media_type {
        return Err(Error::new(format!(
            "invalid media type {} (expect {expected_media_type})",
            layer.media_type
        )));
    }
    plugin_from_tar_gz(&fetch(layer)?)
}

fn plugin_from_tar_gz(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    for entry in archive.entries().context("reading the layer as tar.gz")? {
        let mut entry = entry.context("reading the layer as tar.gz")?;
        let path = entry
            .path()
            .context("reading a tar entry name")?
            .into_owned();
        if Path::new(&path).file_name() == Some(PLUGIN_FILE.as_ref()) {
            let mut wasm = Vec::new();
            entry
                .read_to_end(&mut wasm)
                .context(format!("reading {PLUGIN_FILE}"))?;
            return Ok(wasm);
        }
    }
    Err(Error::new(format!(
        "{PLUGIN_FILE} not found in the archive"
    )))
}

fn from_artifact(
    manifest: &Manifest,
    fetch: &mut impl FnMut(&Descriptor) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    if manifest.layers.len() != 2 {
        return Err(Error::new(format!(
            "number of layers must be 2 but got {}",
            manifest.layers.len()
        )));
    }
    let layer = manifest
        .layers
        .iter()
        .find(|layer| layer.media_type == media_type::WASM_LAYER)
        .ok_or_else(|| {
            Error::new(format!(
                "could not find the layer of type {}",
                media_type::WASM_LAYER
            ))
        })?;
    fetch(layer)
}
