//! Key rotation policies (Azure's `rotationpolicy`) and the lifetime actions the server carries out itself:
//! `Rotate` makes a new key version, `Notify` records an event (once per key version).

use crate::records::{self, ObjectRecord, VersionRecord};
use crate::{Error, Keyhaven, Result};
use keyhaven_model::{ObjectKind, ObjectName, VaultName};
use keyhaven_store::keys::prefix_end;
use serde::{Deserialize, Serialize};

/// What a lifetime action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifetimeActionType {
    /// Makes a new key version with the same parameters.
    Rotate,
    /// Records a near-expiry event in the log, once per key version.
    Notify,
}

/// One action and its trigger (exactly one of the two durations, ISO-8601, e.g. `P90D`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeAction {
    /// What to do.
    pub action: LifetimeActionType,
    /// Due this long after the latest version was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<String>,
    /// Due this long before the latest version expires (never, for a version without expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<String>,
}

/// A key's rotation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicy {
    /// What to do, and when, during each key version's life.
    pub lifetime_actions: Vec<LifetimeAction>,
    /// Expiry given to versions the policy creates (ISO-8601 duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    /// When the key was first given a policy, in Unix seconds (none for the default policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// When the policy was last set, in Unix seconds (none for the default policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
    /// The latest version a Notify action has reported (so each version is reported once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_version: Option<String>,
}

/// Seconds in an ISO-8601 duration (`PnYnMnWnDTnHnMnS`; a year is 365 days, a month 30).
pub fn parse_duration(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut time = false;
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' | 't' if number.is_empty() && !time => time = true,
            _ => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                let unit = match (time, c.to_ascii_uppercase()) {
                    (false, 'Y') => 365 * 86_400,
                    (false, 'M') => 30 * 86_400,
                    (false, 'W') => 7 * 86_400,
                    (false, 'D') => 86_400,
                    (true, 'H') => 3_600,
                    (true, 'M') => 60,
                    (true, 'S') => 1,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
        }
    }
    (any && number.is_empty()).then_some(total)
}

impl RotationPolicy {
    /// Azure's policy for a key that has none: notify 30 days before expiry.
    pub fn azure_default() -> Self {
        RotationPolicy {
            lifetime_actions: vec![LifetimeAction {
                action: LifetimeActionType::Notify,
                time_after_create: None,
                time_before_expiry: Some("P30D".into()),
            }],
            expiry_time: None,
            created: None,
            updated: None,
            notified_version: None,
        }
    }

    pub(crate) fn from_record(obj: &ObjectRecord) -> Option<RotationPolicy> {
        obj.policy
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub(crate) fn to_value(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::Internal(e.to_string()))
    }

    /// [`expiry_time`](Self::expiry_time) in seconds; none when unset or not a duration.
    pub fn expiry_secs(&self) -> Option<i64> {
        self.expiry_time.as_deref().and_then(parse_duration)
    }

    /// Refuses a policy with a malformed or non-positive duration, a lifetime action without exactly one trigger,
    /// or more than one `Rotate` action.
    pub fn validate(&self) -> Result<()> {
        if let Some(e) = &self.expiry_time {
            if parse_duration(e).is_none_or(|s| s <= 0) {
                return Err(Error::BadParameter(format!(
                    "expiryTime '{e}' is not an ISO-8601 duration such as P2Y."
                )));
            }
        }
        for a in &self.lifetime_actions {
            let trigger = match (&a.time_after_create, &a.time_before_expiry) {
                (Some(t), None) | (None, Some(t)) => t,
                _ => {
                    return Err(Error::BadParameter(
                        "Each lifetime action needs exactly one trigger: timeAfterCreate or timeBeforeExpiry.".into(),
                    ))
                }
            };
            if parse_duration(trigger).is_none_or(|s| s <= 0) {
                return Err(Error::BadParameter(format!(
                    "'{trigger}' is not an ISO-8601 duration such as P90D."
                )));
            }
        }
        if self
            .lifetime_actions
            .iter()
            .filter(|a| a.action == LifetimeActionType::Rotate)
            .count()
            > 1
        {
            return Err(Error::BadParameter(
                "A policy can have at most one Rotate action.".into(),
            ));
        }
        Ok(())
    }

