//! Image references: `host[:port]/repository[:tag][@sha256:…]`, as `docker`, `skopeo` and
//! istio-agent (go-containerregistry) read them.

use std::fmt;

use crate::error::{Error, Result};
use crate::oci::digest::Digest;

/// Docker Hub, for references whose first segment is not a host (as go-containerregistry does).
const DEFAULT_REGISTRY: &str = "index.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host` or `host:port`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference such as `127.0.0.1:5000/wasm/router:v1` or `reg.io/r@sha256:<hex>`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::new(format!("image reference {text:?}: {reason}"));
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (
                name,
                Some(Digest::parse(digest).map_err(|e| invalid(&e.to_string()))?),
            ),
            None => (text, None),
        };
        let last_slash = name.rfind('/').map_or(0, |index| index + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(colon) => (
                &name[..last_slash + colon],
                Some(name[last_slash + colon + 1..].to_string()),
            ),
            None => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if is_registry_host(first) => (first.to_string(), rest.to_string()),
            Some(_) => (DEFAULT_REGISTRY.to_string(), name.to_string()),
            None => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
        };
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !tag.starts_with(['.', '-']);
            if !valid {
                return Err(invalid("invalid tag"));
            }
        }
        let valid_repository = !repository.is_empty()
            && repository.split('/').all(|component| {
                !component.is_empty()
                    && component.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if !valid_repository {
            return Err(invalid("repository must be lowercase path components"));
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when pinned, else the tag, else `latest`.
    pub fn identifier(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn is_registry_host(segment: &str) -> bool {
    segment.contains('.') || segment.contains(':') || segment == "localhost"
}

/// Plain http is used for loopback registries only; anything else is spoken to over https.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_repository_tag_and_digest() {
        let hex = "a".repeat(64);
        let reference =
            Reference::parse(&format!("127.0.0.1:5000/wasm/router:v1@sha256:{hex}")).unwrap();
        assert_eq!(reference.registry, "127.0.0.1:5000");
        assert_eq!(reference.repository, "wasm/router");
        assert_eq!(reference.tag.as_deref(), Some("v1"));
        assert_eq!(reference.identifier(), format!("sha256:{hex}"));
        assert_eq!(
            reference.to_string(),
            format!("127.0.0.1:5000/wasm/router:v1@sha256:{hex}")
        );
    }

    #[test]
    fn a_first_segment_that_is_no_host_means_docker_hub() {
        let reference = Reference::parse("istio/router").unwrap();
        assert_eq!(reference.registry, DEFAULT_REGISTRY);
        assert_eq!(reference.repository, "istio/router");
        assert_eq!(reference.identifier(), "latest");
        assert_eq!(
            Reference::parse("router:1").unwrap().repository,
            "library/router"
        );
    }

    #[test]
    fn refuses_bad_repositories_tags_and_digests() {
        assert!(Reference::parse("localhost/Router").is_err());
        assert!(Reference::parse("localhost/router:-x").is_err());
        assert!(Reference::parse("localhost/router@sha256:abc").is_err());
        assert!(Reference::parse("localhost/router@md5:abc").is_err());
    }

    #[test]
    fn loopback_registries_are_recognised() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
