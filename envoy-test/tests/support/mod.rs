//! Shared by the distribution tests: a small valid wasm module, and where Istio's reference data is.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

/// A valid wasm module (header plus one custom section of `padding` bytes), big enough to make
/// uploads and compression do real work.
pub fn wasm_module(padding: usize) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let name = b"padding";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend((0..padding).map(|i| (i * 7 % 251) as u8));
    module.push(0); // custom section id
    let mut size = section.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        module.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    module.extend(section);
    module
}

/// `shared/istio` (Istio's CRDs and validation cases): `$ISTIO_SHARED_DIR`, else the first
/// `shared/istio` found walking up from the repository (`../shared/istio` in CI).
pub fn istio_shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ISTIO_SHARED_DIR") {
        return Some(PathBuf::from(dir));
    }
    distribution::workspace::root()
        .ancestors()
        .map(|dir| dir.join("shared").join("istio"))
        .find(|dir| dir.join("crd-all.gen.yaml").exists())
}
