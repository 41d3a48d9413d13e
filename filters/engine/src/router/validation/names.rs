//! Istio's name rules: DNS-1123 labels, (wildcard) domain names, gateway names and host
//! overlap, as `pkg/config/validation` and `pkg/config/host` define them.

use std::net::IpAddr;

/// Istio's `IsDNS1123Label`: 1 to 63 of `[a-zA-Z0-9-]`, starting and ending alphanumeric.
pub fn is_dns1123_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    label.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// Istio's `IsWildcardDNS1123Label`: `*`, or a label optionally led by `*` or `*-`.
fn is_wildcard_dns1123_label(label: &str) -> bool {
    if label == "*" {
        return true;
    }
    let rest = label
        .strip_prefix("*-")
        .or_else(|| label.strip_prefix('*'))
        .unwrap_or(label);
    label.len() <= 63 && is_dns1123_label(rest)
}

/// Istio's `CheckDNS1123Preconditions`.
fn check_length(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err(format!("domain name {name:?} too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".to_owned());
    }
    Ok(())
}

/// Istio's `ValidateDNS1123Labels`: dot-separated labels, a trailing dot allowed, the top-level
/// label not all digits.
fn check_labels(domain: &str) -> Result<(), String> {
    check_labels_of(domain, domain)
}

/// [`check_labels`] on `labels`, a part of `domain`, which the reason names.
fn check_labels_of(domain: &str, labels: &str) -> Result<(), String> {
    let labels: Vec<&str> = labels.split('.').collect();
    let top = labels.last().copied().unwrap_or_default();
    if !top.is_empty() && top.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "domain name {domain:?} invalid (top level domain {top:?} cannot be all-numeric)"
        ));
    }
    for (index, label) in labels.iter().enumerate() {
        if index + 1 == labels.len() && label.is_empty() {
            return Ok(());
        }
        if !is_dns1123_label(label) {
            return Err(format!(
                "domain name {domain:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
}

/// Istio's `ValidateFQDN`.
pub fn check_fqdn(name: &str) -> Result<(), String> {
    check_length(name)?;
    check_labels(name)
}

/// Istio's `ValidateWildcardDomain`: a domain whose first label may be a wildcard.
pub fn check_wildcard_domain(domain: &str) -> Result<(), String> {
    check_length(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (domain, None),
    };
    if !is_wildcard_dns1123_label(first) {
        return Err(format!(
            "domain name {domain:?} invalid (label {first:?} invalid)"
        ));
    }
    match rest {
        Some(rest) => check_labels_of(domain, rest),
        None => Ok(()),
    }
}

/// Istio's `ValidateWildcardDomainForVirtualServiceBoundToGateway`: with TLS SNI routes, the
/// `outbound_.<port>_._.<host>` names of AUTO_PASSTHROUGH are hosts too.
pub fn check_gateway_host(sni: bool, domain: &str) -> Result<(), String> {
    check_length(domain)?;
    if sni && domain.starts_with("outbound_") {
        let parts: Vec<&str> = domain.split('_').collect();
        let [direction, port, _, hostname, ..] = parts.as_slice() else {
            return Err(format!(
                "domain name {domain} invalid, should follow 'outbound_.<PORT>_._.<HOSTNAME>' format"
            ));
        };
        let port = port.trim_matches('.');
        let hostname = hostname.trim_matches('.');
        if *direction != "outbound" {
            return Err(format!(
                "domain name {domain:?} invalid (label {direction:?} invalid)"
            ));
        }
        if !port.bytes().any(|b| b.is_ascii_digit()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {port:?} invalid). should follow outbound_.<PORT>_._.<HOSTNAME> format"
            ));
        }
        if !hostname.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {hostname:?} invalid). should follow outbound_.<PORT>_._.<HOSTNAME> format"
            ));
        }
        return Ok(());
    }
    check_wildcard_domain(domain)
}

pub fn is_ip_address(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
}

/// Istio's `host.Name.Matches`: whether two hosts of one VirtualService overlap.
pub fn hosts_overlap(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(a_suffix), Some(b_suffix)) => {
            if a.len() < b.len() {
                b_suffix.ends_with(a_suffix)
            } else {
                a_suffix.ends_with(b_suffix)
            }
        }
        (Some(a_suffix), None) => b.ends_with(a_suffix),
        (None, Some(b_suffix)) => a.ends_with(b_suffix),
        (None, None) => a == b,
    }
}

/// Istio's `host.Name.SubsetOf`: whether every name `a` matches is matched by `b`.
pub fn host_subset_of(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(a_suffix), Some(b_suffix)) => a.len() >= b.len() && a_suffix.ends_with(b_suffix),
        (Some(_), None) => false,
        (None, Some(b_suffix)) => a.ends_with(b_suffix),
        (None, None) => a == b,
    }
}

/// What Istio's `validateGatewayNames` makes of a list of gateway names.
pub struct GatewayNames {
    pub error: Option<(usize, String)>,
    pub warnings: Vec<(usize, String)>,
}

/// Istio's `validateGatewayNames`: `namespace/name` with DNS-1123 labels, or a bare name that
/// must be an FQDN (a dotted one is the legacy `name.namespace` form, a warning). As in Istio,
/// checking stops after the first bare name.
pub fn check_gateway_names(names: &[String]) -> GatewayNames {
    let mut warnings = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let Some((namespace, gateway)) = name.split_once('/') else {
            if name.contains('.') {
                let parts: Vec<&str> = name.split('.').collect();
                let recommended = format!(
                    "{}/{}",
                    parts.get(1).copied().unwrap_or_default(),
                    parts.first().copied().unwrap_or_default()
                );
                warnings.push((
                    index,
                    format!(
                        "using legacy gatewayName format {name:?}; prefer the <namespace>/<name> format: {recommended:?}"
                    ),
                ));
            }
            let error = check_fqdn(name).err().map(|reason| (index, reason));
            return GatewayNames { error, warnings };
        };
        let reason = if namespace.is_empty() || gateway.is_empty() {
            Some("config namespace and gateway name cannot be empty".to_owned())
        } else if !is_dns1123_label(namespace) {
            Some(format!("invalid value for namespace: {namespace:?}"))
        } else if !is_dns1123_label(gateway) {
            Some(format!("invalid value for gateway name: {gateway:?}"))
        } else {
            None
        };
        if let Some(reason) = reason {
            return GatewayNames {
                error: Some((index, reason)),
                warnings,
            };
        }
    }
    GatewayNames {
        error: None,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn labels_and_domains() {
        assert!(is_dns1123_label("ns-1"));
        assert!(is_dns1123_label("Foo"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(check_wildcard_domain("*.foo.bar").is_ok());
        assert!(check_wildcard_domain("*-foo.baz").is_ok());
        assert!(check_wildcard_domain("*foo.baz").is_ok());
        assert!(check_wildcard_domain("*").is_ok());
        assert!(check_wildcard_domain("foo.*").is_err());
        assert!(check_wildcard_domain("foo.ba!r").is_err());
        assert!(check_wildcard_domain("default/baz").is_err());
        assert!(check_wildcard_domain("istio.io.").is_ok());
        assert!(check_wildcard_domain("a.123").is_err());
        assert!(check_wildcard_domain("").is_err());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn overlapping_hosts() {
        assert!(hosts_overlap("*.foo.bar", "*.bar"));
        assert!(hosts_overlap("a.bar", "*.bar"));
        assert!(hosts_overlap("*", "a.b"));
        assert!(!hosts_overlap("a.bar", "b.bar"));
        assert!(!hosts_overlap("*.foo.bar", "*.baz"));
    }
}
