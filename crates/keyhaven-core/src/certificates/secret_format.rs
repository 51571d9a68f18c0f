//! A certificate's secret in the form a caller asks for (`outContentType`, api-version 2025-07-01): the managed
//! secret of a PKCS#12 certificate can be read as PEM. Nothing else is converted.

use super::policy::{CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12};
use crate::{Error, Keyhaven, ObjectView, Principal, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keyhaven_crypto::x509;
use keyhaven_model::{ObjectName, SecretValue, VaultName, Version};
use zeroize::Zeroizing;

/// The forms a secret's value can be asked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFormat {
    /// `application/x-pkcs12`.
    Pkcs12,
    /// `application/x-pem-file`.
    Pem,
}

impl SecretFormat {
    /// The form named by a content type; anything else is refused.
    pub fn parse(content_type: &str) -> Result<SecretFormat> {
        match content_type {
            CONTENT_TYPE_PKCS12 => Ok(SecretFormat::Pkcs12),
            CONTENT_TYPE_PEM => Ok(SecretFormat::Pem),
            other => Err(Error::BadParameter(format!(
                "outContentType '{}' is not supported; use {CONTENT_TYPE_PEM} (or {CONTENT_TYPE_PKCS12}).",
                other.chars().take(60).collect::<String>().escape_default()
            ))),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            SecretFormat::Pkcs12 => CONTENT_TYPE_PKCS12,
            SecretFormat::Pem => CONTENT_TYPE_PEM,
        }
    }
}

impl Keyhaven {
    /// A secret version (as [`Keyhaven::get_secret`]) in the form asked: unchanged when it already is in that
    /// form; a certificate's PKCS#12 secret converted to PEM (the key, then the certificates in the file's order);
    /// anything else refused, since only that conversion exists.
    pub fn get_secret_as(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        version: Option<&Version>,
        format: SecretFormat,
    ) -> Result<ObjectView> {
        let mut view = self.get_secret(who, vault, name, version)?;
        let has = view.content_type.as_deref();
        if has == Some(format.content_type()) {
            return Ok(view);
        }
        if !(format == SecretFormat::Pem && view.managed && has == Some(CONTENT_TYPE_PKCS12)) {
            return Err(Error::BadParameter(format!(
                "outContentType converts the PKCS#12 secret of a certificate to PEM only; this secret's content \
                 type is {}.",
                has.unwrap_or("not set")
            )));
        }
        let value = view
            .value
            .take()
            .ok_or_else(|| Error::Internal("a secret read without its value".into()))?;
        let der = Zeroizing::new(
            STANDARD
                .decode(value.expose().trim())
                .map_err(|_| Error::corrupt("a certificate's PKCS#12 secret is not base64"))?,
        );
        // Keyhaven wrote this file itself, without a password.
        let bundle = x509::parse_pkcs12(&der, "")?;
        let pem = x509::to_pem_as_given(bundle.key.as_ref(), &bundle.as_given)?;
        view.value = Some(SecretValue::new(pem.to_string())?);
        view.content_type = Some(CONTENT_TYPE_PEM.to_string());
        Ok(view)
    }
}
