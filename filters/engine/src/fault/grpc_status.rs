//! gRPC status names as Istio accepts them in `abort.grpcStatus` (upper case, as in
//! grpc/doc/statuscodes.md), with their codes.

/// Every accepted name; the index is the code.
pub const GRPC_STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code of `name` (`"UNAVAILABLE"` is 14); names are case-sensitive, as in Istio.
pub fn grpc_status_code(name: &str) -> Option<u8> {
    GRPC_STATUS_NAMES
        .iter()
        .position(|candidate| *candidate == name)
        .and_then(|code| u8::try_from(code).ok())
}
