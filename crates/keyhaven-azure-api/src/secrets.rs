//! Secrets: set and update parameters, and the secret bundle every secret answer carries.

use crate::{AttributesIn, AttributesOut};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `PUT /secrets/{name}`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSetParameters {
    /// The value: any string of at most 25,600 bytes (UTF-8).
    pub value: String,
    /// The tags, at most 15 (names 1–512, values up to 256 characters). Absent: none.
    pub tags: Option<BTreeMap<String, String>>,
    /// A free-form hint of what the value is (e.g. `text/plain`), stored and returned as given.
    pub content_type: Option<String>,
    /// The new version's attributes. Absent: enabled, without `nbf` or `exp`.
    pub attributes: Option<AttributesIn>,
}

/// `PATCH /secrets/{name}/{version}`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretUpdateParameters {
    /// The new content type. Absent: unchanged.
    pub content_type: Option<String>,
    /// Attribute changes. Absent: unchanged.
    pub attributes: Option<AttributesIn>,
    /// The new tags, replacing all the current ones (same limits as on set). Absent: unchanged.
    pub tags: Option<BTreeMap<String, String>>,
}

/// A secret version; also the item of version listings and, with the deleted fields, a deleted secret.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretBundle {
    /// The value: only in the answers to a set and a get of the version, absent everywhere else (listings,
    /// updates, deleted secrets).
    pub value: Option<String>,
    /// `https://{vault}/secrets/{name}/{version}`; in a listing of secrets, without the version.
    pub id: String,
    /// The content type the secret was given; absent if none.
    pub content_type: Option<String>,
    /// The version's attributes.
    pub attributes: AttributesOut,
    /// The version's tags; left out when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// For the secret a certificate manages: the certificate's key version
    /// (`https://{vault}/keys/{name}/{version}`). Absent for other secrets.
    pub kid: Option<String>,
    /// `true` for the secret a certificate manages (it refuses direct changes); absent for other secrets.
    pub managed: Option<bool>,
    /// In a get of a certificate's secret: the version of the certificate before this one (api-version
    /// 2025-07-01); absent for the first and for other secrets.
    pub previous_version: Option<String>,
    /// The deleted-object fields, present only for a deleted secret.
    #[serde(flatten)]
    pub deleted: crate::DeletedFields,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeletedFields, ListResult};

    fn attributes(nbf: Option<i64>, exp: Option<i64>) -> AttributesOut {
        AttributesOut {
            enabled: true,
            nbf,
            exp,
            created: 1_700_000_000,
            updated: 1_700_000_001,
            recoverable_days: 90,
            recovery_level: "Recoverable+Purgeable".into(),
            exportable: None,
        }
    }

    fn round_trip(bundle: &SecretBundle, expected: &str) {
        let json = serde_json::to_string(bundle).unwrap();
        assert_eq!(json, expected);
        let back: SecretBundle = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), expected);
    }

    #[test]
    fn a_bundle_with_every_optional_field_round_trips() {
        let bundle = SecretBundle {
            value: Some("s3cret".into()),
            id: "https://v.vault.localhost/secrets/a/0123".into(),
            content_type: Some("text/plain".into()),
            attributes: attributes(Some(1_700_000_000), Some(1_800_000_000)),
            tags: [("env".to_string(), "test".to_string())].into(),
            kid: Some("https://v.vault.localhost/keys/a/0123".into()),
            managed: Some(true),
            previous_version: None,
            deleted: DeletedFields {
                recovery_id: Some("https://v.vault.localhost/deletedsecrets/a".into()),
                deleted_date: Some(1_700_000_002),
                scheduled_purge_date: Some(1_707_776_002),
            },
        };
        round_trip(
            &bundle,
            concat!(
                r#"{"value":"s3cret","id":"https://v.vault.localhost/secrets/a/0123","#,
                r#""contentType":"text/plain","attributes":{"enabled":true,"nbf":1700000000,"#,
                r#""exp":1800000000,"created":1700000000,"updated":1700000001,"recoverableDays":90,"#,
                r#""recoveryLevel":"Recoverable+Purgeable"},"tags":{"env":"test"},"#,
                r#""kid":"https://v.vault.localhost/keys/a/0123","managed":true,"#,
                r#""recoveryId":"https://v.vault.localhost/deletedsecrets/a","deletedDate":1700000002,"#,
                r#""scheduledPurgeDate":1707776002}"#,
            ),
        );
    }

    #[test]
    fn absent_optional_fields_stay_absent() {
        let bundle = SecretBundle {
            value: None,
            id: "https://v.vault.localhost/secrets/a".into(),
            content_type: None,
            attributes: attributes(None, None),
            tags: Default::default(),
            kid: None,
            managed: None,
            previous_version: None,
            deleted: DeletedFields::default(),
        };
        let expected = concat!(
            r#"{"id":"https://v.vault.localhost/secrets/a","attributes":{"enabled":true,"#,
            r#""created":1700000000,"updated":1700000001,"recoverableDays":90,"#,
            r#""recoveryLevel":"Recoverable+Purgeable"}}"#,
        );
        round_trip(&bundle, expected);

        // Explicit nulls are read as absent and are not written back.
        let with_nulls = concat!(
            r#"{"value":null,"id":"https://v.vault.localhost/secrets/a","contentType":null,"#,
            r#""attributes":{"enabled":true,"nbf":null,"exp":null,"created":1700000000,"#,
            r#""updated":1700000001,"recoverableDays":90,"recoveryLevel":"Recoverable+Purgeable"},"#,
            r#""kid":null,"managed":null,"recoveryId":null,"deletedDate":null,"scheduledPurgeDate":null}"#,
        );
        let read: SecretBundle = serde_json::from_str(with_nulls).unwrap();
        assert!(read.value.is_none() && read.kid.is_none() && read.deleted.recovery_id.is_none());
        assert_eq!(serde_json::to_string(&read).unwrap(), expected);
    }

    #[test]
    fn a_list_page_always_writes_next_link() {
        let page: ListResult<SecretBundle> = ListResult {
            value: Vec::new(),
            next_link: None,
        };
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"value":[],"nextLink":null}"#
        );
    }
}
