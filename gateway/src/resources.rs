//! Reading a config directory: every `*.yaml` file in it (sorted by name, not recursive), every
//! YAML document in each, as `kubectl apply -f <dir>` would read them.

use std::path::Path;

use distribution::istio::yaml;
use serde_json::Value;

use crate::error::{Errors, Origin, ResourceError};

/// One Istio resource as written, with where it came from.
#[derive(Debug, Clone)]
pub struct Resource {
    pub origin: Origin,
    /// The whole document (`apiVersion`, `kind`, `metadata`, `spec`).
    pub value: Value,
}

impl Resource {
    /// `spec`, or an empty object when the resource has none.
    pub fn spec(&self) -> Value {
        match self.value.get("spec") {
            Some(spec) if !spec.is_null() => spec.clone(),
            _ => Value::Object(Default::default()),
        }
    }
}

/// The kinds the gateway is built from, with the API group each belongs to.
/// (Kubernetes' core group is the empty name: `apiVersion: v1`.)
pub const KINDS: [(&str, &str); 8] = [
    ("WasmPlugin", "extensions.istio.io"),
    ("TrafficExtension", "extensions.istio.io"),
    ("VirtualService", "networking.istio.io"),
    ("DestinationRule", "networking.istio.io"),
    ("ServiceEntry", "networking.istio.io"),
    ("Gateway", "networking.istio.io"),
    ("Service", ""),
    ("Secret", ""),
];

/// The resources of `dir`, and a note for every document of another kind (left alone).
pub fn load_dir(dir: &Path) -> Result<(Vec<Resource>, Vec<String>), Errors> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| ResourceError::in_file(dir, format!("reading the directory: {error}")))?;
    let mut files: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ResourceError::in_file(dir, "no *.yaml file in the directory").into());
    }
    let mut resources = Vec::new();
    let mut notes = Vec::new();
    let mut errors = Errors::default();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) => {
                errors.push(ResourceError::in_file(&file, error));
                continue;
            }
        };
        let documents = match yaml::documents(&text) {
            Ok(documents) => documents,
            Err(error) => {
                errors.push(ResourceError::in_file(&file, error));
                continue;
            }
        };
        for (index, value) in documents.into_iter().enumerate() {
            match resource(&file, index + 1, value) {
                Ok(Some(resource)) => resources.push(resource),
                Ok(None) => {}
                Err(Ok(note)) => notes.push(note),
                Err(Err(error)) => errors.push(error),
            }
        }
    }
    errors.into_result((resources, notes))
}

/// A resource of a kind the gateway uses; `Err(Ok(note))` for other kinds.
#[allow(clippy::type_complexity)]
fn resource(
    file: &Path,
    document: usize,
    value: Value,
) -> Result<Option<Resource>, Result<String, ResourceError>> {
    let in_document = |reason: &str| {
        Err(Err(ResourceError::in_file(
            file,
            format!("document {document}: {reason}"),
        )))
    };
    let Some(object) = value.as_object() else {
        return in_document("expected a Kubernetes resource (a mapping)");
    };
    let text = |field: &str| object.get(field).and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
        return in_document("apiVersion and kind are required");
    };
    let metadata = object.get("metadata").cloned().unwrap_or(Value::Null);
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let origin = Origin {
        file: file.to_path_buf(),
        document,
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let group = api_version
        .rsplit_once('/')
        .map_or("", |(group, _version)| group);
    match KINDS.iter().find(|(known, _)| *known == kind) {
        Some((_, expected)) if group == *expected => {
            if name.is_empty() {
                return Err(Err(origin.error("metadata.name", "required")));
            }
            Ok(Some(Resource { origin, value }))
        }
        Some((_, expected)) => Err(Err(origin.error(
            "apiVersion",
            format!(
                "{api_version:?} is not of the API group {}",
                if expected.is_empty() {
                    "core (v1)"
                } else {
                    expected
                }
            ),
        ))),
        None => Err(Ok(format!(
            "{}: document {document}: {kind} {namespace}/{name} ignored (the gateway uses {})",
            file.display(),
            KINDS.map(|(kind, _)| kind).join(", ")
        ))),
    }
}
