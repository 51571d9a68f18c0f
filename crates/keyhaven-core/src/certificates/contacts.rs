//! A vault's certificate contacts: who hears about certificates nearing expiry (lifetime action EmailContacts).

use crate::records;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::{ObjectKind, VaultName};
use serde::{Deserialize, Serialize};

const MAX_CONTACTS: usize = 64;

/// One contact (Azure's shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// E-mail address; required to set contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

fn not_found() -> Error {
    Error::NotFound {
        kind: ObjectKind::Certificate,
        message: "Contacts not found: no certificate contacts are set in this vault.".into(),
    }
}

impl Keyhaven {
    /// The vault's contacts. Not found when none are set.
    pub fn get_certificate_contacts(
        &self,
        who: &Principal,
        vault: &VaultName,
    ) -> Result<Vec<Contact>> {
        who.authorize(Action::CertificateContactsWrite, &Resource::vault(vault))?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        records::read::<Vec<Contact>>(&*snap, &records::contacts_key(&v.name))?
            .ok_or_else(not_found)
    }

    /// Replaces the vault's contacts. Each needs an email address.
    pub async fn set_certificate_contacts(
        &self,
        who: &Principal,
        vault: &VaultName,
        contacts: Vec<Contact>,
    ) -> Result<Vec<Contact>> {
        who.authorize(Action::CertificateContactsWrite, &Resource::vault(vault))?;
        if contacts.is_empty() || contacts.len() > MAX_CONTACTS {
            return Err(Error::BadParameter(format!(
                "Give between 1 and {MAX_CONTACTS} contacts (to remove them all, delete the contacts)."
            )));
        }
        for c in &contacts {
            let ok = c
                .email
                .as_deref()
                .is_some_and(|e| e.len() <= 254 && e.contains('@') && !e.starts_with('@'));
            if !ok {
                return Err(Error::BadParameter(
                    "Every contact needs a valid email address.".into(),
                ));
            }
        }
        let vault = vault.clone();
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                records::write_txn(txn, &records::contacts_key(&v.name), &contacts)?;
                Ok(contacts)
            })
            .await
    }

    /// Removes the vault's contacts, returning them.
    pub async fn delete_certificate_contacts(
        &self,
        who: &Principal,
        vault: &VaultName,
    ) -> Result<Vec<Contact>> {
        who.authorize(Action::CertificateContactsWrite, &Resource::vault(vault))?;
        let vault = vault.clone();
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                let key = records::contacts_key(&v.name);
                let contacts: Vec<Contact> = records::read_txn(txn, &key)?.ok_or_else(not_found)?;
                txn.delete(&key)?;
                Ok(contacts)
            })
            .await
    }
}
