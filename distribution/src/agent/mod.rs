//! What istio-agent does with a WasmPlugin's module (istio/istio `pkg/wasm`): fetch it from
//! `http(s)://` or `oci://`, check its sha256, and keep it in a local cache keyed by module name
//! and checksum, honouring `imagePullPolicy`.

pub mod cache;
pub mod http;
pub mod oci;
pub mod pull_policy;
