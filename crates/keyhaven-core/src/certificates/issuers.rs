//! A vault's certificate issuers: the configuration of outside certificate authorities (provider, account,
//! organization). The account password is sealed under the vault key and never returned.

use super::policy::{ISSUER_SELF, ISSUER_UNKNOWN};
use crate::paging::{Page, PageRequest};
use crate::records;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::{ObjectKind, ObjectName, SecretValue, VaultName};
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;

/// An administrator of the organization an issuer knows (Azure's shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdministratorDetails {
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// An issuer as callers see it (no password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// The issuer's name, as policies name it.
    pub name: String,
    /// The certificate authority it stands for (e.g. `DigiCert`), as the caller named it.
    pub provider: String,
    /// The account at the authority.
    pub account_id: Option<String>,
    /// Whether an account password is set (the password itself is never returned).
    pub has_password: bool,
    /// The organization's id at the authority.
    pub organization_id: Option<String>,
    /// The organization's administrators.
    pub admins: Vec<AdministratorDetails>,
    /// Whether the issuer is enabled (Azure's flag, kept and returned).
    pub enabled: bool,
    /// When it was first set, in Unix seconds.
    pub created: i64,
    /// When it last changed, in Unix seconds.
    pub updated: i64,
}

/// A change to an issuer: set (`PUT`, replacing it; provider required) or update (`PATCH`, what is given).
#[derive(Debug, Clone, Default)]
pub struct IssuerChange {
    /// The certificate authority; required to set an issuer.
    pub provider: Option<String>,
    /// The account at the authority.
    pub account_id: Option<String>,
    /// The account password, sealed under the vault's key before it is stored.
    pub password: Option<SecretValue>,
    /// The organization's id at the authority.
    pub organization_id: Option<String>,
    /// The organization's administrators, replacing those stored.
    pub admins: Option<Vec<AdministratorDetails>>,
    /// Whether the issuer is enabled (a new one is).
    pub enabled: Option<bool>,
}

#[serde_with::serde_as]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuerRecord {
    pub name: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<Base64>")]
    pub sealed_password: Option<Vec<u8>>,
    /// The generation of the vault key that sealed the password.
    #[serde(default, skip_serializing_if = "records::is_zero")]
    pub password_key: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admins: Vec<AdministratorDetails>,
    pub enabled: bool,
    pub created: i64,
    pub updated: i64,
}

impl From<&IssuerRecord> for Issuer {
    fn from(r: &IssuerRecord) -> Self {
        Issuer {
            name: r.name.clone(),
            provider: r.provider.clone(),
            account_id: r.account_id.clone(),
            has_password: r.sealed_password.is_some(),
            organization_id: r.organization_id.clone(),
            admins: r.admins.clone(),
            enabled: r.enabled,
            created: r.created,
            updated: r.updated,
        }
    }
}

fn not_found(name: &ObjectName) -> Error {
    Error::NotFound {
        kind: ObjectKind::Certificate,
        message: format!("Issuer not found: {name}"),
    }
}

fn issuer_name(name: &ObjectName) -> Result<()> {
    if name.as_str().eq_ignore_ascii_case(ISSUER_SELF)
        || name.as_str().eq_ignore_ascii_case(ISSUER_UNKNOWN)
    {
        return Err(Error::BadParameter(format!(
            "'{name}' is a reserved issuer name ({ISSUER_SELF} and {ISSUER_UNKNOWN} are built in)."
        )));
    }
    Ok(())
}

impl Keyhaven {
    /// One issuer of the vault, by name (case-insensitive).
    pub fn get_issuer(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<Issuer> {
        who.authorize(Action::CertificateIssuersRead, &Resource::vault(vault))?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let r: IssuerRecord = records::read(&*snap, &records::issuer_key(&v.name, &name.key()))?
            .ok_or_else(|| not_found(name))?;
        Ok(Issuer::from(&r))
    }

    /// A page of the vault's issuers.
    pub fn list_issuers(
        &self,
        who: &Principal,
        vault: &VaultName,
        page: &PageRequest,
    ) -> Result<Page<Issuer>> {
        who.authorize(Action::CertificateIssuersRead, &Resource::vault(vault))?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let mut items = Vec::new();
        let next =
            crate::objects::scan_page(&*snap, &records::issuers_prefix(&v.name), page, |_, b| {
                items.push(Issuer::from(&records::decode::<IssuerRecord>(b)?));
                Ok(true)
            })?;
        Ok(Page { items, next })
    }

    /// Creates or replaces (`replace`) an issuer, or updates the fields given (`!replace`, which needs it to exist).
    pub async fn set_issuer(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        change: IssuerChange,
        replace: bool,
    ) -> Result<Issuer> {
        who.authorize(Action::CertificateIssuersWrite, &Resource::vault(vault))?;
        issuer_name(name)?;
        if replace
            && change
                .provider
                .as_deref()
                .is_none_or(|p| p.trim().is_empty())
        {
            return Err(Error::BadParameter("An issuer needs a provider.".into()));
        }
        let now = self.now();
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let sealed_password = match &change.password {
            Some(p) => Some(
                self.barrier
                    .vault_key(&v)?
                    .seal_issuer_password(name, p.expose().as_bytes())?,
            ),
            None => None,
        };
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                let key = records::issuer_key(&v.name, &name.key());
                let existing: Option<IssuerRecord> = records::read_txn(txn, &key)?;
                let mut r = match (existing, replace) {
                    (Some(e), false) => e,
                    (None, false) => return Err(not_found(&name)),
                    (e, true) => IssuerRecord {
                        name: name.as_str().to_string(),
                        provider: String::new(),
                        account_id: None,
                        sealed_password: None,
                        password_key: 0,
                        organization_id: None,
                        admins: Vec::new(),
                        enabled: true,
                        created: e.map(|e| e.created).unwrap_or(now),
                        updated: now,
                    },
                };
                if let Some(p) = change.provider {
                    r.provider = p;
                }
                if change.account_id.is_some() {
                    r.account_id = change.account_id;
                }
                if let Some((sealed, key)) = sealed_password {
                    r.sealed_password = Some(sealed);
                    r.password_key = key;
                }
                if change.organization_id.is_some() {
                    r.organization_id = change.organization_id;
                }
                if let Some(a) = change.admins {
                    r.admins = a;
                }
                if let Some(e) = change.enabled {
                    r.enabled = e;
                }
                r.updated = now;
                records::write_txn(txn, &key, &r)?;
                Ok(Issuer::from(&r))
            })
            .await
    }

    /// Deletes an issuer, returning it. Policies that name it stay as they are; creating a certificate under
    /// one is then refused.
    pub async fn delete_issuer(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<Issuer> {
        who.authorize(Action::CertificateIssuersDelete, &Resource::vault(vault))?;
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                let key = records::issuer_key(&v.name, &name.key());
                let r: IssuerRecord =
                    records::read_txn(txn, &key)?.ok_or_else(|| not_found(&name))?;
                txn.delete(&key)?;
                Ok(Issuer::from(&r))
            })
            .await
    }
}
