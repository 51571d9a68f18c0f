//! The records of a vault backup stream (JSON, one per record) and the vault settings they carry.

use crate::backup::{Material, VersionPayload};
use crate::certificates::{Contact, IssuerRecord, OperationRecord};
use crate::records::{self, DeletedRecord};
use crate::sealing::VaultKey;
use crate::{Error, Result};
use keyhaven_model::{ObjectKind, ObjectName, Version};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
#[serde(tag = "t", rename_all = "camelCase")]
pub(super) enum Record {
    #[serde(rename_all = "camelCase")]
    Object {
        kind: ObjectKind,
        name: ObjectName,
        latest: Version,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deleted: Option<DeletedRecord>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<serde_json::Value>,
        versions: u64,
    },
    Version {
        v: VersionPayload,
    },
    End {
        digest: String,
    },
    /// A certificate issuer of the vault (after every object), its password opened.
    Issuer {
        issuer: IssuerPayload,
    },
    /// The vault's certificate contacts (after every object).
    Contacts {
        contacts: Vec<Contact>,
    },
    /// A certificate's create operation (pending, or finished and kept), right after its certificate's `end`.
    Operation {
        operation: Box<OperationRecord>,
    },
}

/// An issuer as it travels in a vault backup: its record without the sealed password, and the password opened
/// (sealed again by the stream, and for the target vault on restore).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IssuerPayload {
    #[serde(flatten)]
    pub(super) record: IssuerRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) password: Option<Material>,
}

/// A vault-level setting read from a backup.
pub(super) enum Setting {
    /// An issuer and its name (checked when read).
    Issuer(ObjectName, IssuerPayload),
    Contacts(Vec<Contact>),
}

impl Setting {
    /// Its store key in `vault`, and a name for reports.
    pub(super) fn place(&self, vault: &str) -> (Vec<u8>, String) {
        match self {
            Setting::Issuer(name, _) => (
                records::issuer_key(vault, &name.key()),
                format!("issuer {name}"),
            ),
            Setting::Contacts(_) => (records::contacts_key(vault), "contacts".into()),
        }
    }

    /// The record to store in the vault of `key` (an issuer's password sealed under it).
    pub(super) fn record(&self, key: &VaultKey) -> Result<Vec<u8>> {
        match self {
            Setting::Issuer(name, p) => {
                let mut r = p.record.clone();
                (r.sealed_password, r.password_key) = match &p.password {
                    Some(m) => {
                        let (sealed, id) = key.seal_issuer_password(name, m.as_bytes())?;
                        (Some(sealed), id)
                    }
                    None => (None, 0),
                };
                records::encode(&r)
            }
            Setting::Contacts(c) => records::encode(c),
        }
    }
}

/// [`Record`] as read back: the same JSON, decoded as one flat struct (serde's internally tagged enums buffer
/// every record before decoding it; this is the restore's hottest loop).
#[derive(Deserialize)]
pub(super) struct RecordIn {
    pub(super) t: RecordTag,
    #[serde(default)]
    pub(super) kind: Option<ObjectKind>,
    #[serde(default)]
    pub(super) name: Option<ObjectName>,
    #[serde(default)]
    pub(super) latest: Option<Version>,
    #[serde(default)]
    pub(super) deleted: Option<DeletedRecord>,
    #[serde(default)]
    pub(super) policy: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) versions: Option<u64>,
    #[serde(default)]
    pub(super) v: Option<VersionPayload>,
    #[serde(default)]
    pub(super) digest: Option<String>,
    #[serde(default)]
    pub(super) issuer: Option<IssuerPayload>,
    #[serde(default)]
    pub(super) contacts: Option<Vec<Contact>>,
    #[serde(default)]
    pub(super) operation: Option<Box<OperationRecord>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum RecordTag {
    Object,
    Version,
    End,
    Issuer,
    Contacts,
    Operation,
}

impl RecordIn {
    /// The record, if it decodes and has the fields its tag requires.
    pub(super) fn decode(bytes: &[u8]) -> Option<Record> {
        let r: RecordIn = serde_json::from_slice(bytes).ok()?;
        Some(match r.t {
            RecordTag::Object => Record::Object {
                kind: r.kind?,
                name: r.name?,
                latest: r.latest?,
                deleted: r.deleted,
                policy: r.policy,
                versions: r.versions?,
            },
            RecordTag::Version => Record::Version { v: r.v? },
            RecordTag::End => Record::End { digest: r.digest? },
            RecordTag::Issuer => Record::Issuer { issuer: r.issuer? },
            RecordTag::Contacts => Record::Contacts {
                contacts: r.contacts?,
            },
            RecordTag::Operation => Record::Operation {
                operation: r.operation?,
            },
        })
    }
}

/// Encodes one record (zeroized when dropped: version records carry opened material).
pub(super) fn encode(r: &Record) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    Ok(zeroize::Zeroizing::new(
        serde_json::to_vec(r).map_err(|e| Error::Internal(e.to_string()))?,
    ))
}
