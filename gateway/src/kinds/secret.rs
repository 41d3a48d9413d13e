//! Kubernetes `Secret` (core `v1`): the certificates a DestinationRule's or a Gateway server's
//! `tls.credentialName` names, kept as PEM text. Istio reads `tls.crt`/`tls.key`/`ca.crt` (type `kubernetes.io/tls`)
//! or the generic `cert`/`key`/`cacert` keys, from `data` (base64) or `stringData`.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;

use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

#[derive(Debug, Clone)]
pub struct Secret {
    pub origin: Origin,
    /// Key → its text (PEM).
    pub data: BTreeMap<String, String>,
}

/// A certificate chain with its key (the client's for a DestinationRule, the server's for a
/// Gateway), and a CA bundle, as Istio finds them in a Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificates {
    pub certificate: Option<(String, String)>,
    pub ca: Option<String>,
}

impl Secret {
    /// What the Secret holds under either of Istio's key conventions.
    pub fn certificates(&self) -> Certificates {
        let get = |names: &[&str]| names.iter().find_map(|name| self.data.get(*name).cloned());
        let certificate = get(&["tls.crt", "cert"]);
        let key = get(&["tls.key", "key"]);
        Certificates {
            certificate: certificate.zip(key),
            ca: get(&["ca.crt", "cacert"]),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDocument {
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
}

pub fn parse(resource: &Resource) -> Result<Secret, ResourceError> {
    let origin = &resource.origin;
    // A Secret has no spec: its data is at the top of the document.
    let document: SecretDocument = engine::config::from_value(resource.value.clone(), "")
        .map_err(|error| origin.error(error.path, error.reason))?;
    let mut data = BTreeMap::new();
    for (key, encoded) in document.data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|error| origin.error(format!("data.{key}"), format!("not base64: {error}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| origin.error(format!("data.{key}"), "not text (PEM expected)"))?;
        data.insert(key, text);
    }
    // Kubernetes merges stringData over data.
    data.extend(document.string_data);
    Ok(Secret {
        origin: origin.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn resource(value: serde_json::Value) -> Resource {
        Resource {
            origin: Origin {
                file: PathBuf::from("secrets.yaml"),
                document: 1,
                kind: "Secret".into(),
                namespace: "istio-system".into(),
                name: "client".into(),
            },
            value,
        }
    }

    #[test]
    fn data_is_base64_and_string_data_wins() {
        let secret = parse(&resource(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "data": { "tls.crt": "Q0VSVA==", "tls.key": "S0VZ" },
            "stringData": { "ca.crt": "CA" },
        })))
        .unwrap();
        assert_eq!(
            secret.certificates(),
            Certificates {
                certificate: Some(("CERT".into(), "KEY".into())),
                ca: Some("CA".into()),
            }
        );
        let error = parse(&resource(serde_json::json!({ "data": { "cert": "%%%" } }))).unwrap_err();
        assert_eq!(error.field, "data.cert");
    }
}
