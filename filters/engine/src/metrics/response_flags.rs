//! Envoy's response flags: the `response.flags` attribute is a bitmask of the core flags, in
//! the order of `StreamInfo::CoreResponseFlag`; logs and Istio show them by their short names.

/// Short names by bit position, exactly as Envoy's access log `%RESPONSE_FLAGS%` prints them.
const SHORT_NAMES: [&str; 30] = [
    "LH",    // FailedLocalHealthCheck
    "UH",    // NoHealthyUpstream
    "UT",    // UpstreamRequestTimeout
    "LR",    // LocalReset
    "UR",    // UpstreamRemoteReset
    "UF",    // UpstreamConnectionFailure
    "UC",    // UpstreamConnectionTermination
    "UO",    // UpstreamOverflow
    "NR",    // NoRouteFound
    "DI",    // DelayInjected
    "FI",    // FaultInjected
    "RL",    // RateLimited
    "UAEX",  // UnauthorizedExternalService
    "RLSE",  // RateLimitServiceError
    "DC",    // DownstreamConnectionTermination
    "URX",   // UpstreamRetryLimitExceeded
    "SI",    // StreamIdleTimeout
    "IH",    // InvalidEnvoyRequestHeaders
    "DPE",   // DownstreamProtocolError
    "UMSDR", // UpstreamMaxStreamDurationReached
    "RFCF",  // ResponseFromCacheFilter
    "NFCF",  // NoFilterConfigFound
    "DT",    // DurationTimeout
    "UPE",   // UpstreamProtocolError
    "NC",    // NoClusterFound
    "OM",    // OverloadManager
    "DF",    // DnsResolutionFailed
    "DO",    // DropOverLoad
    "DR",    // DownstreamRemoteReset
    "UDO",   // UnconditionalDropOverload
];

/// What Envoy and Istio print when no flag is set.
pub const NO_FLAGS: &str = "-";

/// The flags in `bits` as Envoy prints them: short names joined by `,` in bit order, `-` for
/// none. A bit Envoy may define after this list shows as `bit<N>` rather than vanishing.
pub fn short_names(bits: u64) -> String {
    if bits == 0 {
        return NO_FLAGS.to_owned();
    }
    let mut names = Vec::new();
    for bit in 0..64 {
        if bits & (1 << bit) != 0 {
            match SHORT_NAMES.get(bit) {
                Some(name) => names.push((*name).to_owned()),
                None => names.push(format!("bit{bit}")),
            }
        }
    }
    names.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn no_flag_is_a_dash() {
        assert_eq!(short_names(0), "-");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn single_flags_use_envoys_short_names() {
        assert_eq!(short_names(1 << 1), "UH");
        assert_eq!(short_names(1 << 5), "UF");
        assert_eq!(short_names(1 << 8), "NR");
        assert_eq!(short_names(1 << 24), "NC");
        assert_eq!(short_names(1 << 29), "UDO");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn several_flags_join_in_bit_order() {
        assert_eq!(short_names((1 << 15) | (1 << 2)), "UT,URX");
        assert_eq!(short_names((1 << 9) | (1 << 10)), "DI,FI");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unknown_bits_stay_visible() {
        assert_eq!(short_names(1 << 40), "bit40");
    }
}
