//! Registry credentials from the standard docker config (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): the `auths` entries that `docker login` and `skopeo login` write.
//! Credential helpers (`credsStore`, `credHelpers`) are not run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// The value of an `Authorization: Basic …` header.
    pub fn basic_authorization(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The docker config file in effect, if any.
pub fn docker_config_path() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}

/// Credentials for `registry` (`host[:port]`) from the docker config, when it has some.
pub fn for_registry(registry: &str) -> Result<Option<Credentials>> {
    match docker_config_path().filter(|path| path.exists()) {
        Some(path) => from_config_file(&path, registry),
        None => Ok(None),
    }
}

/// Credentials for `registry` from the docker config file at `path`.
pub fn from_config_file(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let text = std::fs::read(path).context(format!("reading {}", path.display()))?;
    lookup(&text, registry).context(path.display())
}

fn lookup(config: &[u8], registry: &str) -> Result<Option<Credentials>> {
    let config: DockerConfig = serde_json::from_slice(config)?;
    let wanted = normalise(registry);
    let Some(entry) = config
        .auths
        .iter()
        .find_map(|(key, entry)| (normalise(key) == wanted).then_some(entry))
    else {
        return Ok(None);
    };
    if let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|error| Error::new(format!("auths[{registry:?}].auth: {error}")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| Error::new(format!("auths[{registry:?}].auth: not UTF-8")))?;
        let (username, password) = decoded.split_once(':').ok_or_else(|| {
            Error::new(format!(
                "auths[{registry:?}].auth: expected base64 of user:password"
            ))
        })?;
        return Ok(Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    Ok(match (&entry.username, &entry.password) {
        (Some(username), Some(password)) => Some(Credentials {
            username: username.clone(),
            password: password.clone(),
        }),
        _ => None,
    })
}

/// `https://index.docker.io/v1/`, `index.docker.io` and `docker.io` name the same registry.
fn normalise(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or_default();
    match host {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_base64_auth_and_plain_fields() {
        let config = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
            "reg.example.com:5000": {"username": "u", "password": "p"}
        }}"#;
        let hub = lookup(config, "index.docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("user", "pa:ss")
        );
        assert_eq!(hub.basic_authorization(), "Basic dXNlcjpwYTpzcw==");
        let other = lookup(config, "reg.example.com:5000").unwrap().unwrap();
        assert_eq!(other.username, "u");
        assert_eq!(lookup(config, "reg.example.com").unwrap(), None);
    }

    #[test]
    fn a_broken_auth_field_is_an_error_naming_it() {
        let error = lookup(br#"{"auths": {"r.io": {"auth": "!!"}}}"#, "r.io").unwrap_err();
        assert!(
            error.to_string().contains("auths[\"r.io\"].auth"),
            "{error}"
        );
    }
}
