//! A certificate's create operation as callers see it: read, cancel, delete, and the merge that completes a
//! certificate signed outside Keyhaven.

use super::issuance::{Completion, Material};
use super::operation::{no_operation, CertificateOperation, OperationRecord, OperationStatus};
use super::properties::CertificateView;
use crate::objects::State;
use crate::records::{self};
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_crypto::x509;
use keyhaven_model::{ObjectKind, ObjectName, Tags, VaultName};

impl Keyhaven {
    /// The certificate's create operation (pending or finished).
    pub fn get_certificate_operation(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<CertificateOperation> {
        who.authorize(
            Action::CertificatesRead,
            &Resource::object(vault, ObjectKind::Certificate, name),
        )?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let op = records::read::<OperationRecord>(
            &*snap,
            &records::certificate_operation_key(&v.name, &name.key()),
        )?
        .ok_or_else(|| no_operation(name))?;
        Ok(CertificateOperation::from(&op))
    }

    /// Asks to cancel an operation in progress: it ends cancelled, and nothing can be merged into it any more. The
    /// pending version and its managed key stay, disabled.
    pub async fn cancel_certificate_operation(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        cancel: bool,
    ) -> Result<CertificateOperation> {
        who.authorize(
            Action::CertificatesUpdate,
            &Resource::object(vault, ObjectKind::Certificate, name),
        )?;
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                let okey = records::certificate_operation_key(&v.name, &name.key());
                let mut op: OperationRecord =
                    records::read_txn(txn, &okey)?.ok_or_else(|| no_operation(&name))?;
                if cancel && op.status == OperationStatus::InProgress {
                    op.cancellation_requested = true;
                    op.status = OperationStatus::Cancelled;
                    op.status_details = Some("The operation was cancelled.".into());
                    records::write_txn(txn, &okey, &op)?;
                }
                Ok(CertificateOperation::from(&op))
            })
            .await
    }

    /// Deletes the certificate's operation (an operation in progress is abandoned: nothing can be merged into it any
    /// more; its pending version and managed key stay, disabled).
    pub async fn delete_certificate_operation(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<CertificateOperation> {
        who.authorize(
            Action::CertificatesUpdate,
            &Resource::object(vault, ObjectKind::Certificate, name),
        )?;
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                let okey = records::certificate_operation_key(&v.name, &name.key());
                let op: OperationRecord =
                    records::read_txn(txn, &okey)?.ok_or_else(|| no_operation(&name))?;
                txn.delete(&okey)?;
                Ok(CertificateOperation::from(&op))
            })
            .await
    }

    /// Completes an operation in progress with the certificate an outside authority signed (`x5c`, DER, any order,
    /// one of them for the pending key). Refused, with the operation unchanged, when no certificate matches the key.
    pub async fn merge_certificate(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        x5c: Vec<Vec<u8>>,
        enabled: Option<bool>,
        tags: Option<Tags>,
    ) -> Result<CertificateView> {
        who.authorize(
            Action::CertificatesCreate,
            &Resource::object(vault, ObjectKind::Certificate, name),
        )?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let op: OperationRecord = records::read(
            &*snap,
            &records::certificate_operation_key(&v.name, &name.key()),
        )?
        .ok_or_else(|| no_operation(name))?;
        if op.status != OperationStatus::InProgress {
            return Err(Error::BadParameter(format!(
                "The operation of certificate '{name}' is {}; only an operation in progress can be merged.",
                op.status.as_str()
            )));
        }
        if x5c.is_empty() {
            return Err(Error::BadParameter(
                "x5c must hold the signed certificate (and optionally its chain).".into(),
            ));
        }
        let version = op
            .target
            .clone()
            .ok_or_else(|| Error::corrupt("a pending certificate operation names no version"))?;
        let pending_key = self
            .find(&*snap, vault, ObjectKind::Key, name, Some(&version), State::Live)
            .map_err(|_| {
                Error::Conflict(format!(
                    "The pending key of certificate '{name}' is gone (deleted with the certificate?); create the \
                     certificate again."
                ))
            })?;
        let key = self.private_key(&pending_key.vault, name, &pending_key.version)?;
        let mut leaf = None;
        for (i, der) in x5c.iter().enumerate() {
            if x509::matches_key(der, &key)? {
                leaf = Some(i);
                break;
            }
        }
        let Some(leaf) = leaf else {
            return Err(Error::BadParameter(format!(
                "None of the certificates in x5c holds the public key of certificate '{name}''s pending request; \
                 the operation is unchanged."
            )));
        };
        let policy = op.policy.clone();
        let as_given = policy.keeps_chain_order().then(|| x5c.clone());
        let mut chain = x5c;
        let leaf_der = chain.remove(leaf);
        chain.insert(0, leaf_der);
        let request = op.request_id.clone();
        let view = self
            .store_certificate(
                &v,
                name,
                &policy,
                Material {
                    key,
                    chain,
                    as_given,
                },
                enabled.or(op.enabled),
                tags.unwrap_or_else(|| op.tags.clone()),
                Completion {
                    operation: Some(op),
                    expected_request: Some(request),
                    version: Some(version),
                },
            )
            .await?;
        Ok(CertificateView {
            object: view,
            policy: Some(policy),
        })
    }
}
