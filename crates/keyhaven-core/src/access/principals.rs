//! Principals (service principals): a client id to get tokens with, an object id that role assignments name,
//! a display name, and client secrets with optional expiry. Secrets are stored only as argon2id hashes and
//! checked in constant time; each carries its id (`{id}.{random}`), so that a check hashes once.

use crate::records::{self, AssignmentRecord, PrincipalRecord, ScopeRecord, SecretRecord};
use crate::roles::{KEY_VAULT_ADMINISTRATOR, KEY_VAULT_DATA_ACCESS_ADMINISTRATOR};
use crate::{Action, Resource};
use crate::{Error, Keyhaven, Principal, Result};
use keyhaven_store::WriteTxn;
use zeroize::Zeroizing;

/// Secrets a principal may hold at once.
const MAX_SECRETS: usize = 16;

/// A client secret just made: the only time it is known.
pub struct NewSecret {
    /// The secret's id, which is also its first part (`{id}.{random}`); the secret is listed and removed by it.
    pub secret_id: String,
    /// The secret itself: shown this once, stored only as a hash.
    pub client_secret: Zeroizing<String>,
    /// When it expires, in Unix seconds; none means never.
    pub expires: Option<i64>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSecret({}, <secret redacted>)", self.secret_id)
    }
}

/// A principal just created, with its first secret.
#[derive(Debug)]
pub struct NewPrincipal {
    /// The application (client) id it requests tokens with (a UUID).
    pub client_id: String,
    /// The id role assignments name it by (a UUID).
    pub object_id: String,
    /// Its display name.
    pub display_name: String,
    /// Its first client secret.
    pub secret: NewSecret,
}

/// A client secret as listed (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// The secret's id.
    pub id: String,
    /// When it was made, in Unix seconds.
    pub created: i64,
    /// When it expires, in Unix seconds; none means never.
    pub expires: Option<i64>,
}

/// A principal as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// The application (client) id it requests tokens with.
    pub client_id: String,
    /// The id role assignments name it by.
    pub object_id: String,
    /// Its display name.
    pub display_name: String,
    /// When it was created, in Unix seconds.
    pub created: i64,
    /// Its client secrets (ids and dates only).
    pub secrets: Vec<SecretInfo>,
}

impl From<&PrincipalRecord> for PrincipalInfo {
    fn from(r: &PrincipalRecord) -> Self {
        PrincipalInfo {
            client_id: r.client_id.clone(),
            object_id: r.object_id.clone(),
            display_name: r.display_name.clone(),
            created: r.created,
            secrets: r
                .secrets
                .iter()
                .map(|s| SecretInfo {
                    id: s.id.clone(),
                    created: s.created,
                    expires: s.expires,
                })
                .collect(),
        }
    }
}

/// Who a valid client secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The principal's application (client) id.
    pub client_id: String,
    /// The principal's object id.
    pub object_id: String,
    /// The secret used (tokens carry it, so that removing it revokes them).
    pub secret_id: String,
}

fn display_name_ok(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(Error::BadParameter(
            "A display name is 1 to 120 printable characters.".into(),
        ));
    }
    Ok(name.to_string())
}

fn expiry(now: i64, lifetime_secs: Option<i64>) -> Result<Option<i64>> {
    match lifetime_secs {
        None => Ok(None),
        Some(s) if s > 0 && s <= 10 * 366 * 86_400 => Ok(Some(now + s)),
        Some(_) => Err(Error::BadParameter(
            "A secret's lifetime is from 1 day to 10 years.".into(),
        )),
    }
}

/// A fresh secret: its record (hash) and the secret itself.
fn new_secret(now: i64, expires: Option<i64>) -> Result<(SecretRecord, NewSecret)> {
    let id = keyhaven_crypto::hex(&keyhaven_crypto::random_bytes::<4>()?);
    let random = keyhaven_crypto::random_token()?;
    let secret = Zeroizing::new(format!("{id}.{}", random.as_str()));
    let rec = SecretRecord {
        id: id.clone(),
        hash: keyhaven_crypto::hash_client_secret(&secret)?,
        created: now,
        expires,
    };
    Ok((
        rec,
        NewSecret {
            secret_id: id,
            client_secret: secret,
            expires,
        },
    ))
}

