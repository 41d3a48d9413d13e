//! Where things are in the repository, which modules `dist/` holds, and their image annotations.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::{Context, Error, Result};
use crate::oci::manifest::Annotations;

/// The repository root (this crate lives in `<root>/distribution`).
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The modules in `dist`: every `<name>.wasm`, sorted by name.
pub fn modules(dist: &Path) -> Result<Vec<String>> {
    let entries =
        fs::read_dir(dist).context(format!("listing {} (run `make build`)", dist.display()))?;
    let mut modules = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "wasm")
        {
            if let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) {
                modules.push(stem.to_string());
            }
        }
    }
    modules.sort();
    if modules.is_empty() {
        return Err(Error::new(format!(
            "no *.wasm in {} (run `make build`)",
            dist.display()
        )));
    }
    Ok(modules)
}

pub fn read_module(dist: &Path, module: &str) -> Result<Vec<u8>> {
    let path = dist.join(format!("{module}.wasm"));
    fs::read(&path).context(format!("reading {} (run `make build`)", path.display()))
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    description: Option<String>,
    license: Option<String>,
}

/// The `org.opencontainers.image.*` annotations of a module's image. Only what the module's
/// bytes and its crate determine goes in by default, so the same module gives the same digest;
/// `IMAGE_SOURCE`, `IMAGE_REVISION` and `SOURCE_DATE_EPOCH` add source, revision and created.
pub fn image_annotations(module: &str) -> Result<Annotations> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout).context("cargo metadata")?;
    let package = metadata
        .packages
        .into_iter()
        .find(|package| package.name == module)
        .ok_or_else(|| {
            Error::new(format!(
                "dist/{module}.wasm has no crate named {module} in the workspace"
            ))
        })?;
    let mut annotations = Annotations::new();
    let mut add = |key: &str, value: String| {
        annotations.insert(format!("org.opencontainers.image.{key}"), value);
    };
    add("title", module.to_string());
    add("version", package.version);
    if let Some(description) = package.description {
        add("description", description);
    }
    if let Some(license) = package.license {
        add("licenses", license);
    }
    if let Ok(source) = std::env::var("IMAGE_SOURCE") {
        add("source", source);
    }
    if let Ok(revision) = std::env::var("IMAGE_REVISION") {
        add("revision", revision);
    }
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        let seconds: i64 = epoch.trim().parse().map_err(|_| {
            Error::new(format!(
                "SOURCE_DATE_EPOCH={epoch:?}: expected seconds since 1970"
            ))
        })?;
        add("created", rfc3339_utc(seconds));
    }
    Ok(annotations)
}

/// `1970-01-01T00:00:00Z` style UTC time for a Unix timestamp (civil-from-days, proleptic Gregorian).
fn rfc3339_utc(seconds: i64) -> String {
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = engine::civil_time::civil_from_days(seconds.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn formats_unix_time_as_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
