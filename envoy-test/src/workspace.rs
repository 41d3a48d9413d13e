//! Paths inside this repository: the workspace root and the modules `make build` writes.

use std::env;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}

/// The optimised module `name` (`router` → `dist/router.wasm`); `DIST_DIR` overrides `dist/`.
pub fn wasm_module(name: &str) -> Result<PathBuf> {
    let dist = env::var_os("DIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("dist"));
    let path = dist.join(format!("{name}.wasm"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::Io {
            context: format!("{} is missing: run `make build` first", path.display()),
            source: io::Error::from(io::ErrorKind::NotFound),
        })
    }
}
