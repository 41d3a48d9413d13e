//! OCI images of the wasm modules: building, the on-disk layout, and reading a module back out.

pub mod digest;
pub mod extract;
pub mod image;
pub mod layout;
pub mod manifest;
pub mod media_type;
