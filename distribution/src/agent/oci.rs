//! `oci://` modules, pulled as istio-agent's `ImageFetcher` does: the manifest first (its digest
//! is what `sha256` is checked against), then, once the digest is accepted, the module out of
//! the image in either variant ([`crate::oci::extract`]).

use crate::error::{Context, Result};
use crate::oci::digest::Digest;
use crate::oci::extract::wasm_from_image;
use crate::registry::client::{Client, PulledManifest};
use crate::registry::reference::Reference;

/// An image whose manifest has been fetched; the module's blobs have not.
pub struct PreparedImage {
    client: Client,
    reference: Reference,
    manifest: PulledManifest,
}

impl PreparedImage {
    /// Fetches the manifest of `image` (`host[:port]/repository[:tag][@sha256:…]`, the URL
    /// without `oci://`), with the docker config's credentials for its registry.
    pub fn fetch(image: &str) -> Result<Self> {
        let reference = Reference::parse(image)?;
        let client = Client::new(&reference.registry)?;
        let manifest = client
            .pull_manifest(&reference)
            .context("could not fetch manifest")?;
        Ok(PreparedImage {
            client,
            reference,
            manifest,
        })
    }

    /// The manifest digest: the image's checksum for istio-agent.
    pub fn digest(&self) -> &Digest {
        &self.manifest.digest
    }

    /// The module, its layers checked against their digests.
    pub fn module(&self) -> Result<Vec<u8>> {
        wasm_from_image(&self.manifest.manifest, |descriptor| {
            self.client
                .pull_blob(&self.reference.repository, descriptor)
        })
        .context("could not fetch Wasm binary")
    }
}

/// The cache's name for an image: `oci://registry/repository`, without tag or digest.
pub fn module_name(image: &str) -> String {
    match Reference::parse(image) {
        Ok(reference) => format!("oci://{}/{}", reference.registry, reference.repository),
        Err(_) => format!("oci://{image}"),
    }
}
