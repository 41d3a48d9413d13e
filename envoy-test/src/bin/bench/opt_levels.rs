//! The router built at opt-level 3, "s" and "z" (each followed by the matching wasm-opt level),
//! for the size/speed trade-off in docs/build.md.

use std::path::PathBuf;
use std::process::Command;

use envoy_test::workspace_root;
use serde::{Deserialize, Serialize};

use crate::resources::{file_size, gzipped_size};
use crate::BenchError;

pub const LEVELS: [&str; 3] = ["3", "s", "z"];

/// One build of the router.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Build {
    pub level: String,
    pub raw: u64,
    pub optimised: u64,
    pub gzipped: u64,
    pub wasm: PathBuf,
}

/// The wasm-opt flags of the Makefile, with the optimisation level matching cargo's.
fn wasm_opt_args(level: &str) -> Vec<String> {
    [
        format!("-O{level}"),
        "--enable-bulk-memory".into(),
        "--enable-sign-ext".into(),
        "--enable-nontrapping-float-to-int".into(),
        "--enable-mutable-globals".into(),
        "--strip-debug".into(),
    ]
    .into()
}

/// Builds the router at `level` into its own target directory, so the workspace build stays.
pub fn build(level: &str) -> Result<Build, BenchError> {
    eprintln!("bench: building the router at opt-level {level}");
    let root = workspace_root();
    let target_dir = root.join(format!("target/opt-levels/{level}"));
    let status = Command::new("cargo")
        .current_dir(root)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", level)
        .args([
            "build",
            "-q",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "router",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .status()?;
    if !status.success() {
        return Err(format!("building the router at opt-level {level}: {status}").into());
    }
    let raw = target_dir.join("wasm32-wasip1/release/router.wasm");
    let wasm = target_dir.join("router.opt.wasm");
    let status = Command::new("wasm-opt")
        .args(wasm_opt_args(level))
        .arg(&raw)
        .arg("-o")
        .arg(&wasm)
        .status()?;
    if !status.success() {
        return Err(format!("wasm-opt at -O{level}: {status}").into());
    }
    Ok(Build {
        level: level.to_owned(),
        raw: file_size(&raw)?,
        optimised: file_size(&wasm)?,
        gzipped: gzipped_size(&wasm)?,
        wasm,
    })
}
