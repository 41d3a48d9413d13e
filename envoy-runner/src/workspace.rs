//! Where this repository is: Envoy's default virtualenv (`.venv`) lives at its root.

use std::path::Path;

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}
