//! `tls.credentialName` of DestinationRules and Gateway servers, resolved against the
//! Kubernetes Secrets of the directory, as istio-agent serves them to the gateway over SDS: a
//! Secret of that name in the gateway's namespace (`istio-system`, where the local gateway's
//! pods stand) or, for a DestinationRule, failing that, in the rule's own namespace.

use crate::error::Errors;
use crate::kinds::destination_rule::DestinationRule;
use crate::kinds::gateway::Gateway;
use crate::kinds::secret::Secret;
use crate::kinds::traffic_policy::{Components, Source, TlsFiles};
use crate::plugins::GATEWAY_NAMESPACE;

pub fn resolve(rules: &mut [DestinationRule], secrets: &[Secret]) -> Result<(), Errors> {
    let mut errors = Errors::default();
    for rule in rules.iter_mut() {
        let origin = rule.origin.clone();
        let policies = rule.traffic_policy.iter_mut().chain(
            rule.subsets
                .iter_mut()
                .filter_map(|s| s.traffic_policy.as_mut()),
        );
        for policy in policies {
            let levels = std::iter::once(&mut policy.top)
                .chain(policy.ports.iter_mut().map(|(_, components)| components));
            for components in levels {
                if let Err(error) = fill(components, secrets, &origin.namespace)
                    .map_err(|(field, reason)| origin.error(field, reason))
                {
                    errors.push(error);
                }
            }
        }
    }
    errors.into_result(())
}

/// A Gateway server's certificate from its `credentialName`: `tls.crt`/`tls.key` (or
/// `cert`/`key`) of the Secret in the gateway pods' namespace; for `MUTUAL` and
/// `OPTIONAL_MUTUAL` the client CA is the Secret's `ca.crt` (or `cacert`), else that of a
/// Secret named `<credentialName>-cacert`, as Istio's SDS reads it.
pub fn resolve_gateways(gateways: &mut [Gateway], secrets: &[Secret]) -> Result<(), Errors> {
    let mut errors = Errors::default();
    let find = |name: &str| {
        secrets.iter().find(|secret| {
            secret.origin.name == name && secret.origin.namespace == GATEWAY_NAMESPACE
        })
    };
    for gateway in gateways.iter_mut() {
        for server in &mut gateway.servers {
            let field = format!("spec.servers[{}].tls.credentialName", server.index);
            let Some(tls) = server.tls.as_mut().filter(|tls| tls.mode.terminates()) else {
                continue;
            };
            let Some(name) = tls.credential_name.clone() else {
                continue;
            };
            let Some(secret) = find(&name) else {
                errors.push(gateway.origin.error(
                    field,
                    format!("no Secret {name:?} in {GATEWAY_NAMESPACE} (the gateway pods' namespace) in the directory"),
                ));
                continue;
            };
            let certificates = secret.certificates();
            let Some((certificate, key)) = certificates.certificate else {
                errors.push(gateway.origin.error(
                    field,
                    format!(
                        "{} has no server certificate: tls.crt and tls.key (or cert and key)",
                        secret.origin
                    ),
                ));
                continue;
            };
            tls.certificate = Some((Source::Inline(certificate), Source::Inline(key)));
            if tls.mode.verifies_clients() {
                let ca = certificates.ca.or_else(|| {
                    find(&format!("{name}-cacert")).and_then(|ca| ca.certificates().ca)
                });
                let Some(ca) = ca else {
                    errors.push(gateway.origin.error(
                        field,
                        format!(
                            "{} has no ca.crt (or cacert), and there is no Secret {name}-cacert with one: {} needs the client CA",
                            secret.origin,
                            tls.mode.name()
                        ),
                    ));
                    continue;
                };
                tls.ca_certificates = Some(Source::Inline(ca));
            }
        }
    }
    errors.into_result(())
}

fn fill(
    components: &mut Components,
    secrets: &[Secret],
    namespace: &str,
) -> Result<(), (String, String)> {
    let Some(files) = components.tls_mut() else {
        return Ok(());
    };
    let Some((name, field)) = files.credential.take() else {
        return Ok(());
    };
    let found = [GATEWAY_NAMESPACE, namespace].iter().find_map(|namespace| {
        secrets
            .iter()
            .find(|secret| secret.origin.name == name && secret.origin.namespace == *namespace)
    });
    let Some(secret) = found else {
        return Err((
            field,
            format!("no Secret {name:?} in {GATEWAY_NAMESPACE} or {namespace} in the directory"),
        ));
    };
    apply(files, secret, &field)
}