/// Writes a principal with its client-id index.
fn put_principal(txn: &mut dyn WriteTxn, rec: &PrincipalRecord) -> Result<()> {
    records::write_txn(txn, &records::principal_key(&rec.object_id), rec)?;
    txn.put(
        &records::principal_by_client_key(&rec.client_id),
        rec.object_id.as_bytes(),
    )?;
    Ok(())
}

/// The principal named by `id` (its client id or object id), read in a write transaction.
fn principal_in_txn(txn: &mut dyn WriteTxn, id: &str) -> Result<PrincipalRecord> {
    if let Some(r) = records::read_txn(txn, &records::principal_key(id))? {
        return Ok(r);
    }
    if let Some(oid) = txn.get(&records::principal_by_client_key(id))? {
        let oid = String::from_utf8_lossy(&oid).into_owned();
        if let Some(r) = records::read_txn(txn, &records::principal_key(&oid))? {
            return Ok(r);
        }
    }
    Err(Error::principal_not_found(id))
}

/// The assignments that make a deployment administrator of `object_id` and let it manage every assignment.
fn administrator_assignments(object_id: &str, now: i64) -> Result<Vec<AssignmentRecord>> {
    [KEY_VAULT_ADMINISTRATOR, KEY_VAULT_DATA_ACCESS_ADMINISTRATOR]
        .into_iter()
        .map(|role| {
            Ok(AssignmentRecord {
                name: keyhaven_crypto::random_uuid()?,
                scope: ScopeRecord {
                    vault: None,
                    kind: None,
                    name: None,
                },
                role_definition: role.into(),
                principal: object_id.into(),
                created: now,
            })
        })
        .collect()
}

impl Keyhaven {
    /// Creates the first-start administrator (no caller to authorize): a principal with Key Vault Administrator
    /// and Key Vault Data Access Administrator at deployment scope.
    pub fn bootstrap_principal(&self, display_name: &str) -> Result<NewPrincipal> {
        let now = self.now();
        let (rec, new) = self.principal_record(display_name, None)?;
        let assignments = administrator_assignments(&rec.object_id, now)?;
        self.store.write_blocking(move |txn| {
            put_principal(txn, &rec)?;
            for a in &assignments {
                super::assignments::put_assignment(txn, a)?;
            }
            Ok::<_, Error>(())
        })?;
        self.access.clear();
        Ok(new)
    }

    fn principal_record(
        &self,
        display_name: &str,
        secret_lifetime_secs: Option<i64>,
    ) -> Result<(PrincipalRecord, NewPrincipal)> {
        let now = self.now();
        let display_name = display_name_ok(display_name)?;
        let (secret, new_secret) = new_secret(now, expiry(now, secret_lifetime_secs)?)?;
        let rec = PrincipalRecord {
            object_id: keyhaven_crypto::random_uuid()?,
            client_id: keyhaven_crypto::random_uuid()?,
            display_name: display_name.clone(),
            created: now,
            secrets: vec![secret],
        };
        let new = NewPrincipal {
            client_id: rec.client_id.clone(),
            object_id: rec.object_id.clone(),
            display_name,
            secret: new_secret,
        };
        Ok((rec, new))
    }

    /// Creates a principal with one client secret (expiring after `secret_lifetime_secs`, if given). It holds no
    /// role until one is assigned.
    pub async fn create_principal(
        &self,
        who: &Principal,
        display_name: &str,
        secret_lifetime_secs: Option<i64>,
    ) -> Result<NewPrincipal> {
        who.authorize(Action::PrincipalsManage, &Resource::Deployment)?;
        let (rec, new) = self.principal_record(display_name, secret_lifetime_secs)?;
        self.store
            .write(move |txn| put_principal(txn, &rec))
            .await?;
        Ok(new)
    }

