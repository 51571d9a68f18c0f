//! Importing a certificate with its private key (PKCS#12 or PEM), under the given policy or one derived from
//! the certificate.

use super::issuance::{names_free, Completion, Material};
use super::policy::{
    ActionSpec, CertificatePolicy, LifetimeActionSpec, Sans, Trigger, CONTENT_TYPE_PEM,
    CONTENT_TYPE_PKCS12, ISSUER_UNKNOWN,
};
use super::properties::CertificateView;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keyhaven_crypto::keys::{KeyType, PrivateKey};
use keyhaven_crypto::x509;
use keyhaven_model::{ObjectName, SecretValue, Tags, VaultName};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A certificate to import: a PKCS#12 (base64) or PEM text with the private key and the chain.
#[derive(Debug, Clone)]
pub struct ImportCertificate {
    pub value: SecretValue,
    pub password: Option<SecretValue>,
    pub policy: Option<CertificatePolicy>,
    pub enabled: Option<bool>,
    pub tags: Tags,
}

impl Keyhaven {
    /// Imports a certificate with its private key from PKCS#12 (base64, optionally password-protected) or PEM.
    /// The policy is completed from the certificate itself. Nothing is written when anything is wrong.
    pub async fn import_certificate(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        req: ImportCertificate,
    ) -> Result<CertificateView> {
        who.authorize(
            Action::CertificatesImport,
            &Resource::object(vault, keyhaven_model::ObjectKind::Certificate, name),
        )?;
        // Parsing checks the key (RSA primes, EC point) and runs the file's key derivations: off the async threads.
        let (value, password) = (req.value.clone(), req.password.clone());
        let (bundle, detected) = self
            .heavy
            .run(move || read_bundle(&value, password.as_ref()))
            .await?;
        let key = bundle.key.ok_or_else(|| {
            Error::BadParameter(
                "The imported certificate has no private key; import a PKCS#12 or PEM file that holds the key \
                 together with its certificate."
                    .into(),
            )
        })?;
        let Some(leaf) = bundle.chain.first() else {
            return Err(Error::BadParameter(
                "The imported data holds no certificate.".into(),
            ));
        };
        let info = x509::inspect(leaf)?;
        let policy = imported_policy(req.policy.unwrap_or_default(), &key, &info, detected)?
            .complete(self.now())?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        names_free(&*snap, &v, name)?;
        let view = self
            .store_certificate(
                &v,
                name,
                &policy,
                Material {
                    key: Arc::new(key),
                    chain: bundle.chain,
                },
                req.enabled,
                req.tags,
                Completion {
                    operation: None,
                    expected_request: None,
                    version: None,
                },
            )
            .await?;
        Ok(CertificateView {
            object: view,
            policy: Some(policy),
        })
    }
}

/// The key and chain of an import: PEM text (or base64 of it), or base64 PKCS#12 with its password; with the
/// content type the format implies.
fn read_bundle(
    value: &SecretValue,
    password: Option<&SecretValue>,
) -> Result<(x509::CertificateBundle, &'static str)> {
    let text = value.expose().trim();
    if text.starts_with("-----BEGIN") {
        return Ok((x509::parse_pem(text)?, CONTENT_TYPE_PEM));
    }
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
    let der = Zeroizing::new(
        STANDARD
            .decode(&compact)
            .or_else(|_| URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=')))
            .map_err(|_| {
                Error::BadParameter(
                    "The certificate ('value') is neither PEM text nor base64-encoded PKCS#12."
                        .into(),
                )
            })?,
    );
    // SDKs send PEM base64-encoded too.
    let pem = std::str::from_utf8(&der)
        .ok()
        .map(str::trim_start)
        .filter(|t| t.starts_with("-----BEGIN"));
    Ok(match pem {
        Some(text) => (x509::parse_pem(text)?, CONTENT_TYPE_PEM),
        None => {
            let password = password.map(|p| p.expose()).unwrap_or("");
            (x509::parse_pkcs12(&der, password)?, CONTENT_TYPE_PKCS12)
        }
    })
}

/// The policy of an imported certificate: what the caller gave, completed from the certificate and its key.
pub(super) fn imported_policy(
    mut p: CertificatePolicy,
    key: &PrivateKey,
    info: &x509::CertificateInfo,
    detected_content_type: &str,
) -> Result<CertificatePolicy> {
    let kp = p.key_props.get_or_insert_with(Default::default);
    let given_ec = kp.kty.as_deref().map(|t| t.starts_with("EC"));
    match key.key_type() {
        KeyType::Rsa => {
            if given_ec == Some(true) {
                return Err(Error::BadParameter(
                    "The policy asks for an EC key, but the imported key is RSA.".into(),
                ));
            }
            kp.kty.get_or_insert_with(|| "RSA".into());
            kp.key_size = key.key_size();
            kp.crv = None;
        }
        KeyType::Ec => {
            if given_ec == Some(false) {
                return Err(Error::BadParameter(
                    "The policy asks for an RSA key, but the imported key is EC.".into(),
                ));
            }
            kp.kty.get_or_insert_with(|| "EC".into());
            kp.crv = key.curve().map(|c| c.as_str().to_string());
            kp.key_size = None;
        }
        KeyType::Oct => {
            return Err(Error::BadParameter(
                "A certificate's key must be RSA or EC.".into(),
            ))
        }
    }
    let sp = p.secret_props.get_or_insert_with(Default::default);
    sp.content_type
        .get_or_insert_with(|| detected_content_type.to_string());
    let xp = p.x509_props.get_or_insert_with(Default::default);
    xp.subject = Some(info.subject.clone());
    let sans = Sans {
        emails: info.emails.clone(),
        dns_names: info.dns_names.clone(),
        upns: info.upns.clone(),
    };
    xp.sans = Some(sans);
    xp.key_usage = Some(info.key_usage.clone());
    xp.ekus = Some(info.ekus.clone());
    let days = (info.not_after - info.not_before).max(0) / 86_400;
    xp.validity_months = Some(((days as f64 / 30.44).round() as u32).clamp(1, 1200));
    // Imported certificates come from an authority outside Keyhaven.
    p.issuer
        .get_or_insert_with(Default::default)
        .name
        .get_or_insert_with(|| ISSUER_UNKNOWN.into());
    if p.lifetime_actions.is_none() {
        p.lifetime_actions = Some(vec![LifetimeActionSpec {
            trigger: Trigger {
                lifetime_percentage: Some(80),
                days_before_expiry: None,
            },
            action: ActionSpec {
                action_type: Some("EmailContacts".into()),
            },
        }]);
    }
    Ok(p)
}
