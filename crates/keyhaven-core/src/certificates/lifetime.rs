//! Certificate lifetime actions, run by the server's background task on the injected clock: AutoRenew renews
//! self-issued certificates; EmailContacts (and AutoRenew of certificates Keyhaven cannot issue) records a
//! near-expiry event for the vault's contacts, once per version.

use super::contacts::Contact;
use super::policy::{CertificateAction, CertificatePolicy, ISSUER_SELF};
use crate::records::{self, ObjectRecord, VersionRecord};
use crate::rotation::LifetimeReport;
use crate::{Keyhaven, Result};
use keyhaven_model::{ObjectKind, ObjectName, VaultName};
use keyhaven_store::keys::prefix_end;

const KIND: ObjectKind = ObjectKind::Certificate;

impl Keyhaven {
    pub(crate) async fn run_certificate_lifetime_actions(
        &self,
        report: &mut LifetimeReport,
    ) -> Result<()> {
        let now = self.now();
        let snap = self.snapshot()?;
        let p = b"obj\0".to_vec();
        for (k, bytes) in snap.scan(&p, &prefix_end(&p), usize::MAX)? {
            let parts: Vec<&[u8]> = k.split(|b| *b == 0).collect();
            if parts.len() != 4 || parts[2] != KIND.as_str().as_bytes() {
                continue;
            }
            let obj: ObjectRecord = records::decode(&bytes)?;
            let (Some(policy), None) = (&obj.policy, &obj.deleted) else {
                continue;
            };
            let policy = CertificatePolicy::from_value(policy)?;
            let vault = String::from_utf8_lossy(parts[1]).into_owned();
            if crate::restore_journal::check_snapshot(&*snap, &vault).is_err() {
                continue; // being restored: its certificates are looked at once the restore has finished
            }
            let name_key = String::from_utf8_lossy(parts[3]).into_owned();
            let Some(ver) = records::read::<VersionRecord>(
                &*snap,
                &records::version_key(&vault, KIND, &name_key, obj.latest.as_str()),
            )?
            else {
                continue;
            };
            let (Some(nbf), Some(exp)) = (ver.attributes.nbf, ver.attributes.exp) else {
                continue;
            };
            let (Ok(vault_name), Ok(name)) =
                (VaultName::parse(&vault), ObjectName::parse(&obj.name))
            else {
                continue;
            };
            match policy.due_action(nbf, exp, now) {
                None => {}
                Some(CertificateAction::AutoRenew) if policy.issuer_name() == ISSUER_SELF => {
                    let v = self.renew_certificate(&vault_name, &name).await?;
                    tracing::info!(target: "keyhaven::audit", event = "CertificateRenewed", vault = %vault, certificate = %obj.name, version = %v.version, "certificate renewed by its policy");
                    report.renewed += 1;
                }
                Some(_) => {
                    if policy.notified_version.as_deref() == Some(obj.latest.as_str()) {
                        continue;
                    }
                    let contacts: Vec<Contact> =
                        records::read(&*snap, &records::contacts_key(&vault))?.unwrap_or_default();
                    let emails: Vec<&str> =
                        contacts.iter().filter_map(|c| c.email.as_deref()).collect();
                    tracing::info!(target: "keyhaven::audit", event = "CertificateNearExpiry", vault = %vault, certificate = %obj.name, version = %obj.latest, expires = exp, contacts = ?emails, "certificate lifetime notification");
                    self.mark_certificate_notified(&vault, &name, obj.latest.to_string())
                        .await?;
                    report.notified += 1;
                }
            }
        }
        Ok(())
    }

    async fn mark_certificate_notified(
        &self,
        vault: &str,
        name: &ObjectName,
        version: String,
    ) -> Result<()> {
        let okey = records::object_key(vault, KIND, &name.key());
        let vault = vault.to_string();
        self.store
            .write(move |txn| {
                crate::restore_journal::vault_in_txn(txn, &vault)?;
                let Some(mut obj) = records::read_txn::<ObjectRecord>(txn, &okey)? else {
                    return Ok(());
                };
                if let Some(p) = &obj.policy {
                    let mut p = CertificatePolicy::from_value(p)?;
                    p.notified_version = Some(version);
                    obj.policy = Some(p.to_value()?);
                    records::write_txn(txn, &okey, &obj)?;
                }
                Ok(())
            })
            .await
    }
}