    /// Every principal.
    pub fn list_principals(&self, who: &Principal) -> Result<Vec<PrincipalInfo>> {
        who.authorize(Action::PrincipalsManage, &Resource::Deployment)?;
        let snap = self.snapshot()?;
        let mut out = Vec::new();
        records::for_each_under(&*snap, &records::principals_prefix(), 256, &mut |_, v| {
            out.push(PrincipalInfo::from(&records::decode::<PrincipalRecord>(
                &v,
            )?));
            Ok(())
        })?;
        Ok(out)
    }

    /// One principal, by client id or object id.
    pub fn get_principal(&self, who: &Principal, id: &str) -> Result<PrincipalInfo> {
        who.authorize(Action::PrincipalsManage, &Resource::Deployment)?;
        Ok(PrincipalInfo::from(&self.principal_by_id(id)?))
    }

    pub(crate) fn principal_by_id(&self, id: &str) -> Result<PrincipalRecord> {
        let snap = self.snapshot()?;
        if let Some(r) = records::read(&*snap, &records::principal_key(id))? {
            return Ok(r);
        }
        if let Some(oid) = snap.get(&records::principal_by_client_key(id))? {
            let oid = String::from_utf8_lossy(&oid).into_owned();
            if let Some(r) = records::read(&*snap, &records::principal_key(&oid))? {
                return Ok(r);
            }
        }
        Err(Error::principal_not_found(id))
    }

    /// Deletes a principal and its role assignments; tokens it holds stop working at once on this node and within
    /// a minute on others. Refused for the last deployment administrator.
    pub async fn delete_principal(&self, who: &Principal, id: &str) -> Result<PrincipalInfo> {
        who.authorize(Action::PrincipalsManage, &Resource::Deployment)?;
        let id = id.to_string();
        let info = self
            .store
            .write(move |txn| {
                let rec = principal_in_txn(txn, &id)?;
                let mine = super::assignments::assignments_of_in_txn(txn, &rec.object_id)?;
                super::assignments::keep_an_administrator(txn, &mine)?;
                for a in &mine {
                    super::assignments::delete_assignment(txn, a)?;
                }
                txn.delete(&records::principal_key(&rec.object_id))?;
                txn.delete(&records::principal_by_client_key(&rec.client_id))?;
                Ok::<_, Error>(PrincipalInfo::from(&rec))
            })
            .await?;
        self.access.clear();
        Ok(info)
    }

    /// Adds a client secret to a principal.
    pub async fn add_principal_secret(
        &self,
        who: &Principal,
        id: &str,
        lifetime_secs: Option<i64>,
    ) -> Result<NewSecret> {
        who.authorize(Action::PrincipalsManage, &Resource::Deployment)?;
        let now = self.now();
        let (secret, new) = new_secret(now, expiry(now, lifetime_secs)?)?;
        let id = id.to_string();
        self.store
            .write(move |txn| {
                let mut rec = principal_in_txn(txn, &id)?;
                if rec.secrets.len() >= MAX_SECRETS {
                    return Err(Error::Conflict(format!(
                        "Principal {} holds {MAX_SECRETS} secrets already; remove one first.",
                        rec.client_id
                    )));
                }
                rec.secrets.push(secret);
                put_principal(txn, &rec)
            })
            .await?;
        self.access.clear();
        Ok(new)
    }

    /// Removes a client secret: tokens obtained with it stop working at once on this node and within a minute on
    /// others.
    pub async fn remove_principal_secret(
        &self,
        who: &Principal,
        id: &str,
        secret_id: &str,
    ) -> Result<PrincipalInfo> {
        who.authorize(Action::PrincipalsManage, &Resource::Deployment)?;
        let (id, secret_id) = (id.to_string(), secret_id.to_string());
        let info = self
            .store
            .write(move |txn| {
                let mut rec = principal_in_txn(txn, &id)?;
                let before = rec.secrets.len();
                rec.secrets.retain(|s| s.id != secret_id);
                if rec.secrets.len() == before {
                    return Err(Error::BadParameter(format!(
                        "Principal {} has no secret '{}'.",
                        rec.client_id,
                        secret_id.chars().take(64).collect::<String>()
                    )));
                }
                put_principal(txn, &rec)?;
                Ok::<_, Error>(PrincipalInfo::from(&rec))
            })
            .await?;
        self.access.clear();
        Ok(info)
    }

