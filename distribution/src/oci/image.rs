//! Builds a module's single-manifest OCI image in either format istio-agent accepts.
//!
//! Reproducible by construction: the tar entry has fixed metadata, the gzip header has no mtime
//! or file name, JSON is written with a fixed field order and sorted annotations, and no
//! timestamp enters the image unless the caller passes one (`SOURCE_DATE_EPOCH`).

use std::fmt;
use std::io::Write;

use flate2::{Compression, GzBuilder};
use serde_json::json;

use super::digest::Digest;
use super::manifest::{Annotations, Descriptor, Manifest};
use super::media_type;
use crate::error::{Context, Error, Result};

/// The file name istio-agent looks for inside a compat layer (it compares the base name).
pub const PLUGIN_FILE: &str = "plugin.wasm";
/// The annotation that marks the compat variant (solo-io wasm image spec, `spec-compat.md`).
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// One `tar+gzip` layer holding `plugin.wasm`: any OCI tool (skopeo, crane, docker) handles it.
    Compat,
    /// Two layers, the wasm config and the raw module: what `oras push` of a wasm artifact gives.
    Artifact,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Compat, Variant::Artifact];

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "compat" => Ok(Variant::Compat),
            "artifact" => Ok(Variant::Artifact),
            other => Err(Error::new(format!(
                "unknown image variant {other:?} (compat or artifact)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Compat => "compat",
            Variant::Artifact => "artifact",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A blob of the image with its media type, as it goes to a layout or a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Self {
        Blob {
            digest: Digest::of(&bytes),
            bytes,
        }
    }
}

/// A complete image: the manifest bytes (whose digest names the image) and every blob it cites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub manifest: Vec<u8>,
    pub digest: Digest,
    pub media_type: String,
    /// Config first, then layers; a blob cited twice is listed once.
    pub blobs: Vec<Blob>,
}

impl Image {
    pub fn build(wasm: &[u8], variant: Variant, annotations: &Annotations) -> Result<Self> {
        check_wasm_binary(wasm)?;
        let mut manifest_annotations = annotations.clone();
        let (config, layers, blobs) = match variant {
            Variant::Compat => {
                manifest_annotations.insert(VARIANT_ANNOTATION.to_string(), "compat".to_string());
                let tar = plugin_tar(wasm)?;
                let layer = gzip(&tar)?;
                let config = serde_json::to_vec(&json!({
                    "architecture": "wasm",
                    "os": "wasip1",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar).to_string()]},
                }))?;
                let config_descriptor = Descriptor::of(media_type::OCI_CONFIG, &config);
                let layer_descriptor = Descriptor::of(media_type::OCI_LAYER_TAR_GZIP, &layer);
                (
                    config_descriptor,
                    vec![layer_descriptor],
                    vec![Blob::new(config), Blob::new(layer)],
                )
            }
            Variant::Artifact => {
                // istio-agent wants exactly two layers and takes the one of the wasm media type;
                // the config blob doubles as the first layer, as `oras push` of a wasm artifact
                // with its config file does.
                let config = serde_json::to_vec(&json!({
                    "type": "envoy_proxy",
                    "abiVersions": ["proxy_abi_version_0_2_1"],
                }))?;
                let config_descriptor = Descriptor::of(media_type::WASM_CONFIG, &config);
                let mut wasm_descriptor = Descriptor::of(media_type::WASM_LAYER, wasm);
                wasm_descriptor.annotations = Some(Annotations::from([(
                    "org.opencontainers.image.title".to_string(),
                    PLUGIN_FILE.to_string(),
                )]));
                let layers = vec![config_descriptor.clone(), wasm_descriptor];
                (
                    config_descriptor,
                    layers,
                    vec![Blob::new(config), Blob::new(wasm.to_vec())],
                )
            }
        };
        let manifest = Manifest::new(config, layers, manifest_annotations);
        let manifest_bytes = serde_json::to_vec(&manifest)?;
        Ok(Image {
            digest: Digest::of(&manifest_bytes),
            manifest: manifest_bytes,
            media_type: media_type::OCI_MANIFEST.to_string(),
            blobs,
        })
    }

    pub fn blob(&self, digest: &Digest) -> Option<&Blob> {
        self.blobs.iter().find(|blob| &blob.digest == digest)
    }
}

/// What istio-agent checks before it hands a module to Envoy: the wasm magic and version header.
pub fn check_wasm_binary(bytes: &[u8]) -> Result<()> {
    if bytes.len() >= 8 && bytes.starts_with(b"\0asm") {
        Ok(())
    } else {
        Err(Error::new("not a wasm binary (no \\0asm header)"))
    }
}

fn plugin_tar(wasm: &[u8]) -> Result<Vec<u8>> {
    let mut header = tar::Header::new_ustar();
    header.set_path(PLUGIN_FILE).context("tar header")?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(wasm.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append(&header, wasm)
        .context("writing the layer tar")?;
    builder.into_inner().context("finishing the layer tar")
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    // No mtime, no file name, "unknown" OS byte: the header is the same on every machine.
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes).context("compressing the layer")?;
    encoder.finish().context("compressing the layer")
}
