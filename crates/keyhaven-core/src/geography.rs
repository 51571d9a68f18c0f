//! Geographies and their backup keys: every backup blob is sealed under the active key of its vault's geography
//! and bound to the deployment's subscription. Keys rotate (old ones stay, so old blobs restore); a geography's
//! keys can be exported under a passphrase and imported by another deployment, which thereby joins the same
//! subscription and geography (a disaster-recovery site).

use crate::records::{self, DeploymentRecord, GeographyKeyRecord, GeographyRecord};
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keyhaven_blob::GeographyKey;
use keyhaven_crypto::hex;
use keyhaven_crypto::SealingKey;
use keyhaven_store::Snapshot;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const EXPORT_CONTEXT: &[u8] = b"keyhaven/geography-export/v1";
const EXPORT_FORMAT: &str = "keyhaven.geography-export/1";
/// The shortest passphrase an export is sealed under: it guards every backup of the geography, offline.
pub const MIN_EXPORT_PASSPHRASE_CHARS: usize = 12;

/// What an export holds (or an import brought in), without the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeographyExport {
    /// The exporting deployment's subscription, which the importing deployment joins.
    pub subscription_id: String,
    /// The geography whose keys it holds.
    pub geography: String,
    /// The id (hex) of the key new backups are sealed under.
    pub active_key_id: String,
    /// The ids (hex) of every key it holds, the active one included.
    pub key_ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportFile {
    format: String,
    subscription_id: String,
    geography: String,
    active: String,
    keys: Vec<ExportedKey>,
}

#[derive(Serialize, Deserialize)]
struct ExportedKey {
    id: String,
    key: String,
}

impl Drop for ExportedKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

fn unhex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The 16 bytes of a subscription id (a UUID).
pub(crate) fn subscription_bytes(subscription_id: &str) -> Result<[u8; 16]> {
    unhex16(&subscription_id.replace('-', ""))
        .ok_or_else(|| Error::corrupt("the subscription id is not a UUID"))
}

impl Keyhaven {
    pub(crate) fn ensure_geography(&self, geo: &str) -> Result<()> {
        if records::read::<GeographyRecord>(&*self.snapshot()?, &records::geography_key(geo))?
            .is_some()
        {
            return Ok(());
        }
        let rec = self.new_geography_record(geo)?;
        self.store.write_blocking(move |txn| {
            let k = records::geography_key(&rec.name);
            if txn.get(&k)?.is_none() {
                records::write_txn(txn, &k, &rec)?;
            }
            Ok::<_, Error>(())
        })
    }

    fn new_geography_record(&self, geo: &str) -> Result<GeographyRecord> {
        let key = self.wrap_geography_key(
            geo,
            &hex(&keyhaven_crypto::random_bytes::<16>()?),
            &SealingKey::generate()?,
        )?;
        Ok(GeographyRecord {
            name: geo.to_string(),
            subscription_id: self.deployment()?.subscription_id,
            active: key.id.clone(),
            keys: vec![key],
        })
    }

    fn wrap_geography_key(
        &self,
        geo: &str,
        id: &str,
        key: &SealingKey,
    ) -> Result<GeographyKeyRecord> {
        Ok(GeographyKeyRecord {
            id: id.to_string(),
            created: self.now(),
            wrapped: self.barrier.wrap_geography_key(geo, id, key)?,
        })
    }

    /// The active key of a geography and every key it holds.
    pub(crate) fn geography_keys(
        &self,
        snap: &dyn Snapshot,
        geo: &str,
    ) -> Result<(GeographyKey, Vec<GeographyKey>)> {
        let rec: GeographyRecord = records::read(snap, &records::geography_key(geo))?
            .ok_or_else(|| Error::corrupt(format!("geography '{geo}' has no keys")))?;
        let mut all = Vec::with_capacity(rec.keys.len());
        for k in &rec.keys {
            let id =
                unhex16(&k.id).ok_or_else(|| Error::corrupt("a geography key id is malformed"))?;
            let key = self.barrier.unwrap_geography_key(geo, &k.id, &k.wrapped)?;
            all.push(GeographyKey { id, key });
        }
        let active = unhex16(&rec.active)
            .and_then(|id| all.iter().find(|k| k.id == id).cloned())
            .ok_or_else(|| Error::corrupt(format!("geography '{geo}' has no active key")))?;
        Ok((active, all))
    }

    /// Adds a new key to a geography and makes it the one new backups are sealed under.
    pub async fn rotate_geography_key(&self, who: &Principal, geo: &str) -> Result<String> {
        who.authorize(Action::GeographiesManage, &Resource::Deployment)?;
        let new = self.wrap_geography_key(
            geo,
            &hex(&keyhaven_crypto::random_bytes::<16>()?),
            &SealingKey::generate()?,
        )?;
        let id = new.id.clone();
        let geo = geo.to_string();
        self.store
            .write(move |txn| {
                let k = records::geography_key(&geo);
                let mut rec: GeographyRecord = records::read_txn(txn, &k)?
                    .ok_or_else(|| Error::BadParameter(format!("Unknown geography '{geo}'.")))?;
                rec.active = new.id.clone();
                rec.keys.push(new);
                records::write_txn(txn, &k, &rec)
            })
            .await?;
        Ok(id)
    }

