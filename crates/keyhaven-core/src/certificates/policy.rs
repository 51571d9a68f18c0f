//! A certificate's policy: how its key is made, what its X.509 certificate says, how its secret is encoded, who
//! issues it and what happens as it nears expiry. Stored on the certificate object; the shape is Azure's.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The managed secret holds the certificate (and key) as PKCS#12: the default.
pub const CONTENT_TYPE_PKCS12: &str = "application/x-pkcs12";
/// The managed secret holds the certificate chain (and key) as PEM.
pub const CONTENT_TYPE_PEM: &str = "application/x-pem-file";
/// The issuer whose certificates Keyhaven signs itself.
pub const ISSUER_SELF: &str = "Self";
/// The issuer that stands for "an authority outside Keyhaven": the operation waits for a merge.
pub const ISSUER_UNKNOWN: &str = "Unknown";

const KEY_USAGES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// How a certificate's key is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProps {
    /// Whether the managed secret holds the private key along with the certificate (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
    /// `RSA` (the default), `RSA-HSM`, `EC` or `EC-HSM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    /// RSA: 2048 (the default), 3072 or 4096 bits. EC: optional, and then it must match the curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Whether a new version keeps the current key when it still fits the policy (default `false`: a new key
    /// per version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_key: Option<bool>,
    /// EC only: `P-256` (the default), `P-256K`, `P-384` or `P-521`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
}

/// How the managed secret encodes the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretProps {
    /// [`CONTENT_TYPE_PKCS12`] (the default) or [`CONTENT_TYPE_PEM`].
    #[serde(
        rename = "contentType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
}

/// The subject alternative names a certificate carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sans {
    /// E-mail addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// DNS names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// User principal names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upns: Vec<String>,
    /// IP addresses, IPv4 or IPv6 (api-version 2025-07-01).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// URIs (api-version 2025-07-01).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
}

impl Sans {
    fn is_empty(&self) -> bool {
        self.emails.is_empty()
            && self.dns_names.is_empty()
            && self.upns.is_empty()
            && self.ip_addresses.is_empty()
            && self.uris.is_empty()
    }
}

/// What a certificate says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509Props {
    /// The subject as an X.500 name (`CN=www.contoso.com`); required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Extended key usages as object identifiers (default: server and client authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekus: Option<Vec<String>>,
    /// Subject alternative names; an empty set counts as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sans: Option<Sans>,
    /// Key usages (`digitalSignature`, `keyEncipherment`, …), which also decide the managed key's permitted
    /// operations. Default: `digitalSignature` with `keyEncipherment` (RSA) or `keyAgreement` (EC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<Vec<String>>,
    /// How long each new certificate is valid: 1–1200 months (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_months: Option<u32>,
}

/// When a lifetime action is due: exactly one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Once this share (1–99 %) of the certificate's validity has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_percentage: Option<u32>,
    /// This many days before the certificate expires (at least 1, less than its validity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_before_expiry: Option<u32>,
}

/// What a lifetime action does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSpec {
    /// `AutoRenew` (a new version, for issuer `Self`; for other issuers a near-expiry event, like
    /// `EmailContacts`) or `EmailContacts` (a near-expiry event naming the vault's contacts, once per version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
}

/// A lifetime action: what happens to a certificate as it nears expiry, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeActionSpec {
    /// When it is due.
    #[serde(default)]
    pub trigger: Trigger,
    /// What it does.
    #[serde(default)]
    pub action: ActionSpec,
}

/// Who issues a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRef {
    /// [`ISSUER_SELF`], [`ISSUER_UNKNOWN`] (the default), or an issuer configured in the vault, whose
    /// certificates stay pending until merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The certificate type to ask an authority for (e.g. `OV-SSL`); kept and returned only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// Whether an authority should log the certificate publicly; kept and returned only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_transparency: Option<bool>,
}

/// The policy's own attributes (enabled; created/updated are kept by the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAttributes {
    /// Whether the policy is enabled (default `true`); kept and returned only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// When the policy was first set, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// When the policy last changed, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

