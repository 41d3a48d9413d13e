//! An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`) holding one image,
//! readable by `skopeo copy oci:<dir> …` and by `push`.

use std::fs;
use std::path::Path;

use serde_json::json;

use super::digest::Digest;
use super::image::{Blob, Image};
use super::manifest::{Descriptor, Manifest};
use super::media_type;
use crate::error::{Context, Error, Result};

pub fn write(dir: &Path, image: &Image) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).context(format!("clearing {}", dir.display()))?;
    }
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).context(format!("creating {}", blobs.display()))?;
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for blob in &image.blobs {
        fs::write(blobs.join(blob.digest.hex()), &blob.bytes)?;
    }
    fs::write(blobs.join(image.digest.hex()), &image.manifest)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [Descriptor::of(&image.media_type, &image.manifest)],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(())
}

/// Reads the layout's one image back, checking every blob against its digest.
pub fn read(dir: &Path) -> Result<Image> {
    read_image(dir).context(format!("reading the OCI layout {}", dir.display()))
}

fn read_image(dir: &Path) -> Result<Image> {
    #[derive(serde::Deserialize)]
    struct Index {
        manifests: Vec<Descriptor>,
    }
    let index: Index = serde_json::from_slice(&fs::read(dir.join("index.json"))?)?;
    let [descriptor] = index.manifests.as_slice() else {
        return Err(Error::new(format!(
            "index.json lists {} manifests, expected one",
            index.manifests.len()
        )));
    };
    let read_blob = |digest: &Digest| -> Result<Vec<u8>> {
        let bytes = fs::read(dir.join("blobs").join("sha256").join(digest.hex()))
            .context(format!("blob {digest}"))?;
        digest.verify(&bytes, &format!("blob {digest}"))?;
        Ok(bytes)
    };
    let digest = descriptor.parsed_digest()?;
    let manifest_bytes = read_blob(&digest)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let mut blobs: Vec<Blob> = Vec::new();
    for cited in std::iter::once(&manifest.config).chain(&manifest.layers) {
        let blob_digest = cited.parsed_digest()?;
        if blobs.iter().all(|blob| blob.digest != blob_digest) {
            blobs.push(Blob::new(read_blob(&blob_digest)?));
        }
    }
    Ok(Image {
        media_type: manifest.media_type().to_string(),
        manifest: manifest_bytes,
        digest,
        blobs,
    })
}