    /// The first action due for a version created at `created` and expiring at `exp`.
    fn due(&self, action: LifetimeActionType, created: i64, exp: Option<i64>, now: i64) -> bool {
        self.lifetime_actions
            .iter()
            .filter(|a| a.action == action)
            .any(|a| {
                match (
                    a.time_after_create.as_deref().and_then(parse_duration),
                    a.time_before_expiry.as_deref().and_then(parse_duration),
                ) {
                    (Some(after), _) => now >= created.saturating_add(after),
                    (None, Some(before)) => exp.is_some_and(|e| now >= e.saturating_sub(before)),
                    _ => false,
                }
            })
    }
}

/// What one pass of the lifetime-action task did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifetimeReport {
    /// Keys rotated.
    pub rotated: usize,
    /// Near-expiry notices recorded (keys and certificates).
    pub notified: usize,
    /// Certificates renewed.
    pub renewed: usize,
}

impl Keyhaven {
    /// Carries out every due lifetime action of every key with a policy (run periodically by the server).
    pub async fn run_lifetime_actions(&self) -> Result<LifetimeReport> {
        let now = self.now();
        let snap = self.snapshot()?;
        let p = b"obj\0".to_vec();
        let mut report = LifetimeReport::default();
        for (k, bytes) in snap.scan(&p, &prefix_end(&p), usize::MAX)? {
            let parts: Vec<&[u8]> = k.split(|b| *b == 0).collect();
            if parts.len() != 4 || parts[2] != ObjectKind::Key.as_str().as_bytes() {
                continue;
            }
            let obj: ObjectRecord = records::decode(&bytes)?;
            let Some(policy) = RotationPolicy::from_record(&obj) else {
                continue;
            };
            if obj.deleted.is_some() {
                continue;
            }
            let vault = String::from_utf8_lossy(parts[1]).into_owned();
            if crate::restore_journal::check_snapshot(&*snap, &vault).is_err() {
                continue; // being restored: its keys are looked at once the restore has finished
            }
            let ver: Option<VersionRecord> = records::read(
                &*snap,
                &records::version_key(
                    &vault,
                    ObjectKind::Key,
                    &String::from_utf8_lossy(parts[3]),
                    obj.latest.as_str(),
                ),
            )?;
            let Some(ver) = ver else { continue };
            let (created, exp) = (ver.attributes.created, ver.attributes.exp);
            let (Ok(vault_name), Ok(name)) =
                (VaultName::parse(&vault), ObjectName::parse(&obj.name))
            else {
                continue;
            };
            if policy.due(LifetimeActionType::Notify, created, exp, now)
                && policy.notified_version.as_deref() != Some(obj.latest.as_str())
            {
                tracing::info!(target: "keyhaven::audit", event = "KeyNearExpiry", vault = %vault, key = %obj.name, version = %obj.latest, expires = ?exp, "key lifetime notification");
                self.mark_notified(&vault, &name, obj.latest.to_string())
                    .await?;
                report.notified += 1;
            }
            if policy.due(LifetimeActionType::Rotate, created, exp, now) {
                let v = self.rotate_key_unchecked(&vault_name, &name).await?;
                tracing::info!(target: "keyhaven::audit", event = "KeyRotated", vault = %vault, key = %obj.name, version = %v.version, "key rotated by its policy");
                report.rotated += 1;
            }
        }
        self.run_certificate_lifetime_actions(&mut report).await?;
        Ok(report)
    }

    async fn mark_notified(&self, vault: &str, name: &ObjectName, version: String) -> Result<()> {
        let okey = records::object_key(vault, ObjectKind::Key, &name.key());
        let vault = vault.to_string();
        self.store
            .write(move |txn| {
                crate::restore_journal::vault_in_txn(txn, &vault)?;
                let Some(mut obj) = records::read_txn::<ObjectRecord>(txn, &okey)? else {
                    return Ok(());
                };
                if let Some(mut p) = RotationPolicy::from_record(&obj) {
                    p.notified_version = Some(version);
                    obj.policy = Some(p.to_value()?);
                    records::write_txn(txn, &okey, &obj)?;
                }
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("P90D"), Some(90 * 86_400));
        assert_eq!(parse_duration("P2Y"), Some(2 * 365 * 86_400));
        assert_eq!(
            parse_duration("P1Y2M3DT4H5M6S"),
            Some(365 * 86_400 + 60 * 86_400 + 3 * 86_400 + 4 * 3600 + 5 * 60 + 6)
        );
        assert_eq!(parse_duration("PT36H"), Some(36 * 3600));
        for bad in ["", "P", "90D", "P9", "PXD", "P1H"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