/// A certificate policy. Every section may be left out of a request; [`CertificatePolicy::complete`] fills Azure's
/// defaults and checks the result. Stored with the certificate as JSON in this layout (the HTTP edge has its own
/// wire shape, `keyhaven_azure_api::certificate_policy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatePolicy {
    /// How the key is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_props: Option<KeyProps>,
    /// How the managed secret encodes the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_props: Option<SecretProps>,
    /// What the certificate says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_props: Option<X509Props>,
    /// What happens as the certificate nears expiry: at most one action (default: at 80 % of its validity,
    /// `AutoRenew` for issuer `Self`, `EmailContacts` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_actions: Option<Vec<LifetimeActionSpec>>,
    /// Who issues the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerRef>,
    /// The policy's own attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<PolicyAttributes>,
    /// The version whose near-expiry notice was last given (kept by the server; not part of Azure's shape).
    #[serde(
        rename = "keyhavenNotifiedVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notified_version: Option<String>,
    /// Whether the managed secret keeps a merged or imported chain in the order it was given (Azure's
    /// `preserveCertOrder`, api-version 7.6, asked on create or import; kept by the server and answered on the
    /// certificate, not part of the policy's shape). Otherwise the leaf comes first.
    #[serde(
        rename = "keyhavenPreserveCertOrder",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_cert_order: Option<bool>,
}

/// What a lifetime action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateAction {
    AutoRenew,
    EmailContacts,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadParameter(msg.into())
}

fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

impl CertificatePolicy {
    /// Azure's policy for `az keyvault certificate get-default-policy`.
    pub fn azure_default() -> Self {
        CertificatePolicy {
            issuer: Some(IssuerRef {
                name: Some(ISSUER_SELF.into()),
                ..Default::default()
            }),
            x509_props: Some(X509Props {
                subject: Some("CN=CLIGetDefaultPolicy".into()),
                validity_months: Some(12),
                ..Default::default()
            }),
            ..Default::default()
        }
        .complete(0)
        .unwrap_or_default()
    }

