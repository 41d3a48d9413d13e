//! istio-agent's module fetching (`distribution::agent`) against a real registry on loopback: the
//! checksum check, the cache layout, and `imagePullPolicy` for pinned and tagged images.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use distribution::agent::cache::{ModuleCache, ModuleRequest};
use distribution::agent::pull_policy::PullPolicy;
use distribution::oci::digest::Digest;
use distribution::oci::image::{Image, Variant};
use distribution::oci::manifest::Annotations;
use distribution::registry::client::Client;
use envoy_test::local_registry::LocalRegistry;

fn push(registry: &LocalRegistry, tag: &str, module: &[u8]) -> Digest {
    let image = Image::build(module, Variant::Compat, &Annotations::new()).unwrap();
    Client::with_credentials(&registry.address, None)
        .push("wasm/plugin", tag, &image)
        .unwrap()
}

fn get(
    cache: &ModuleCache,
    url: &str,
    sha256: Option<&str>,
    pull_policy: PullPolicy,
) -> distribution::agent::cache::CachedModule {
    cache
        .get(ModuleRequest {
            url,
            sha256,
            pull_policy,
        })
        .unwrap()
}

#[test]
fn pinned_images_are_checked_then_cached_under_istio_agents_layout() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::start(&dir.path().join("registry"), None).unwrap();
    let module = support::wasm_module(1000);
    let digest = push(&registry, "v1", &module);
    let cache = ModuleCache::new(dir.path().join("cache"));
    let url = format!("oci://{}/wasm/plugin@{digest}", registry.address);

    let wrong = "1".repeat(64);
    let refused = cache
        .get(ModuleRequest {
            url: &url,
            sha256: Some(&wrong),
            pull_policy: PullPolicy::IfNotPresent,
        })
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains(&format!(
            "has checksum {}, which does not match: {wrong}",
            digest.hex()
        )),
        "{refused}"
    );

    let first = get(&cache, &url, Some(digest.hex()), PullPolicy::Always);
    assert!(first.pulled);
    assert_eq!(std::fs::read(&first.path).unwrap(), module);
    let name = format!("oci://{}/wasm/plugin", registry.address);
    assert_eq!(
        first.path,
        dir.path()
            .join("cache")
            .join(Digest::of(name.as_bytes()).hex())
            .join(format!("{}.wasm", digest.hex()))
    );
    // A known checksum finds its module whatever the policy, as in istio-agent; the digest in
    // the URL is such a checksum.
    drop(registry);
    assert!(!get(&cache, &url, Some(digest.hex()), PullPolicy::Always).pulled);
    assert!(!get(&cache, &url, None, PullPolicy::Unspecified).pulled);
}

#[test]
fn tagged_images_follow_the_pull_policy() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::start(&dir.path().join("registry"), None).unwrap();
    let cache = ModuleCache::new(dir.path().join("cache"));
    let old = push(&registry, "latest", &support::wasm_module(100));
    let tagged = format!("oci://{}/wasm/plugin:latest", registry.address);
    let pinned_tag = format!("oci://{}/wasm/plugin:v1", registry.address);
    push(&registry, "v1", &support::wasm_module(100));

    assert_eq!(
        get(&cache, &tagged, None, PullPolicy::IfNotPresent).checksum,
        old.hex()
    );
    assert!(get(&cache, &pinned_tag, None, PullPolicy::Unspecified).pulled);
    let new = push(&registry, "latest", &support::wasm_module(200));
    push(&registry, "v1", &support::wasm_module(200));
    // IfNotPresent (and no policy for a tag other than latest) keeps what was pulled before.
    let kept = get(&cache, &tagged, None, PullPolicy::IfNotPresent);
    assert_eq!((kept.pulled, kept.checksum.as_str()), (false, old.hex()));
    let kept = get(&cache, &pinned_tag, None, PullPolicy::Unspecified);
    assert_eq!((kept.pulled, kept.checksum.as_str()), (false, old.hex()));
    // Always, and no policy for `latest`, pull again and see the new image.
    let pulled = get(&cache, &tagged, None, PullPolicy::Always);
    assert_eq!((pulled.pulled, pulled.checksum.as_str()), (true, new.hex()));
    let pulled = get(&cache, &tagged, None, PullPolicy::Unspecified);
    assert_eq!((pulled.pulled, pulled.checksum.as_str()), (true, new.hex()));
}
