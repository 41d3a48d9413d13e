//! Errors that name where the bad input is: the file, the resource and the field.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a resource came from and what it is: `gateway.yaml: WasmPlugin istio-system/router`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based position of the YAML document in its file.
    pub document: usize,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Origin {
    /// An error about `field` (a path such as `spec.servers[0].port.number`) of this resource.
    pub fn error(&self, field: impl Into<String>, reason: impl fmt::Display) -> ResourceError {
        ResourceError {
            file: self.file.clone(),
            resource: Some(self.to_string()),
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// A certificate or key path of this resource at `field`: the proxy's own files in Istio;
    /// locally, a relative path is beside the resource's file. Empty means unset.
    pub fn file_at(
        &self,
        value: Option<String>,
        field: impl Into<String>,
    ) -> Result<Option<PathBuf>, ResourceError> {
        let Some(value) = value.filter(|value| !value.is_empty()) else {
            return Ok(None);
        };
        let base = self
            .file
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        let path = base.join(value);
        if path.is_file() {
            Ok(Some(path))
        } else {
            Err(self.error(field, format!("{} is not a file", path.display())))
        }
    }

    /// `namespace/name`.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A resource (or a file) the gateway cannot be built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceError {
    pub file: PathBuf,
    /// `Kind namespace/name`, when the document got that far.
    pub resource: Option<String>,
    /// The field path; empty for the resource (or document) as a whole.
    pub field: String,
    pub reason: String,
}

impl ResourceError {
    /// An error about a file or a document in it, before any resource is known.
    pub fn in_file(file: &Path, reason: impl fmt::Display) -> Self {
        ResourceError {
            file: file.to_path_buf(),
            resource: None,
            field: String::new(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(resource) = &self.resource {
            write!(f, ": {resource}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ResourceError {}

/// Every error found, reported together so one run shows all that needs fixing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Errors(pub Vec<ResourceError>);

impl Errors {
    pub fn push(&mut self, error: ResourceError) {
        self.0.push(error);
    }

    /// `Ok(value)` when nothing was found wrong.
    pub fn into_result<T>(self, value: T) -> Result<T, Errors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

impl From<ResourceError> for Errors {
    fn from(error: ResourceError) -> Self {
        Errors(vec![error])
    }
}