    /// Checks a client secret (slow by design: call it off the async runtime) and says whose it is.
    pub fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<Authenticated> {
        let rec = self
            .principal_by_id(client_id)
            .ok()
            .filter(|r| r.client_id == client_id);
        let now = self.now();
        // The secret names its id; a secret of an earlier Keyhaven (no id) is tried against undated ones.
        let claimed = secret.split_once('.').map(|(id, _)| id);
        let candidate = rec.as_ref().and_then(|r| {
            r.secrets
                .iter()
                .find(|s| Some(s.id.as_str()) == claimed)
                .or_else(|| r.secrets.iter().find(|s| s.id == LEGACY_SECRET_ID))
        });
        // Hash even when there is nothing to check against, so that timing does not tell which client ids exist.
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0M4sQWd2Uj0CwTeTgwqWtNU7QfwG6mJvs1hIh0H6aZA";
        let hash = candidate.map(|s| s.hash.as_str()).unwrap_or(DUMMY);
        let ok = keyhaven_crypto::verify_client_secret(secret, hash);
        match (rec.as_ref(), candidate) {
            (Some(r), Some(s)) if ok && s.expires.is_none_or(|e| e > now) => Ok(Authenticated {
                client_id: r.client_id.clone(),
                object_id: r.object_id.clone(),
                secret_id: s.id.clone(),
            }),
            (Some(_), Some(_)) if ok => {
                Err(Error::Unauthorized("The client secret has expired.".into()))
            }
            _ => Err(Error::Unauthorized(format!(
                "Invalid client secret provided, or client '{}' does not exist.",
                client_id.chars().take(64).collect::<String>()
            ))),
        }
    }

    /// Converts the clients of an earlier Keyhaven into principals (an administrator keeps full access as a
    /// deployment administrator; its secret keeps working).
    pub(crate) fn convert_legacy_clients(&self) -> Result<usize> {
        let snap = self.snapshot()?;
        let mut legacy = Vec::new();
        records::for_each_under(
            &*snap,
            &records::legacy_clients_prefix(),
            256,
            &mut |k, v| {
                legacy.push((k, records::decode::<records::LegacyClientRecord>(&v)?));
                Ok(())
            },
        )?;
        drop(snap);
        let n = legacy.len();
        for (key, c) in legacy {
            let object_id = keyhaven_crypto::random_uuid()?;
            let now = self.now();
            let rec = PrincipalRecord {
                object_id: object_id.clone(),
                client_id: c.client_id.clone(),
                display_name: c.display_name.clone(),
                created: c.created,
                secrets: vec![SecretRecord {
                    id: LEGACY_SECRET_ID.into(),
                    hash: c.secret_hash.clone(),
                    created: c.created,
                    expires: None,
                }],
            };
            let assignments = if c.roles.iter().any(|r| r == "Administrator") {
                administrator_assignments(&object_id, now)?
            } else {
                Vec::new()
            };
            self.store.write_blocking(move |txn| {
                put_principal(txn, &rec)?;
                for a in &assignments {
                    super::assignments::put_assignment(txn, a)?;
                }
                txn.delete(&key)?;
                Ok::<_, Error>(())
            })?;
            tracing::info!(client_id = %c.client_id, "converted a client of an earlier version into a principal");
        }
        self.access.clear();
        Ok(n)
    }
}

/// The id of a secret carried over from an earlier Keyhaven (whose secrets carry no id).
const LEGACY_SECRET_ID: &str = "original";
