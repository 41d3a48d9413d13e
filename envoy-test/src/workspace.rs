//! The modules `make build` writes, for the tests and the binaries to load.

use std::env;
use std::io;
use std::path::PathBuf;

use envoy_runner::{workspace_root, Error as HarnessError, Result};

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