    /// Fills Azure's defaults into every section left out and validates the whole. `now` stamps the attributes.
    pub fn complete(mut self, now: i64) -> Result<Self> {
        let issuer = self.issuer.get_or_insert_with(Default::default);
        let issuer_name = issuer.name.get_or_insert_with(|| ISSUER_UNKNOWN.into());
        if issuer_name.eq_ignore_ascii_case(ISSUER_SELF) {
            *issuer_name = ISSUER_SELF.into();
        } else if issuer_name.eq_ignore_ascii_case(ISSUER_UNKNOWN) {
            *issuer_name = ISSUER_UNKNOWN.into();
        }
        let self_issued = issuer_name == ISSUER_SELF;

        let kp = self.key_props.get_or_insert_with(Default::default);
        let kty = kp.kty.get_or_insert_with(|| "RSA".into());
        let ec = match kty.as_str() {
            "RSA" | "RSA-HSM" => false,
            "EC" | "EC-HSM" => true,
            other => {
                return Err(bad(format!(
                    "The key type '{}' cannot hold a certificate; use RSA, RSA-HSM, EC or EC-HSM.",
                    shown(other)
                )))
            }
        };
        if ec {
            let crv = kp.crv.get_or_insert_with(|| "P-256".into());
            let bits = match crv.as_str() {
                "P-256" | "P-256K" => 256,
                "P-384" => 384,
                "P-521" => 521,
                other => {
                    return Err(bad(format!(
                        "The curve '{}' is not supported; use P-256, P-256K, P-384 or P-521.",
                        shown(other)
                    )))
                }
            };
            if kp.key_size.is_some_and(|s| s != bits) {
                return Err(bad(format!(
                    "key_size {} does not match the curve {crv} ({bits} bits).",
                    kp.key_size.unwrap_or_default()
                )));
            }
        } else {
            if kp.crv.is_some() {
                return Err(bad("crv applies to EC keys only."));
            }
            let size = *kp.key_size.get_or_insert(2048);
            if ![2048, 3072, 4096].contains(&size) {
                return Err(bad(format!(
                    "RSA key_size {size} is not supported; use 2048, 3072 or 4096."
                )));
            }
        }
        kp.exportable.get_or_insert(true);
        kp.reuse_key.get_or_insert(false);

        let sp = self.secret_props.get_or_insert_with(Default::default);
        let ct = sp
            .content_type
            .get_or_insert_with(|| CONTENT_TYPE_PKCS12.into());
        if ct != CONTENT_TYPE_PKCS12 && ct != CONTENT_TYPE_PEM {
            return Err(bad(format!(
                "The secret content type '{}' is not supported; use {CONTENT_TYPE_PKCS12} or {CONTENT_TYPE_PEM}.",
                shown(ct)
            )));
        }

        let xp = self.x509_props.get_or_insert_with(Default::default);
        if xp.subject.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(bad(
                "The policy needs a subject (x509_props.subject), e.g. \"CN=www.contoso.com\".",
            ));
        }
        if xp.sans.as_ref().is_some_and(Sans::is_empty) {
            xp.sans = None;
        }
        let months = *xp.validity_months.get_or_insert(12);
        if !(1..=1200).contains(&months) {
            return Err(bad(format!(
                "validity_months must be between 1 and 1200; {months} was given."
            )));
        }
        let usage = xp.key_usage.get_or_insert_with(|| {
            if ec {
                vec!["digitalSignature".into(), "keyAgreement".into()]
            } else {
                vec!["digitalSignature".into(), "keyEncipherment".into()]
            }
        });
        let mut canon = Vec::new();
        for u in usage.iter() {
            let Some(c) = KEY_USAGES.iter().find(|k| k.eq_ignore_ascii_case(u)) else {
                return Err(bad(format!(
                    "Unknown key usage '{}'. Valid: {}.",
                    shown(u),
                    KEY_USAGES.join(", ")
                )));
            };
            if !canon.iter().any(|x: &String| x == c) {
                canon.push(c.to_string());
            }
        }
        *usage = canon;
        let ekus = xp
            .ekus
            .get_or_insert_with(|| vec!["1.3.6.1.5.5.7.3.1".into(), "1.3.6.1.5.5.7.3.2".into()]);
        for e in ekus.iter() {
            let parts: Vec<&str> = e.split('.').collect();
            if parts.len() < 2
                || parts
                    .iter()
                    .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad(format!(
                    "The extended key usage '{}' is not an object identifier (e.g. 1.3.6.1.5.5.7.3.1).",
                    shown(e)
                )));
            }
        }

        let actions = self.lifetime_actions.get_or_insert_with(|| {
            vec![LifetimeActionSpec {
                trigger: Trigger {
                    lifetime_percentage: Some(80),
                    days_before_expiry: None,
                },
                action: ActionSpec {
                    action_type: Some(
                        if self_issued {
                            "AutoRenew"
                        } else {
                            "EmailContacts"
                        }
                        .into(),
                    ),
                },
            }]
        });
        if actions.len() > 1 {
            return Err(bad(
                "A certificate policy holds at most one lifetime action.",
            ));
        }
        for a in actions.iter_mut() {
            match (a.trigger.lifetime_percentage, a.trigger.days_before_expiry) {
                (Some(p), None) if (1..=99).contains(&p) => {}
                (Some(p), None) => {
                    return Err(bad(format!(
                        "lifetime_percentage must be between 1 and 99; {p} was given."
                    )))
                }
                (None, Some(d)) => {
                    if d == 0 || i64::from(d) * 86_400 >= validity_secs(months) {
                        return Err(bad(format!(
                            "days_before_expiry ({d}) must be at least 1 and less than the certificate's validity \
                             ({months} months)."
                        )));
                    }
                }
                _ => {
                    return Err(bad(
                        "A lifetime action's trigger needs exactly one of lifetime_percentage or days_before_expiry.",
                    ))
                }
            }
            let t = a.action.action_type.as_deref().unwrap_or_default();
            let canon = if t.eq_ignore_ascii_case("AutoRenew") {
                "AutoRenew"
            } else if t.eq_ignore_ascii_case("EmailContacts") {
                "EmailContacts"
            } else {
                return Err(bad(format!(
                    "Unknown lifetime action '{}'; use AutoRenew or EmailContacts.",
                    shown(t)
                )));
            };
            a.action.action_type = Some(canon.into());
        }

        let attrs = self.attributes.get_or_insert_with(Default::default);
        attrs.enabled.get_or_insert(true);
        attrs.created.get_or_insert(now);
        attrs.updated = Some(now);
        Ok(self)
    }

    /// This policy with the sections (and fields) of `patch` laid over it.
    pub fn merged(&self, patch: CertificatePolicy) -> CertificatePolicy {
        fn over<T: Clone>(base: &mut Option<T>, new: Option<T>) {
            if new.is_some() {
                *base = new;
            }
        }
        let mut out = self.clone();
        if let Some(p) = patch.key_props {
            let k = out.key_props.get_or_insert_with(Default::default);
            // A new key type drops the previous type's size or curve.
            if p.kty.is_some() && p.kty != k.kty {
                k.key_size = None;
                k.crv = None;
            }
            over(&mut k.kty, p.kty);
            over(&mut k.key_size, p.key_size);
            over(&mut k.crv, p.crv);
            over(&mut k.exportable, p.exportable);
            over(&mut k.reuse_key, p.reuse_key);
        }
        if let Some(p) = patch.secret_props {
            let s = out.secret_props.get_or_insert_with(Default::default);
            over(&mut s.content_type, p.content_type);
        }
        if let Some(p) = patch.x509_props {
            let x = out.x509_props.get_or_insert_with(Default::default);
            over(&mut x.subject, p.subject);
            // An empty `sans` object (which some SDKs send for "no change") keeps the names.
            over(&mut x.sans, p.sans.filter(|s| !s.is_empty()));
            over(&mut x.ekus, p.ekus);
            over(&mut x.key_usage, p.key_usage);
            over(&mut x.validity_months, p.validity_months);
        }
        over(&mut out.lifetime_actions, patch.lifetime_actions);
        if let Some(p) = patch.issuer {
            let i = out.issuer.get_or_insert_with(Default::default);
            over(&mut i.name, p.name);
            over(&mut i.cty, p.cty);
            over(&mut i.cert_transparency, p.cert_transparency);
        }
        if let Some(p) = patch.attributes {
            let a = out.attributes.get_or_insert_with(Default::default);
            over(&mut a.enabled, p.enabled);
        }
        out
    }

    /// Whether chains are kept in the order given (see [`CertificatePolicy::preserve_cert_order`]).
    pub(crate) fn keeps_chain_order(&self) -> bool {
        self.preserve_cert_order == Some(true)
    }

    /// The issuer's name ([`ISSUER_UNKNOWN`] when the policy names none).
    pub fn issuer_name(&self) -> &str {
        self.issuer
            .as_ref()
            .and_then(|i| i.name.as_deref())
            .unwrap_or(ISSUER_UNKNOWN)
    }

    /// The managed secret's content type ([`CONTENT_TYPE_PKCS12`] when the policy names none).
    pub fn content_type(&self) -> &str {
        self.secret_props
            .as_ref()
            .and_then(|s| s.content_type.as_deref())
            .unwrap_or(CONTENT_TYPE_PKCS12)
    }

    pub(crate) fn key(&self) -> KeyProps {
        self.key_props.clone().unwrap_or_default()
    }

    pub(crate) fn x509(&self) -> X509Props {
        self.x509_props.clone().unwrap_or_default()
    }

    /// The lifetime action due for a certificate valid from `nbf` to `exp`, if its trigger time has come.
    pub(crate) fn due_action(&self, nbf: i64, exp: i64, now: i64) -> Option<CertificateAction> {
        let a = self.lifetime_actions.as_ref()?.first()?;
        let at = match (a.trigger.lifetime_percentage, a.trigger.days_before_expiry) {
            (Some(p), _) => nbf + (exp - nbf) * i64::from(p) / 100,
            (None, Some(d)) => exp - i64::from(d) * 86_400,
            _ => return None,
        };
        if now < at {
            return None;
        }
        match a.action.action_type.as_deref() {
            Some("AutoRenew") => Some(CertificateAction::AutoRenew),
            Some("EmailContacts") => Some(CertificateAction::EmailContacts),
            _ => None,
        }
    }

    pub(crate) fn from_value(v: &serde_json::Value) -> Result<Self> {
        serde_json::from_value(v.clone()).map_err(|e| {
            Error::corrupt(format!("a stored certificate policy does not decode: {e}"))
        })
    }

    pub(crate) fn to_value(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::Internal(e.to_string()))
    }
}

