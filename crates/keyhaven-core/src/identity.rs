//! Clients (service principals) that obtain tokens with a client secret. Secrets are stored only as argon2id
//! hashes and checked in constant time.

use crate::records::{self, ClientRecord};
use crate::{Action, Error, Keyhaven, Principal, Resource, Result, Role};
use zeroize::Zeroizing;

/// A client just created: the only time its secret is known.
pub struct NewClient {
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
}

impl std::fmt::Debug for NewClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewClient({}, <secret redacted>)", self.client_id)
    }
}

/// A client as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: String,
    pub display_name: String,
    pub roles: Vec<Role>,
}

impl Keyhaven {
    fn new_client_record(
        &self,
        display_name: &str,
        roles: Vec<Role>,
    ) -> Result<(ClientRecord, NewClient)> {
        let client_id = keyhaven_crypto::random_uuid()?;
        let secret = keyhaven_crypto::random_token()?;
        let rec = ClientRecord {
            client_id: client_id.clone(),
            display_name: display_name.to_string(),
            secret_hash: keyhaven_crypto::hash_client_secret(&secret)?,
            roles,
            created: self.now(),
        };
        Ok((
            rec,
            NewClient {
                client_id,
                client_secret: secret,
            },
        ))
    }

    /// Creates a client at start-up (no caller to authorize).
    pub fn bootstrap_client(&self, display_name: &str, roles: Vec<Role>) -> Result<NewClient> {
        let (rec, new) = self.new_client_record(display_name, roles)?;
        self.store.write_blocking(move |txn| {
            records::write_txn(txn, &records::client_key(&rec.client_id), &rec)
        })?;
        Ok(new)
    }

    /// Creates a client on behalf of an administrator.
    pub async fn create_client(
        &self,
        who: &Principal,
        display_name: &str,
        roles: Vec<Role>,
    ) -> Result<NewClient> {
        who.authorize(Action::PrincipalsManage, &Resource::Deployment)?;
        let (rec, new) = self.new_client_record(display_name, roles)?;
        self.store
            .write(move |txn| records::write_txn(txn, &records::client_key(&rec.client_id), &rec))
            .await?;
        Ok(new)
    }

    /// Checks a client's secret (slow by design: call it off the async runtime) and returns who it is.
    pub fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<Principal> {
        let rec: Option<ClientRecord> =
            records::read(&*self.snapshot()?, &records::client_key(client_id))?;
        // Hash even for an unknown client, so that timing does not tell which client ids exist.
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0M4sQWd2Uj0CwTeTgwqWtNU7QfwG6mJvs1hIh0H6aZA";
        let hash = rec
            .as_ref()
            .map(|r| r.secret_hash.as_str())
            .unwrap_or(DUMMY);
        let ok = keyhaven_crypto::verify_client_secret(secret, hash);
        match rec {
            Some(r) if ok => Ok(Principal {
                client_id: r.client_id,
                roles: r.roles,
            }),
            _ => Err(Error::Unauthorized(format!(
                "Invalid client secret provided, or client '{}' does not exist.",
                client_id.chars().take(64).collect::<String>()
            ))),
        }
    }
}
