//! Images: reproducible, in the layouts istio-agent accepts, and readable back as it reads them.

// Test helpers, like the tests themselves, stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::io::Read;

use distribution::oci::extract::wasm_from_image;
use distribution::oci::image::{Image, Variant, PLUGIN_FILE, VARIANT_ANNOTATION};
use distribution::oci::layout;
use distribution::oci::manifest::{Annotations, Manifest};
use distribution::oci::media_type;

fn annotations() -> Annotations {
    BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            "router".to_string(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            "0.1.0".to_string(),
        ),
    ])
}

fn extract(image: &Image) -> distribution::error::Result<Vec<u8>> {
    let manifest = Manifest::parse(&image.manifest)?;
    wasm_from_image(&manifest, |descriptor| {
        let digest = descriptor.parsed_digest()?;
        Ok(image
            .blob(&digest)
            .expect("blob cited by the manifest")
            .bytes
            .clone())
    })
}

#[test]
fn the_same_module_gives_the_same_digest() {
    let wasm = support::wasm_module(50_000);
    for variant in Variant::ALL {
        let first = Image::build(&wasm, variant, &annotations()).unwrap();
        let second = Image::build(&wasm, variant, &annotations()).unwrap();
        assert_eq!(first, second, "{variant}");
        let other = Image::build(&support::wasm_module(50_001), variant, &annotations()).unwrap();
        assert_ne!(
            first.digest, other.digest,
            "{variant}: a different module, a different digest"
        );
    }
}

#[test]
fn the_compat_variant_is_one_tar_gzip_layer_holding_plugin_wasm() {
    let wasm = support::wasm_module(10_000);
    let image = Image::build(&wasm, Variant::Compat, &annotations()).unwrap();
    let manifest = Manifest::parse(&image.manifest).unwrap();
    assert_eq!(
        manifest.media_type.as_deref(),
        Some(media_type::OCI_MANIFEST)
    );
    assert_eq!(manifest.config.media_type, media_type::OCI_CONFIG);
    assert_eq!(manifest.layers.len(), 1);
    assert_eq!(
        manifest.layers[0].media_type,
        media_type::OCI_LAYER_TAR_GZIP
    );
    let manifest_annotations = manifest.annotations.clone().unwrap();
    assert_eq!(manifest_annotations[VARIANT_ANNOTATION], "compat");
    assert_eq!(
        manifest_annotations["org.opencontainers.image.title"],
        "router"
    );

    let layer = image
        .blob(&manifest.layers[0].parsed_digest().unwrap())
        .unwrap();
    assert_eq!(layer.bytes.len() as u64, manifest.layers[0].size);
    assert_eq!(
        &layer.bytes[..4],
        b"\x1f\x8b\x08\x00",
        "gzip, no flags (no name, no comment)"
    );
    assert_eq!(&layer.bytes[4..8], b"\0\0\0\0", "gzip mtime 0");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer.bytes.as_slice()));
    let mut entries = archive.entries().unwrap();
    let mut entry = entries.next().unwrap().unwrap();
    assert_eq!(entry.path().unwrap().to_str(), Some(PLUGIN_FILE));
    let header = entry.header();
    assert_eq!(
        (
            header.mtime().unwrap(),
            header.uid().unwrap(),
            header.gid().unwrap()
        ),
        (0, 0, 0)
    );
    assert_eq!(header.mode().unwrap(), 0o644);
    let mut content = Vec::new();
    entry.read_to_end(&mut content).unwrap();
    assert_eq!(content, wasm);
    assert!(entries.next().is_none(), "one entry only");

    let config: serde_json::Value = serde_json::from_slice(&image.blobs[0].bytes).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    assert_eq!(extract(&image).unwrap(), wasm);
}

#[test]
fn the_artifact_variant_has_the_wasm_config_and_the_raw_module() {
    let wasm = support::wasm_module(10_000);
    let image = Image::build(&wasm, Variant::Artifact, &annotations()).unwrap();
    let manifest = Manifest::parse(&image.manifest).unwrap();
    assert_eq!(manifest.config.media_type, media_type::WASM_CONFIG);
    let layer_types: Vec<&str> = manifest
        .layers
        .iter()
        .map(|layer| layer.media_type.as_str())
        .collect();
    assert_eq!(
        layer_types,
        [media_type::WASM_CONFIG, media_type::WASM_LAYER]
    );
    assert!(!manifest
        .annotations
        .unwrap()
        .contains_key(VARIANT_ANNOTATION));
    let raw = image
        .blob(&manifest.layers[1].parsed_digest().unwrap())
        .unwrap();
    assert_eq!(raw.bytes, wasm);
    assert_eq!(extract(&image).unwrap(), wasm);
}

#[test]
fn a_layout_on_disk_reads_back_as_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    for variant in Variant::ALL {
        let image = Image::build(&support::wasm_module(1000), variant, &annotations()).unwrap();
        let path = dir.path().join(variant.name());
        layout::write(&path, &image).unwrap();
        assert_eq!(layout::read(&path).unwrap(), image);
        let layout_file = std::fs::read_to_string(path.join("oci-layout")).unwrap();
        assert_eq!(layout_file, r#"{"imageLayoutVersion":"1.0.0"}"#);
    }
}

#[test]
fn a_tampered_blob_in_a_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = Image::build(
        &support::wasm_module(1000),
        Variant::Artifact,
        &annotations(),
    )
    .unwrap();
    layout::write(dir.path(), &image).unwrap();
    let wasm_blob = dir.path().join("blobs/sha256").join(last_blob_hex(&image));
    std::fs::write(&wasm_blob, b"\0asm\x01\0\0\0tampered").unwrap();
    let error = layout::read(dir.path()).unwrap_err().to_string();
    assert!(error.contains("expected sha256:"), "{error}");
}

fn last_blob_hex(image: &Image) -> String {
    image.blobs.last().unwrap().digest.hex().to_string()
}

#[test]
fn what_is_not_wasm_gets_no_image() {
    let error = Image::build(b"#!/bin/sh\n", Variant::Compat, &annotations()).unwrap_err();
    assert!(error.to_string().contains("not a wasm binary"), "{error}");
}

#[test]
fn images_in_no_accepted_format_are_refused_as_istio_agent_does() {
    let image = Image::build(&support::wasm_module(100), Variant::Compat, &annotations()).unwrap();
    let mut manifest = Manifest::parse(&image.manifest).unwrap();
    manifest.layers[0].media_type = "application/octet-stream".to_string();
    let error = wasm_from_image(&manifest, |_| Ok(Vec::new()))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("as compat variant: invalid media type"),
        "{error}"
    );
    assert!(
        error.contains("number of layers must be 2 but got 1"),
        "{error}"
    );
}