fn apply(files: &mut TlsFiles, secret: &Secret, field: &str) -> Result<(), (String, String)> {
    let certificates = secret.certificates();
    if files.mutual {
        let (certificate, key) = certificates.certificate.ok_or_else(|| {
            (
                field.to_string(),
                format!(
                    "{} has no client certificate: MUTUAL needs tls.crt and tls.key (or cert and key)",
                    secret.origin
                ),
            )
        })?;
        files.client = Some((Source::Inline(certificate), Source::Inline(key)));
    }
    files.ca_certificates = certificates.ca.map(Source::Inline);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::error::Origin;
    use crate::kinds::traffic_policy::{Tls, TrafficPolicy};

    fn origin(kind: &str, namespace: &str, name: &str) -> Origin {
        Origin {
            file: PathBuf::from("x.yaml"),
            document: 1,
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn rule(mutual: bool) -> DestinationRule {
        let tls = TlsFiles {
            mutual,
            credential: Some((
                "client-cert".into(),
                "spec.trafficPolicy.tls.credentialName".into(),
            )),
            ..TlsFiles::default()
        };
        DestinationRule {
            origin: origin("DestinationRule", "shop", "api"),
            host: "api.example.com".into(),
            subsets: Vec::new(),
            traffic_policy: Some(TrafficPolicy {
                top: Components {
                    tls: Some(Tls::Originate(tls)),
                    ..Components::default()
                },
                ..TrafficPolicy::default()
            }),
            export_to: Vec::new(),
            workload_selector: None,
        }
    }

    fn secret(namespace: &str, keys: &[(&str, &str)]) -> Secret {
        Secret {
            origin: origin("Secret", namespace, "client-cert"),
            data: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_tls_secret_in_the_gateway_namespace_fills_mutual_tls() {
        let mut rules = [rule(true)];
        let secrets = [secret(
            "istio-system",
            &[("tls.crt", "CERT"), ("tls.key", "KEY"), ("ca.crt", "CA")],
        )];
        resolve(&mut rules, &secrets).unwrap();
        let Some(Tls::Originate(files)) = &rules[0].traffic_policy.as_ref().unwrap().top.tls else {
            panic!("not TLS");
        };
        assert_eq!(
            files.client,
            Some((Source::Inline("CERT".into()), Source::Inline("KEY".into())))
        );
        assert_eq!(files.ca_certificates, Some(Source::Inline("CA".into())));
        assert_eq!(files.credential, None);
    }

    #[test]
    fn generic_keys_and_the_rule_namespace_work_too_and_missing_ones_are_named() {
        let mut rules = [rule(false)];
        resolve(&mut rules, &[secret("shop", &[("cacert", "CA")])]).unwrap();
        let mut rules = [rule(true)];
        let error = resolve(&mut rules, &[secret("shop", &[("cacert", "CA")])]).unwrap_err();
        assert_eq!(error.0[0].field, "spec.trafficPolicy.tls.credentialName");
        assert!(
            error.0[0]
                .reason
                .contains("MUTUAL needs tls.crt and tls.key"),
            "{error}"
        );
        let mut rules = [rule(false)];
        let error = resolve(&mut rules, &[secret("elsewhere", &[])]).unwrap_err();
        assert!(
            error.0[0].reason.contains("no Secret \"client-cert\""),
            "{error}"
        );
    }

    fn mutual_gateway() -> Gateway {
        use crate::kinds::gateway::{Server, ServerTls, TlsMode};
        Gateway {
            origin: origin("Gateway", "istio-system", "gw"),
            selector: BTreeMap::new(),
            servers: vec![Server {
                index: 0,
                port: 443,
                protocol: "HTTPS".into(),
                hosts: vec!["*".into()],
                tls: Some(ServerTls {
                    mode: TlsMode::Mutual,
                    credential_name: Some("client-cert".into()),
                    ..ServerTls::default()
                }),
            }],
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_gateway_server_takes_its_certificate_and_a_cacert_secret_for_its_client_ca() {
        let mut gateways = [mutual_gateway()];
        let mut ca = secret("istio-system", &[("cacert", "CA")]);
        ca.origin.name = "client-cert-cacert".into();
        let secrets = [
            secret("istio-system", &[("tls.crt", "CERT"), ("tls.key", "KEY")]),
            ca,
        ];
        resolve_gateways(&mut gateways, &secrets).unwrap();
        let tls = gateways[0].servers[0].tls.as_ref().unwrap();
        assert_eq!(
            tls.certificate,
            Some((Source::Inline("CERT".into()), Source::Inline("KEY".into())))
        );
        assert_eq!(tls.ca_certificates, Some(Source::Inline("CA".into())));

        let mut gateways = [mutual_gateway()];
        let error = resolve_gateways(&mut gateways, &secrets[..1]).unwrap_err();
        assert_eq!(
            error.0[0].to_string(),
            "x.yaml: Gateway istio-system/gw: spec.servers[0].tls.credentialName: Secret istio-system/client-cert has no ca.crt (or cacert), and there is no Secret client-cert-cacert with one: MUTUAL needs the client CA"
        );
        // Only the gateway pods' namespace: a Secret elsewhere is not found.
        let elsewhere = [secret("shop", &[("tls.crt", "CERT"), ("tls.key", "KEY")])];
        let error = resolve_gateways(&mut [mutual_gateway()], &elsewhere).unwrap_err();
        assert!(error.0[0]
            .to_string()
            .contains("no Secret \"client-cert\" in istio-system"));
    }
}