/// Roughly how long `months` months last (for comparing with days_before_expiry).
fn validity_secs(months: u32) -> i64 {
    i64::from(months) * 2_629_746
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_subject() -> CertificatePolicy {
        CertificatePolicy {
            x509_props: Some(X509Props {
                subject: Some("CN=a".into()),
                ..Default::default()
            }),
            issuer: Some(IssuerRef {
                name: Some("self".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_azures() {
        let p = with_subject().complete(5).map_err(|e| e.to_string());
        let p = p.as_ref().ok();
        let p = p.expect("complete");
        assert_eq!(p.issuer_name(), "Self");
        assert_eq!(p.content_type(), CONTENT_TYPE_PKCS12);
        let k = p.key();
        assert_eq!(
            (k.kty.as_deref(), k.key_size, k.exportable, k.reuse_key),
            (Some("RSA"), Some(2048), Some(true), Some(false))
        );
        let x = p.x509();
        assert_eq!(x.validity_months, Some(12));
        assert_eq!(x.key_usage.as_deref().map(|u| u.len()), Some(2));
        assert_eq!(
            p.lifetime_actions
                .as_ref()
                .map(|a| a[0].action.action_type.clone()),
            Some(Some("AutoRenew".into()))
        );
        assert_eq!(p.attributes.as_ref().and_then(|a| a.created), Some(5));
    }

    /// A named change that makes a policy invalid.
    type Breakage = (&'static str, Box<dyn Fn(&mut CertificatePolicy)>);

    #[test]
    fn refusals() {
        let cases: Vec<Breakage> = vec![
            ("no subject", Box::new(|p| p.x509_props = None)),
            (
                "oct",
                Box::new(|p| {
                    p.key_props = Some(KeyProps {
                        kty: Some("oct".into()),
                        ..Default::default()
                    })
                }),
            ),
            (
                "rsa 1024",
                Box::new(|p| {
                    p.key_props = Some(KeyProps {
                        key_size: Some(1024),
                        ..Default::default()
                    })
                }),
            ),
            (
                "bad curve",
                Box::new(|p| {
                    p.key_props = Some(KeyProps {
                        kty: Some("EC".into()),
                        crv: Some("P-999".into()),
                        ..Default::default()
                    })
                }),
            ),
            (
                "curve size",
                Box::new(|p| {
                    p.key_props = Some(KeyProps {
                        kty: Some("EC".into()),
                        crv: Some("P-384".into()),
                        key_size: Some(256),
                        ..Default::default()
                    })
                }),
            ),
            (
                "content type",
                Box::new(|p| {
                    p.secret_props = Some(SecretProps {
                        content_type: Some("text/plain".into()),
                    })
                }),
            ),
            (
                "usage",
                Box::new(|p| {
                    if let Some(x) = p.x509_props.as_mut() {
                        x.key_usage = Some(vec!["signEverything".into()])
                    }
                }),
            ),
            (
                "eku",
                Box::new(|p| {
                    if let Some(x) = p.x509_props.as_mut() {
                        x.ekus = Some(vec!["serverAuth".into()])
                    }
                }),
            ),
            (
                "months",
                Box::new(|p| {
                    if let Some(x) = p.x509_props.as_mut() {
                        x.validity_months = Some(0)
                    }
                }),
            ),
            (
                "percentage",
                Box::new(|p| {
                    p.lifetime_actions = Some(vec![LifetimeActionSpec {
                        trigger: Trigger {
                            lifetime_percentage: Some(100),
                            days_before_expiry: None,
                        },
                        action: ActionSpec {
                            action_type: Some("AutoRenew".into()),
                        },
                    }])
                }),
            ),
            (
                "both triggers",
                Box::new(|p| {
                    p.lifetime_actions = Some(vec![LifetimeActionSpec {
                        trigger: Trigger {
                            lifetime_percentage: Some(50),
                            days_before_expiry: Some(3),
                        },
                        action: ActionSpec {
                            action_type: Some("AutoRenew".into()),
                        },
                    }])
                }),
            ),
            (
                "days too many",
                Box::new(|p| {
                    p.lifetime_actions = Some(vec![LifetimeActionSpec {
                        trigger: Trigger {
                            lifetime_percentage: None,
                            days_before_expiry: Some(400),
                        },
                        action: ActionSpec {
                            action_type: Some("AutoRenew".into()),
                        },
                    }])
                }),
            ),
            (
                "action",
                Box::new(|p| {
                    p.lifetime_actions = Some(vec![LifetimeActionSpec {
                        trigger: Trigger {
                            lifetime_percentage: Some(50),
                            days_before_expiry: None,
                        },
                        action: ActionSpec {
                            action_type: Some("Explode".into()),
                        },
                    }])
                }),
            ),
        ];
        for (what, change) in cases {
            let mut p = with_subject();
            change(&mut p);
            assert!(
                matches!(p.complete(0), Err(Error::BadParameter(_))),
                "{what}"
            );
        }
    }

    #[test]
    fn due_actions() {
        let p = with_subject().complete(0).ok().unwrap_or_default();
        // 80 % of 100 s.
        assert_eq!(p.due_action(0, 100, 79), None);
        assert_eq!(p.due_action(0, 100, 80), Some(CertificateAction::AutoRenew));
    }

    #[test]
    fn merge_replaces_given_fields_only() {
        let p = with_subject().complete(0).ok().unwrap_or_default();
        let m = p.merged(CertificatePolicy {
            key_props: Some(KeyProps {
                kty: Some("EC".into()),
                ..Default::default()
            }),
            x509_props: Some(X509Props {
                validity_months: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        });
        let m = m.complete(1).ok().unwrap_or_default();
        assert_eq!(m.key().crv.as_deref(), Some("P-256"));
        assert_eq!(m.x509().subject.as_deref(), Some("CN=a"));
        assert_eq!(m.x509().validity_months, Some(3));
    }
}
