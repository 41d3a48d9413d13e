//! Push to and pull from a real registry (Debian's docker-registry on loopback): both image
//! variants, by tag and by digest, read back as istio-agent reads them; skopeo, an independent
//! client, agrees on the layout and on the digests.

// Test helpers, like the tests themselves, stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use distribution::oci::digest::Digest;
use distribution::oci::extract::wasm_from_image;
use distribution::oci::image::{Image, Variant};
use distribution::oci::layout;
use distribution::oci::manifest::Annotations;
use distribution::registry::client::Client;
use distribution::registry::credentials;
use distribution::registry::reference::Reference;
use envoy_test::local_registry::{Htpasswd, LocalRegistry};

/// bcrypt of "wasm-secret" (cost 5), as htpasswd stores it.
const BCRYPT_WASM_SECRET: &str = "$2b$05$f/F/X5G5rXkqpLp30V1utu1eXiv908VW9/ADQN4UZUGWMiA2D1kE2";

fn annotations() -> Annotations {
    BTreeMap::from([(
        "org.opencontainers.image.title".to_string(),
        "router".to_string(),
    )])
}

fn pull_wasm(client: &Client, reference: &Reference) -> (Digest, Vec<u8>) {
    let pulled = client.pull_manifest(reference).unwrap();
    let wasm = wasm_from_image(&pulled.manifest, |descriptor| {
        client.pull_blob(&reference.repository, descriptor)
    })
    .unwrap();
    (pulled.digest, wasm)
}

#[test]
fn both_variants_round_trip_through_a_registry_by_tag_and_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::start(dir.path(), None).unwrap();
    let client = Client::with_credentials(&registry.address, None);
    let wasm = support::wasm_module(300_000);
    for variant in Variant::ALL {
        let image = Image::build(&wasm, variant, &annotations()).unwrap();
        let tag = format!("v1-{variant}");
        let pushed = client
            .push("wasm/router", &tag, &image)
            .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
        assert_eq!(pushed, image.digest, "{variant}");
        // Pushing again finds every blob present and stores the same manifest.
        assert_eq!(
            client.push("wasm/router", &tag, &image).unwrap(),
            image.digest
        );

        let by_digest = Reference::parse(&format!(
            "{}/wasm/router@{}",
            registry.address, image.digest
        ))
        .unwrap();
        let (digest, pulled) = pull_wasm(&client, &by_digest);
        assert_eq!(
            (digest, pulled.as_slice()),
            (image.digest.clone(), wasm.as_slice()),
            "{variant} by digest"
        );

        let by_tag = Reference::parse(&format!("{}/wasm/router:{tag}", registry.address)).unwrap();
        let (digest, pulled) = pull_wasm(&client, &by_tag);
        assert_eq!(
            (digest, pulled),
            (image.digest.clone(), wasm.clone()),
            "{variant} by tag"
        );
    }
}

#[test]
fn a_digest_the_registry_does_not_hold_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::start(dir.path(), None).unwrap();
    let client = Client::with_credentials(&registry.address, None);
    let image = Image::build(&support::wasm_module(100), Variant::Compat, &annotations()).unwrap();
    client.push("wasm/router", "v1", &image).unwrap();
    let wrong = Digest::of(b"another manifest");
    let reference = Reference::parse(&format!("{}/wasm/router@{wrong}", registry.address)).unwrap();
    let error = client
        .pull_manifest(&reference)
        .err()
        .expect("unknown digest")
        .to_string();
    assert!(error.contains("HTTP 404"), "{error}");
}

#[test]
fn skopeo_reads_the_layout_and_agrees_on_the_digests() {
    let skopeo = Path::new("/usr/bin/skopeo");
    assert!(
        skopeo.exists(),
        "skopeo is missing: `make system-packages` installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::start(&dir.path().join("registry"), None).unwrap();
    let client = Client::with_credentials(&registry.address, None);
    for variant in Variant::ALL {
        let image = Image::build(&support::wasm_module(20_000), variant, &annotations()).unwrap();
        let layout_dir = dir.path().join(variant.name());
        layout::write(&layout_dir, &image).unwrap();
        let destination = format!("docker://{}/skopeo/router:{variant}", registry.address);
        let copied = Command::new(skopeo)
            .args(["copy", "--preserve-digests", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", layout_dir.display()))
            .arg(&destination)
            .output()
            .unwrap();
        assert!(
            copied.status.success(),
            "skopeo copy {variant}: {}",
            String::from_utf8_lossy(&copied.stderr)
        );
        let reference =
            Reference::parse(&format!("{}/skopeo/router:{variant}", registry.address)).unwrap();
        let pulled = client.pull_manifest(&reference).unwrap();
        assert_eq!(
            pulled.bytes, image.manifest,
            "{variant}: skopeo pushed our manifest byte for byte"
        );
        assert_eq!(pulled.digest, image.digest);

        let inspected = Command::new(skopeo)
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(&destination)
            .output()
            .unwrap();
        assert_eq!(
            inspected.stdout, image.manifest,
            "{variant}: skopeo inspect"
        );
    }
}

#[test]
fn a_registry_that_wants_credentials_gets_those_of_the_docker_config() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = Htpasswd {
        username: "wasm",
        bcrypt_hash: BCRYPT_WASM_SECRET,
    };
    let registry = LocalRegistry::start(&dir.path().join("registry"), Some(htpasswd)).unwrap();
    let image = Image::build(&support::wasm_module(100), Variant::Compat, &annotations()).unwrap();

    let anonymous = Client::with_credentials(&registry.address, None);
    let error = anonymous
        .push("wasm/router", "v1", &image)
        .unwrap_err()
        .to_string();
    assert!(error.contains("docker login"), "{error}");

    let config = dir.path().join("config.json");
    // base64("wasm:wasm-secret"), as `docker login` writes it.
    let auths = format!(
        r#"{{"auths": {{"{}": {{"auth": "d2FzbTp3YXNtLXNlY3JldA=="}}}}}}"#,
        registry.address
    );
    std::fs::write(&config, auths).unwrap();
    let credentials = credentials::from_config_file(&config, &registry.address).unwrap();
    let client = Client::with_credentials(&registry.address, credentials);
    assert_eq!(
        client.push("wasm/router", "v1", &image).unwrap(),
        image.digest
    );
    let reference = Reference::parse(&format!(
        "{}/wasm/router@{}",
        registry.address, image.digest
    ))
    .unwrap();
    assert_eq!(pull_wasm(&client, &reference).1, support::wasm_module(100));

    let wrong = credentials::Credentials {
        username: "wasm".to_string(),
        password: "guess".to_string(),
    };
    let error = Client::with_credentials(&registry.address, Some(wrong))
        .pull_manifest(&reference)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("HTTP 401"), "{error}");
}
