//! The certificate policy between its wire shape (`keyhaven_azure_api::certificate_policy`) and the domain's.

use super::error::ApiError;
use keyhaven_azure_api::certificate_policy as wire;
use keyhaven_core::{
    ActionSpec, CertificatePolicy, IssuerRef, KeyProps, LifetimeActionSpec, PolicyAttributes, Sans,
    SecretProps, Trigger, X509Props,
};

/// A policy as a request gave it.
pub(crate) fn policy_in(p: wire::CertificatePolicy) -> Result<CertificatePolicy, ApiError> {
    let x509_props = match p.x509_props {
        Some(x) => Some(X509Props {
            subject: x.subject,
            ekus: x.ekus,
            sans: x.sans.map(sans_in),
            key_usage: x.key_usage,
            validity_months: x.validity_months,
        }),
        None => None,
    };
    Ok(CertificatePolicy {
        key_props: p.key_props.map(|k| KeyProps {
            exportable: k.exportable,
            kty: k.kty,
            key_size: k.key_size,
            reuse_key: k.reuse_key,
            crv: k.crv,
        }),
        secret_props: p.secret_props.map(|s| SecretProps {
            content_type: s.content_type,
        }),
        x509_props,
        lifetime_actions: p.lifetime_actions.map(|a| {
            a.into_iter()
                .map(|a| LifetimeActionSpec {
                    trigger: Trigger {
                        lifetime_percentage: a.trigger.lifetime_percentage,
                        days_before_expiry: a.trigger.days_before_expiry,
                    },
                    action: ActionSpec {
                        action_type: a.action.action_type,
                    },
                })
                .collect()
        }),
        issuer: p.issuer.map(|i| IssuerRef {
            name: i.name,
            cty: i.cty,
            cert_transparency: i.cert_transparency,
        }),
        attributes: p.attributes.map(|a| PolicyAttributes {
            enabled: a.enabled,
            created: a.created,
            updated: a.updated,
        }),
        notified_version: None,
        preserve_cert_order: None,
    })
}

fn sans_in(s: wire::SubjectAlternativeNames) -> Sans {
    Sans {
        emails: s.emails,
        dns_names: s.dns_names,
        upns: s.upns,
        ip_addresses: s.ip_addresses,
        uris: s.uris,
    }
}

/// A policy as responses carry it, with its `id`.
pub(crate) fn policy_out(id: String, p: &CertificatePolicy) -> wire::CertificatePolicy {
    wire::CertificatePolicy {
        id: Some(id),
        key_props: p.key_props.as_ref().map(|k| wire::KeyProperties {
            exportable: k.exportable,
            kty: k.kty.clone(),
            key_size: k.key_size,
            reuse_key: k.reuse_key,
            crv: k.crv.clone(),
        }),
        secret_props: p.secret_props.as_ref().map(|s| wire::SecretProperties {
            content_type: s.content_type.clone(),
        }),
        x509_props: p
            .x509_props
            .as_ref()
            .map(|x| wire::X509CertificateProperties {
                subject: x.subject.clone(),
                ekus: x.ekus.clone(),
                sans: x.sans.as_ref().map(|s| wire::SubjectAlternativeNames {
                    emails: s.emails.clone(),
                    dns_names: s.dns_names.clone(),
                    upns: s.upns.clone(),
                    ip_addresses: s.ip_addresses.clone(),
                    uris: s.uris.clone(),
                }),
                key_usage: x.key_usage.clone(),
                validity_months: x.validity_months,
            }),
        lifetime_actions: p.lifetime_actions.as_ref().map(|a| {
            a.iter()
                .map(|a| wire::LifetimeAction {
                    trigger: wire::Trigger {
                        lifetime_percentage: a.trigger.lifetime_percentage,
                        days_before_expiry: a.trigger.days_before_expiry,
                    },
                    action: wire::Action {
                        action_type: a.action.action_type.clone(),
                    },
                })
                .collect()
        }),
        issuer: p.issuer.as_ref().map(|i| wire::IssuerParameters {
            name: i.name.clone(),
            cty: i.cty.clone(),
            cert_transparency: i.cert_transparency,
        }),
        attributes: p.attributes.as_ref().map(|a| wire::PolicyAttributes {
            enabled: a.enabled,
            created: a.created,
            updated: a.updated,
        }),
    }
}