    /// Exports a geography's keys, sealed under a passphrase of at least [`MIN_EXPORT_PASSPHRASE_CHARS`]
    /// characters.
    pub fn export_geography(
        &self,
        who: &Principal,
        geo: &str,
        passphrase: &str,
    ) -> Result<Vec<u8>> {
        who.authorize(Action::GeographiesManage, &Resource::Deployment)?;
        if passphrase.chars().count() < MIN_EXPORT_PASSPHRASE_CHARS {
            return Err(Error::BadParameter(format!(
                "The passphrase is too short: an export is sealed under a passphrase of at least \
                 {MIN_EXPORT_PASSPHRASE_CHARS} characters (it guards every backup of the geography)."
            )));
        }
        let snap = self.snapshot()?;
        if records::read::<GeographyRecord>(&*snap, &records::geography_key(geo))?.is_none() {
            return Err(Error::BadParameter(format!("Unknown geography '{geo}'.")));
        }
        let (active, all) = self.geography_keys(&*snap, geo)?;
        let file = ExportFile {
            format: EXPORT_FORMAT.into(),
            subscription_id: self.deployment()?.subscription_id,
            geography: geo.to_string(),
            active: hex(&active.id),
            keys: all
                .iter()
                .map(|k| ExportedKey {
                    id: hex(&k.id),
                    key: STANDARD.encode(k.key.expose()),
                })
                .collect(),
        };
        let plain =
            Zeroizing::new(serde_json::to_vec(&file).map_err(|e| Error::Internal(e.to_string()))?);
        keyhaven_crypto::seal_with_passphrase(passphrase, EXPORT_CONTEXT, &plain)
            .map_err(|e| Error::BadParameter(e.to_string()))
    }

    /// Imports an export: this deployment joins the exported subscription and gains the geography's keys (the
    /// exported active key becomes active here too), so blobs of either deployment restore on the other.
    pub async fn import_geography(
        &self,
        who: &Principal,
        data: &[u8],
        passphrase: &str,
    ) -> Result<GeographyExport> {
        who.authorize(Action::GeographiesManage, &Resource::Deployment)?;
        let plain = keyhaven_crypto::open_with_passphrase(passphrase, EXPORT_CONTEXT, data)
            .map_err(|e| match e {
                keyhaven_crypto::CryptoError::Unauthentic => Error::BadParameter(
                    "The passphrase is wrong or the export file was altered.".into(),
                ),
                other => {
                    Error::BadParameter(format!("The file is not a geography export: {other}"))
                }
            })?;
        let file: ExportFile = serde_json::from_slice(&plain)
            .map_err(|_| Error::BadParameter("The export file's content is malformed.".into()))?;
        if file.format != EXPORT_FORMAT {
            return Err(Error::BadParameter(format!(
                "Unsupported export format '{}'.",
                file.format
            )));
        }
        if !self
            .settings
            .locations
            .values()
            .any(|g| g.eq_ignore_ascii_case(&file.geography))
        {
            return Err(Error::BadParameter(format!(
                "Geography '{}' is not served by any location of this deployment; configure a location in it first.",
                file.geography
            )));
        }
        subscription_bytes(&file.subscription_id)?;
        let mut imported = Vec::new();
        for k in &file.keys {
            unhex16(&k.id).ok_or_else(|| {
                Error::BadParameter("The export holds a malformed key id.".into())
            })?;
            let raw =
                Zeroizing::new(STANDARD.decode(&k.key).map_err(|_| {
                    Error::BadParameter("The export holds a malformed key.".into())
                })?);
            let key = SealingKey::from_bytes(&raw)
                .map_err(|_| Error::BadParameter("The export holds a malformed key.".into()))?;
            imported.push(self.wrap_geography_key(&file.geography, &k.id, &key)?);
        }
        if !imported.iter().any(|k| k.id == file.active) {
            return Err(Error::BadParameter(
                "The export's active key is missing.".into(),
            ));
        }
        let summary = GeographyExport {
            subscription_id: file.subscription_id.clone(),
            geography: file.geography.clone(),
            active_key_id: file.active.clone(),
            key_ids: file.keys.iter().map(|k| k.id.clone()).collect(),
        };
        let (geo, sub, active) = (
            file.geography.clone(),
            file.subscription_id.clone(),
            file.active.clone(),
        );
        self.store
            .write(move |txn| {
                let k = records::geography_key(&geo);
                let mut rec: GeographyRecord = records::read_txn(txn, &k)?
                    .ok_or_else(|| Error::BadParameter(format!("Unknown geography '{geo}'.")))?;
                for key in imported {
                    if !rec.keys.iter().any(|existing| existing.id == key.id) {
                        rec.keys.push(key);
                    }
                }
                rec.active = active;
                rec.subscription_id = sub.clone();
                records::write_txn(txn, &k, &rec)?;
                let mut d: DeploymentRecord = records::read_txn(txn, records::DEPLOYMENT_KEY)?
                    .ok_or_else(|| Error::corrupt("the deployment record is missing"))?;
                d.subscription_id = sub;
                records::write_txn(txn, records::DEPLOYMENT_KEY, &d)
            })
            .await?;
        self.forget_deployment();
        Ok(summary)
    }
}
