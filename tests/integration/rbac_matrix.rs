//! The RBAC matrix: every built-in role (as the server's RBAC API defines it) × every data-plane operation the
//! official SDK crates expose × the scope of the role assignment (the vault, the kind of the operation's object,
//! the single object), each expected to be allowed or refused with 403 `ForbiddenByRbac`.
//!
//! The expectations are computed here, not by the server's code: each operation is mapped to the data action
//! Azure's documentation gives for it (the `da` table), and a small implementation of Azure's rule decides
//! whether a role grants it (`dataActions` patterns with `*` wildcards, compared case-insensitively, minus
//! `notDataActions`) and whether the assignment's scope covers the resource (a role at a scope covers everything
//! inside it). The built-in roles the server lists are also compared with Azure's published definitions, so that a
//! wrong definition cannot make the server and this test agree on a wrong answer.
//!
//! Every case (one role at one scope) gets its own vault, its own objects (made by the admin up front) and its
//! own principal made through `/_keyhaven/principals`, whose SDK clients run every operation of every kind: reads
//! first, then writes, then the destructive ones (the admin steps in where the principal is refused, so that each
//! later operation meets the object in the state it needs). Kind-scope cases thereby check that the assignment
//! opens no other kind; object-scope cases also run the operations on a second object of the same kind, which
//! must stay closed. Listings under an object-scope assignment answer 200 with only that object.
//!
//! Not in the matrix: key release (the keys crate's `release`, which needs an attestation authority and token;
//! `key_release::release_needs_the_release_action` checks its action), key attestation and secure
//! wrap/unwrap (Managed HSM only), and whole-vault backup and restore (not in these SDK crates). A restore is taken
//! to act on the kind, not on an object (its name comes from the backup), and contacts, issuers and random bytes
//! on the vault: neither a kind nor an object assignment opens them.

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::Secret;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_certificates::models as cm;
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::models as km;
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::models as sm;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::{Stream, StreamExt, TryStreamExt};
use keyhaven_testkit::TestServer;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Cases run at the same time (each one's requests are sequential).
const IN_FLIGHT: usize = 6;
const API: &str = "api-version=7.5";

/// The data action Azure requires for each Key Vault operation, as Azure's documentation names them (the
/// `Microsoft.KeyVault` resource provider's DataActions, and the Key Vault RBAC guide). Written out here on purpose
/// rather than taken from the server.
mod da {
    pub const SECRET_READ_METADATA: &str = "Microsoft.KeyVault/vaults/secrets/readMetadata/action";
    pub const SECRET_GET: &str = "Microsoft.KeyVault/vaults/secrets/getSecret/action";
    pub const SECRET_SET: &str = "Microsoft.KeyVault/vaults/secrets/setSecret/action";
    pub const SECRET_UPDATE: &str = "Microsoft.KeyVault/vaults/secrets/update/action";
    pub const SECRET_DELETE: &str = "Microsoft.KeyVault/vaults/secrets/delete";
    pub const SECRET_BACKUP: &str = "Microsoft.KeyVault/vaults/secrets/backup/action";
    pub const SECRET_RESTORE: &str = "Microsoft.KeyVault/vaults/secrets/restore/action";
    pub const SECRET_RECOVER: &str = "Microsoft.KeyVault/vaults/secrets/recover/action";
    pub const SECRET_PURGE: &str = "Microsoft.KeyVault/vaults/secrets/purge/action";

    pub const KEY_READ: &str = "Microsoft.KeyVault/vaults/keys/read";
    pub const KEY_CREATE: &str = "Microsoft.KeyVault/vaults/keys/create/action";
    pub const KEY_IMPORT: &str = "Microsoft.KeyVault/vaults/keys/import/action";
    pub const KEY_UPDATE: &str = "Microsoft.KeyVault/vaults/keys/update/action";
    pub const KEY_DELETE: &str = "Microsoft.KeyVault/vaults/keys/delete";
    pub const KEY_BACKUP: &str = "Microsoft.KeyVault/vaults/keys/backup/action";
    pub const KEY_RESTORE: &str = "Microsoft.KeyVault/vaults/keys/restore/action";
    pub const KEY_RECOVER: &str = "Microsoft.KeyVault/vaults/keys/recover/action";
    pub const KEY_PURGE: &str = "Microsoft.KeyVault/vaults/keys/purge/action";
    pub const KEY_ENCRYPT: &str = "Microsoft.KeyVault/vaults/keys/encrypt/action";
    pub const KEY_DECRYPT: &str = "Microsoft.KeyVault/vaults/keys/decrypt/action";
    pub const KEY_WRAP: &str = "Microsoft.KeyVault/vaults/keys/wrap/action";
    pub const KEY_UNWRAP: &str = "Microsoft.KeyVault/vaults/keys/unwrap/action";
    pub const KEY_SIGN: &str = "Microsoft.KeyVault/vaults/keys/sign/action";
    pub const KEY_VERIFY: &str = "Microsoft.KeyVault/vaults/keys/verify/action";
    pub const KEY_ROTATE: &str = "Microsoft.KeyVault/vaults/keys/rotate/action";
    pub const ROTATION_POLICY_READ: &str = "Microsoft.KeyVault/vaults/keyrotationpolicies/read";
    pub const ROTATION_POLICY_WRITE: &str = "Microsoft.KeyVault/vaults/keyrotationpolicies/write";
    /// Azure documents random bytes for Managed HSM only (`Microsoft.KeyVault/managedHSM/rng/action`); a vault's is
    /// taken to be the same action under `vaults/`, on the vault.
    pub const RNG: &str = "Microsoft.KeyVault/vaults/rng/action";

    /// List, get, versions, policy, pending operation, deleted certificates.
    pub const CERT_READ: &str = "Microsoft.KeyVault/vaults/certificates/read";
    pub const CERT_CREATE: &str = "Microsoft.KeyVault/vaults/certificates/create/action";
    pub const CERT_IMPORT: &str = "Microsoft.KeyVault/vaults/certificates/import/action";
    /// Properties, policy, and cancelling or deleting the pending operation.
    pub const CERT_UPDATE: &str = "Microsoft.KeyVault/vaults/certificates/update/action";
    pub const CERT_DELETE: &str = "Microsoft.KeyVault/vaults/certificates/delete";
    pub const CERT_BACKUP: &str = "Microsoft.KeyVault/vaults/certificates/backup/action";
    pub const CERT_RESTORE: &str = "Microsoft.KeyVault/vaults/certificates/restore/action";
    pub const CERT_RECOVER: &str = "Microsoft.KeyVault/vaults/certificates/recover/action";
    pub const CERT_PURGE: &str = "Microsoft.KeyVault/vaults/certificates/purge/action";
    /// "Manage Certificate Contact": Azure has no separate read action, reading contacts needs it too.
    pub const CONTACTS_WRITE: &str = "Microsoft.KeyVault/vaults/certificatecontacts/write";
    pub const ISSUERS_READ: &str = "Microsoft.KeyVault/vaults/certificatecas/read";
    pub const ISSUERS_WRITE: &str = "Microsoft.KeyVault/vaults/certificatecas/write";
    pub const ISSUERS_DELETE: &str = "Microsoft.KeyVault/vaults/certificatecas/delete";
}

/// Azure's built-in Key Vault data roles as Azure publishes them (id, name, dataActions); none has notDataActions.
const AZURE_ROLES: &[(&str, &str, &[&str])] = &[
    (
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Key Vault Administrator",
        &["Microsoft.KeyVault/vaults/*"],
    ),
    (
        "21090545-7ca7-4776-b22c-e363652d74d2",
        "Key Vault Reader",
        &[
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
    ),
    (
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
        &["Microsoft.KeyVault/vaults/secrets/*"],
    ),
    (
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Key Vault Secrets User",
        &[
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
    ),
    (
        "a4417e6f-fecd-4de8-b567-7b0420556985",
        "Key Vault Certificates Officer",
        &[
            "Microsoft.KeyVault/vaults/certificatecas/*",
            "Microsoft.KeyVault/vaults/certificates/*",
            "Microsoft.KeyVault/vaults/certificatecontacts/write",
        ],
    ),
    (
        "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
        "Key Vault Certificate User",
        &[
            "Microsoft.KeyVault/vaults/certificates/read",
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            "Microsoft.KeyVault/vaults/keys/read",
        ],
    ),
    (
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
        &[
            "Microsoft.KeyVault/vaults/keys/*",
            "Microsoft.KeyVault/vaults/keyrotationpolicies/*",
        ],
    ),
    (
        "12338af0-0e69-4776-bea7-57ae8d297424",
        "Key Vault Crypto User",
        &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/update/action",
            "Microsoft.KeyVault/vaults/keys/backup/action",
            "Microsoft.KeyVault/vaults/keys/encrypt/action",
            "Microsoft.KeyVault/vaults/keys/decrypt/action",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
            "Microsoft.KeyVault/vaults/keys/sign/action",
            "Microsoft.KeyVault/vaults/keys/verify/action",
        ],
    ),
    (
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Key Vault Crypto Service Encryption User",
        &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
    ),
    (
        "08bbd89e-9f13-488c-ac41-acfcb10c90ab",
        "Key Vault Crypto Service Release User",
        &["Microsoft.KeyVault/vaults/keys/release/action"],
    ),
    (
        "8b54135c-b56d-4d72-a534-26097cfdc8d8",
        "Key Vault Data Access Administrator",
        &[],
    ),
];

// ---------------------------------------------------------------------------------------------------------------
// The model: Azure's rule, written independently of the server.

/// Azure's wildcard match: `*` stands for any run of characters (slashes included); case-insensitive.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_lowercase().into_bytes();
    let s = name.to_ascii_lowercase().into_bytes();
    // prev[j]: whether the pattern so far matches s[..j].
    let mut prev = vec![false; s.len() + 1];
    prev[0] = true;
    for &pc in &p {
        let mut cur = vec![false; s.len() + 1];
        cur[0] = pc == b'*' && prev[0];
        for j in 1..=s.len() {
            cur[j] = if pc == b'*' {
                prev[j] || cur[j - 1]
            } else {
                pc == s[j - 1] && prev[j - 1]
            };
        }
        prev = cur;
    }
    prev[s.len()]
}

#[derive(Debug, Clone)]
struct Permission {
    data_actions: Vec<String>,
    not_data_actions: Vec<String>,
}

#[derive(Debug, Clone)]
struct Role {
    id: String,
    name: String,
    permissions: Vec<Permission>,
}

impl Role {
    /// A block grants the action when one of its dataActions matches and none of its notDataActions does.
    fn grants(&self, action: &str) -> bool {
        self.permissions.iter().any(|p| {
            p.data_actions.iter().any(|a| wildcard(a, action))
                && !p.not_data_actions.iter().any(|a| wildcard(a, action))
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Secret,
    Key,
    Cert,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Secret, Kind::Key, Kind::Cert];

    fn collection(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Key => "keys",
            Kind::Cert => "certificates",
        }
    }

    /// The object of this kind each case's operations act on (names differ by kind: a certificate's managed key
    /// and secret take its name).
    fn x(self) -> &'static str {
        match self {
            Kind::Secret => "s-x",
            Kind::Key => "k-x",
            Kind::Cert => "c-x",
        }
    }

    /// Another object of the same kind, which an object-scope assignment on `x` must not open.
    fn y(self) -> &'static str {
        match self {
            Kind::Secret => "s-y",
            Kind::Key => "k-y",
            Kind::Cert => "c-y",
        }
    }
}

/// Where a role is assigned in a case (scopes are relative to the case's vault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// No assignment at all.
    Nothing,
    Vault,
    Kind(Kind),
    /// The kind's object `x`.
    Object(Kind),
}

impl Scope {
    fn rbac_path(self) -> String {
        match self {
            Scope::Nothing => unreachable!("no assignment"),
            Scope::Vault => "/".into(),
            Scope::Kind(k) => format!("/{}", k.collection()),
            Scope::Object(k) => format!("/{}/{}", k.collection(), k.x()),
        }
    }

    fn label(self) -> String {
        match self {
            Scope::Nothing => "none".into(),
            s => s.rbac_path(),
        }
    }
}

/// What an operation acts on, for scope coverage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    /// One object, named in the request.
    Object,
    /// A listing of the kind: under an object-scope assignment it shows that object only.
    Listing,
    /// The kind as a whole (a restore: the object's name is inside the backup, not in the request).
    Collection,
    /// A vault-wide setting or service (contacts, issuers, random bytes).
    Vault,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    GetSecret,
    ListSecrets,
    ListSecretVersions,
    SetSecret,
    UpdateSecret,
    BackupSecret,
    DeleteSecret,
    GetDeletedSecret,
    ListDeletedSecrets,
    RecoverSecret,
    PurgeSecret,
    RestoreSecret,
    GetKey,
    ListKeys,
    ListKeyVersions,
    GetRotationPolicy,
    Encrypt,
    Decrypt,
    WrapKey,
    UnwrapKey,
    Sign,
    Verify,
    RandomBytes,
    UpdateKey,
    ImportKey,
    CreateKey,
    RotateKey,
    SetRotationPolicy,
    BackupKey,
    DeleteKey,
    GetDeletedKey,
    ListDeletedKeys,
    RecoverKey,
    PurgeKey,
    RestoreKey,
    GetCertificate,
    ListCertificates,
    ListCertificateVersions,
    GetCertificatePolicy,
    GetCertificateOperation,
    GetContacts,
    ListIssuers,
    GetIssuer,
    UpdateCertificate,
    UpdateCertificatePolicy,
    ImportCertificate,
    CreateCertificate,
    CancelCertificateOperation,
    MergeCertificate,
    BackupCertificate,
    SetContacts,
    SetIssuer,
    UpdateIssuer,
    DeleteCertificateOperation,
    DeleteContacts,
    DeleteIssuer,
    DeleteCertificate,
    GetDeletedCertificate,
    ListDeletedCertificates,
    RecoverCertificate,
    PurgeCertificate,
    RestoreCertificate,
}

/// Every operation: its kind, what it acts on, and the data action Azure requires for it.
const OPS: &[(Op, Kind, On, &str)] = &[
    (Op::GetSecret, Kind::Secret, On::Object, da::SECRET_GET),
    (
        Op::ListSecrets,
        Kind::Secret,
        On::Listing,
        da::SECRET_READ_METADATA,
    ),
    (
        Op::ListSecretVersions,
        Kind::Secret,
        On::Object,
        da::SECRET_READ_METADATA,
    ),
    (Op::SetSecret, Kind::Secret, On::Object, da::SECRET_SET),
    (
        Op::UpdateSecret,
        Kind::Secret,
        On::Object,
        da::SECRET_UPDATE,
    ),
    (
        Op::BackupSecret,
        Kind::Secret,
        On::Object,
        da::SECRET_BACKUP,
    ),
    (
        Op::DeleteSecret,
        Kind::Secret,
        On::Object,
        da::SECRET_DELETE,
    ),
    (
        Op::GetDeletedSecret,
        Kind::Secret,
        On::Object,
        da::SECRET_READ_METADATA,
    ),
    (
        Op::ListDeletedSecrets,
        Kind::Secret,
        On::Listing,
        da::SECRET_READ_METADATA,
    ),
    (
        Op::RecoverSecret,
        Kind::Secret,
        On::Object,
        da::SECRET_RECOVER,
    ),
    (Op::PurgeSecret, Kind::Secret, On::Object, da::SECRET_PURGE),
    (
        Op::RestoreSecret,
        Kind::Secret,
        On::Collection,
        da::SECRET_RESTORE,
    ),
    (Op::GetKey, Kind::Key, On::Object, da::KEY_READ),
    (Op::ListKeys, Kind::Key, On::Listing, da::KEY_READ),
    (Op::ListKeyVersions, Kind::Key, On::Object, da::KEY_READ),
    (
        Op::GetRotationPolicy,
        Kind::Key,
        On::Object,
        da::ROTATION_POLICY_READ,
    ),
    (Op::Encrypt, Kind::Key, On::Object, da::KEY_ENCRYPT),
    (Op::Decrypt, Kind::Key, On::Object, da::KEY_DECRYPT),
    (Op::WrapKey, Kind::Key, On::Object, da::KEY_WRAP),
    (Op::UnwrapKey, Kind::Key, On::Object, da::KEY_UNWRAP),
    (Op::Sign, Kind::Key, On::Object, da::KEY_SIGN),
    (Op::Verify, Kind::Key, On::Object, da::KEY_VERIFY),
    (Op::RandomBytes, Kind::Key, On::Vault, da::RNG),
    (Op::UpdateKey, Kind::Key, On::Object, da::KEY_UPDATE),
    (Op::ImportKey, Kind::Key, On::Object, da::KEY_IMPORT),
    (Op::CreateKey, Kind::Key, On::Object, da::KEY_CREATE),
    (Op::RotateKey, Kind::Key, On::Object, da::KEY_ROTATE),
    (
        Op::SetRotationPolicy,
        Kind::Key,
        On::Object,
        da::ROTATION_POLICY_WRITE,
    ),
    (Op::BackupKey, Kind::Key, On::Object, da::KEY_BACKUP),
    (Op::DeleteKey, Kind::Key, On::Object, da::KEY_DELETE),
    (Op::GetDeletedKey, Kind::Key, On::Object, da::KEY_READ),
    (Op::ListDeletedKeys, Kind::Key, On::Listing, da::KEY_READ),
    (Op::RecoverKey, Kind::Key, On::Object, da::KEY_RECOVER),
    (Op::PurgeKey, Kind::Key, On::Object, da::KEY_PURGE),
    (Op::RestoreKey, Kind::Key, On::Collection, da::KEY_RESTORE),
    (Op::GetCertificate, Kind::Cert, On::Object, da::CERT_READ),
    (Op::ListCertificates, Kind::Cert, On::Listing, da::CERT_READ),
    (
        Op::ListCertificateVersions,
        Kind::Cert,
        On::Object,
        da::CERT_READ,
    ),
    (
        Op::GetCertificatePolicy,
        Kind::Cert,
        On::Object,
        da::CERT_READ,
    ),
    (
        Op::GetCertificateOperation,
        Kind::Cert,
        On::Object,
        da::CERT_READ,
    ),
    (Op::GetContacts, Kind::Cert, On::Vault, da::CONTACTS_WRITE),
    (Op::ListIssuers, Kind::Cert, On::Vault, da::ISSUERS_READ),
    (Op::GetIssuer, Kind::Cert, On::Vault, da::ISSUERS_READ),
    (
        Op::UpdateCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_UPDATE,
    ),
    (
        Op::UpdateCertificatePolicy,
        Kind::Cert,
        On::Object,
        da::CERT_UPDATE,
    ),
    (
        Op::ImportCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_IMPORT,
    ),
    (
        Op::CreateCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_CREATE,
    ),
    (
        Op::CancelCertificateOperation,
        Kind::Cert,
        On::Object,
        da::CERT_UPDATE,
    ),
    // Merging completes a creation: Azure requires certificates/create for it.
    (
        Op::MergeCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_CREATE,
    ),
    (
        Op::BackupCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_BACKUP,
    ),
    (Op::SetContacts, Kind::Cert, On::Vault, da::CONTACTS_WRITE),
    (Op::SetIssuer, Kind::Cert, On::Vault, da::ISSUERS_WRITE),
    (Op::UpdateIssuer, Kind::Cert, On::Vault, da::ISSUERS_WRITE),
    (
        Op::DeleteCertificateOperation,
        Kind::Cert,
        On::Object,
        da::CERT_UPDATE,
    ),
    (
        Op::DeleteContacts,
        Kind::Cert,
        On::Vault,
        da::CONTACTS_WRITE,
    ),
    (Op::DeleteIssuer, Kind::Cert, On::Vault, da::ISSUERS_DELETE),
    (
        Op::DeleteCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_DELETE,
    ),
    (
        Op::GetDeletedCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_READ,
    ),
    (
        Op::ListDeletedCertificates,
        Kind::Cert,
        On::Listing,
        da::CERT_READ,
    ),
    (
        Op::RecoverCertificate,
        Kind::Cert,
        On::Object,
        da::CERT_RECOVER,
    ),
    (Op::PurgeCertificate, Kind::Cert, On::Object, da::CERT_PURGE),
    (
        Op::RestoreCertificate,
        Kind::Cert,
        On::Collection,
        da::CERT_RESTORE,
    ),
];

fn spec(op: Op) -> (Kind, On, &'static str) {
    OPS.iter()
        .find(|(o, ..)| *o == op)
        .map(|&(_, k, on, a)| (k, on, a))
        .unwrap_or_else(|| panic!("{op:?} has no entry in OPS"))
}

/// Reads, run first (on every kind, then on the second object where there is one).
const READS: &[Op] = &[
    Op::GetSecret,
    Op::ListSecrets,
    Op::ListSecretVersions,
    Op::GetKey,
    Op::ListKeys,
    Op::ListKeyVersions,
    Op::GetRotationPolicy,
    Op::Encrypt,
    Op::Decrypt,
    Op::WrapKey,
    Op::UnwrapKey,
    Op::Sign,
    Op::Verify,
    Op::RandomBytes,
    Op::GetCertificate,
    Op::ListCertificates,
    Op::ListCertificateVersions,
    Op::GetCertificatePolicy,
    Op::GetCertificateOperation,
    Op::GetContacts,
    Op::ListIssuers,
    Op::GetIssuer,
];

/// Writes that keep every object in place.
const WRITES: &[Op] = &[
    Op::UpdateSecret,
    Op::SetSecret,
    Op::BackupSecret,
    Op::UpdateKey,
    Op::ImportKey,
    Op::CreateKey,
    Op::RotateKey,
    Op::SetRotationPolicy,
    Op::BackupKey,
    Op::UpdateCertificate,
    Op::UpdateCertificatePolicy,
    Op::ImportCertificate,
    Op::CreateCertificate,
    Op::CancelCertificateOperation,
    Op::MergeCertificate,
    Op::BackupCertificate,
    Op::SetContacts,
    Op::SetIssuer,
    Op::UpdateIssuer,
    Op::DeleteCertificateOperation,
    Op::DeleteContacts,
    Op::DeleteIssuer,
];

/// The lifecycle of one object: (delete, get deleted, list deleted, recover, purge, restore).
fn lifecycle(kind: Kind) -> [Op; 6] {
    match kind {
        Kind::Secret => [
            Op::DeleteSecret,
            Op::GetDeletedSecret,
            Op::ListDeletedSecrets,
            Op::RecoverSecret,
            Op::PurgeSecret,
            Op::RestoreSecret,
        ],
        Kind::Key => [
            Op::DeleteKey,
            Op::GetDeletedKey,
            Op::ListDeletedKeys,
            Op::RecoverKey,
            Op::PurgeKey,
            Op::RestoreKey,
        ],
        Kind::Cert => [
            Op::DeleteCertificate,
            Op::GetDeletedCertificate,
            Op::ListDeletedCertificates,
            Op::RecoverCertificate,
            Op::PurgeCertificate,
            Op::RestoreCertificate,
        ],
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Allow,
    Deny,
    /// 200 listing every object of the kind.
    ListAll,
    /// 200 listing only this object.
    ListOnly(&'static str),
}

/// What the model says about `op` on `target`, for `role` assigned at `scope`.
fn expect(role: Option<&Role>, scope: Scope, op: Op, target: &str) -> Expect {
    let (kind, on, action) = spec(op);
    if !role.is_some_and(|r| r.grants(action)) {
        return Expect::Deny;
    }
    let covers_kind = scope == Scope::Vault || scope == Scope::Kind(kind);
    match on {
        On::Vault if scope == Scope::Vault => Expect::Allow,
        On::Collection if covers_kind => Expect::Allow,
        On::Object if covers_kind => Expect::Allow,
        On::Object if scope == Scope::Object(kind) && target.eq_ignore_ascii_case(kind.x()) => {
            Expect::Allow
        }
        On::Listing if covers_kind => Expect::ListAll,
        On::Listing if scope == Scope::Object(kind) => Expect::ListOnly(kind.x()),
        _ => Expect::Deny,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Running operations.

/// What an operation answered.
#[derive(Debug, Default)]
struct Outcome {
    status: u16,
    /// The error body, when it failed with one.
    body: Option<Value>,
    /// Object names, for a listing that succeeded.
    names: Option<Vec<String>>,
    /// Anything else worth showing when it is not as expected.
    note: String,
}

impl Outcome {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn from_error(e: azure_core::Error) -> Outcome {
    let (status, body) = match e.kind() {
        ErrorKind::HttpResponse {
            status,
            raw_response,
            ..
        } => (
            u16::from(*status),
            raw_response
                .as_ref()
                .and_then(|r| serde_json::from_slice::<Value>(r.body()).ok()),
        ),
        _ => (0, None),
    };
    Outcome {
        status,
        body,
        names: None,
        note: e.to_string(),
    }
}

fn done<T, F>(r: azure_core::Result<azure_core::http::Response<T, F>>) -> Outcome {
    match r {
        Ok(resp) => Outcome {
            status: u16::from(resp.status()),
            ..Outcome::default()
        },
        Err(e) => from_error(e),
    }
}

/// The object name in an item's id (`https://{vault}…/{collection}/{name}[/{version}]`).
fn name_in(item: &Value) -> String {
    let id = item["id"]
        .as_str()
        .or_else(|| item["kid"].as_str())
        .unwrap_or_default();
    id.split('/').nth(4).unwrap_or_default().to_string()
}

async fn listing<T, S>(pager: azure_core::Result<S>) -> Outcome
where
    T: serde::Serialize,
    S: Stream<Item = azure_core::Result<T>>,
{
    let stream = match pager {
        Ok(s) => s,
        Err(e) => return from_error(e),
    };
    match stream.try_collect::<Vec<T>>().await {
        Ok(items) => Outcome {
            status: 200,
            names: Some(
                items
                    .iter()
                    .map(|i| name_in(&serde_json::to_value(i).unwrap_or_default()))
                    .collect(),
            ),
            ..Outcome::default()
        },
        Err(e) => from_error(e),
    }
}

/// Material every case uses: an RSA key (imported under each key name, so one ciphertext and one signature serve
/// every case), and an EC P-256 certificate with its key (imported under each certificate name).
struct Fixtures {
    rsa_jwk: km::JsonWebKey,
    ciphertext: Vec<u8>,
    digest: Vec<u8>,
    signature: Vec<u8>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

fn fixtures() -> Fixtures {
    use openssl::{
        asn1::Asn1Time, ec, hash::MessageDigest, nid::Nid, pkey::PKey, rsa, sign::Signer, x509,
    };
    let rsa = rsa::Rsa::generate(2048).unwrap();
    let mut jwk = km::JsonWebKey::default();
    jwk.kty = Some(km::KeyType::Rsa);
    jwk.n = Some(rsa.n().to_vec());
    jwk.e = Some(rsa.e().to_vec());
    jwk.d = Some(rsa.d().to_vec());
    jwk.p = rsa.p().map(|b| b.to_vec());
    jwk.q = rsa.q().map(|b| b.to_vec());
    jwk.dp = rsa.dmp1().map(|b| b.to_vec());
    jwk.dq = rsa.dmq1().map(|b| b.to_vec());
    jwk.qi = rsa.iqmp().map(|b| b.to_vec());
    let mut ciphertext = vec![0; rsa.size() as usize];
    let n = rsa
        .public_encrypt(b"matrix", &mut ciphertext, rsa::Padding::PKCS1_OAEP)
        .unwrap();
    ciphertext.truncate(n);
    let pkey = PKey::from_rsa(rsa).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).unwrap();
    signer.update(b"matrix message").unwrap();
    let signature = signer.sign_to_vec().unwrap();

    let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(ec::EcKey::generate(&group).unwrap()).unwrap();
    let mut subject = x509::X509NameBuilder::new().unwrap();
    subject.append_entry_by_text("CN", "matrix.test").unwrap();
    let subject = subject.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(
        &openssl::bn::BigNum::from_u32(7)
            .unwrap()
            .to_asn1_integer()
            .unwrap(),
    )
    .unwrap();
    b.set_subject_name(&subject).unwrap();
    b.set_issuer_name(&subject).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let cert_pem = format!(
        "{}{}",
        String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
        String::from_utf8(cert.to_pem().unwrap()).unwrap()
    );
    Fixtures {
        rsa_jwk: jwk,
        ciphertext,
        digest: openssl::sha::sha256(b"matrix message").to_vec(),
        signature,
        cert_pem,
        cert_der: cert.to_der().unwrap(),
    }
}

/// Backups of a case's `x` objects, made by the admin, restored by the principal at the end.
struct Blobs {
    secret: Vec<u8>,
    key: Vec<u8>,
    cert: Vec<u8>,
}

/// The three SDK clients of one caller on one vault.
struct Clients {
    secrets: SecretClient,
    keys: KeyClient,
    certs: CertificateClient,
}

impl Clients {
    fn new(ts: &TestServer, http: &reqwest::Client, vault: &str, who: &Who) -> Clients {
        let options = || {
            let mut o = ClientOptions::default();
            o.transport = Some(Transport::new(Arc::new(http.clone())));
            o.retry = RetryOptions::none();
            o
        };
        let mut co = options();
        let mut cc = CustomConfiguration::default();
        cc.authority_host = ts.authority();
        co.cloud = Some(Arc::new(CloudConfiguration::from(cc)));
        let mut copts = ClientSecretCredentialOptions::default();
        copts.client_options = co;
        let cred = ClientSecretCredential::new(
            &who.tenant_id,
            who.client_id.clone(),
            Secret::new(who.client_secret.clone()),
            Some(copts),
        )
        .unwrap();
        let url = ts.vault_url(vault);
        let mut so = SecretClientOptions::default();
        so.client_options = options();
        let mut ko = KeyClientOptions::default();
        ko.client_options = options();
        let mut xo = CertificateClientOptions::default();
        xo.client_options = options();
        Clients {
            secrets: SecretClient::new(&url, cred.clone(), Some(so)).unwrap(),
            keys: KeyClient::new(&url, cred.clone(), Some(ko)).unwrap(),
            certs: CertificateClient::new(&url, cred, Some(xo)).unwrap(),
        }
    }
}

/// A caller's client credential.
#[derive(Clone)]
struct Who {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    object_id: String,
}

fn tags() -> HashMap<String, String> {
    HashMap::from([("matrix".to_string(), "yes".to_string())])
}

fn cert_policy() -> cm::CertificatePolicy {
    let mut kp = cm::KeyProperties::default();
    kp.key_type = Some(cm::KeyType::Ec);
    kp.curve = Some(cm::CurveName::P256);
    let mut x = cm::X509CertificateProperties::default();
    x.subject = Some("CN=matrix.test".into());
    x.key_usage = Some(vec![cm::KeyUsageType::DigitalSignature]);
    x.validity_in_months = Some(12);
    let mut i = cm::IssuerParameters::default();
    i.name = Some("Self".into());
    let mut p = cm::CertificatePolicy::default();
    p.key_properties = Some(kp);
    p.x509_certificate_properties = Some(x);
    p.issuer_parameters = Some(i);
    p
}

fn import_cert_params(fx: &Fixtures) -> cm::ImportCertificateParameters {
    let mut sp = cm::SecretProperties::default();
    sp.content_type = Some("application/x-pem-file".into());
    let mut policy = cm::CertificatePolicy::default();
    policy.secret_properties = Some(sp);
    let mut p = cm::ImportCertificateParameters::default();
    p.base64_encoded_certificate = Some(fx.cert_pem.clone());
    p.certificate_policy = Some(policy);
    p
}

fn key_op(alg: km::EncryptionAlgorithm, value: Vec<u8>) -> km::KeyOperationParameters {
    let mut p = km::KeyOperationParameters::default();
    p.algorithm = Some(alg);
    p.value = Some(value);
    p
}

/// The issuer each case's vault has (set by the admin), which issuer operations name.
const ISSUER: &str = "iss-x";

/// Runs one operation through the official SDK crates (every operation here is exposed by them).
async fn exec(op: Op, c: &Clients, fx: &Fixtures, blobs: &Blobs, name: &str) -> Outcome {
    let (s, k, x) = (&c.secrets, &c.keys, &c.certs);
    match op {
        Op::GetSecret => done(s.get_secret(name, None).await),
        Op::ListSecrets => listing(s.list_secret_properties(None)).await,
        Op::ListSecretVersions => listing(s.list_secret_properties_versions(name, None)).await,
        Op::SetSecret => {
            let mut p = sm::SetSecretParameters::default();
            p.value = Some("v2".into());
            done(s.set_secret(name, p.try_into().unwrap(), None).await)
        }
        Op::UpdateSecret => {
            let mut p = sm::UpdateSecretPropertiesParameters::default();
            p.tags = Some(tags());
            done(
                s.update_secret_properties(name, p.try_into().unwrap(), None)
                    .await,
            )
        }
        Op::BackupSecret => done(s.backup_secret(name, None).await),
        Op::DeleteSecret => done(s.delete_secret(name, None).await),
        Op::GetDeletedSecret => done(s.get_deleted_secret(name, None).await),
        Op::ListDeletedSecrets => listing(s.list_deleted_secret_properties(None)).await,
        Op::RecoverSecret => done(s.recover_deleted_secret(name, None).await),
        Op::PurgeSecret => done(s.purge_deleted_secret(name, None).await),
        Op::RestoreSecret => {
            let mut p = sm::RestoreSecretParameters::default();
            p.secret_backup = Some(blobs.secret.clone());
            done(s.restore_secret(p.try_into().unwrap(), None).await)
        }
        Op::GetKey => done(k.get_key(name, None).await),
        Op::ListKeys => listing(k.list_key_properties(None)).await,
        Op::ListKeyVersions => listing(k.list_key_properties_versions(name, None)).await,
        Op::GetRotationPolicy => done(k.get_key_rotation_policy(name, None).await),
        Op::Encrypt => done(
            k.encrypt(
                name,
                key_op(km::EncryptionAlgorithm::RsaOaep, b"matrix".to_vec())
                    .try_into()
                    .unwrap(),
                None,
            )
            .await,
        ),
        Op::Decrypt => done(
            k.decrypt(
                name,
                "",
                key_op(km::EncryptionAlgorithm::RsaOaep, fx.ciphertext.clone())
                    .try_into()
                    .unwrap(),
                None,
            )
            .await,
        ),
        Op::WrapKey => done(
            k.wrap_key(
                name,
                key_op(km::EncryptionAlgorithm::RsaOaep, vec![7; 32])
                    .try_into()
                    .unwrap(),
                None,
            )
            .await,
        ),
        Op::UnwrapKey => done(
            k.unwrap_key(
                name,
                "",
                key_op(km::EncryptionAlgorithm::RsaOaep, fx.ciphertext.clone())
                    .try_into()
                    .unwrap(),
                None,
            )
            .await,
        ),
        Op::Sign => {
            let mut p = km::SignParameters::default();
            p.algorithm = Some(km::SignatureAlgorithm::Rs256);
            p.value = Some(fx.digest.clone());
            done(k.sign(name, p.try_into().unwrap(), None).await)
        }
        Op::Verify => {
            let mut p = km::VerifyParameters::default();
            p.algorithm = Some(km::SignatureAlgorithm::Rs256);
            p.digest = Some(fx.digest.clone());
            p.signature = Some(fx.signature.clone());
            done(k.verify(name, "", p.try_into().unwrap(), None).await)
        }
        Op::RandomBytes => {
            let mut p = km::GetRandomBytesParameters::default();
            p.count = Some(16);
            done(k.get_random_bytes(p.try_into().unwrap(), None).await)
        }
        Op::UpdateKey => {
            let mut p = km::UpdateKeyPropertiesParameters::default();
            p.tags = Some(tags());
            done(
                k.update_key_properties(name, p.try_into().unwrap(), None)
                    .await,
            )
        }
        Op::ImportKey => {
            let mut p = km::ImportKeyParameters::default();
            p.key = Some(fx.rsa_jwk.clone());
            done(k.import_key(name, p.try_into().unwrap(), None).await)
        }
        Op::CreateKey => {
            let mut p = km::CreateKeyParameters::default();
            p.kty = Some(km::KeyType::Ec);
            p.curve = Some(km::CurveName::P256);
            done(k.create_key(name, p.try_into().unwrap(), None).await)
        }
        Op::RotateKey => done(k.rotate_key(name, None).await),
        Op::SetRotationPolicy => {
            let mut trigger = km::LifetimeActionTrigger::default();
            trigger.time_after_create = Some("P90D".into());
            let mut action = km::LifetimeActionType::default();
            action.type_prop = Some(km::KeyRotationPolicyAction::Rotate);
            let mut la = km::LifetimeAction::default();
            la.trigger = Some(trigger);
            la.action = Some(action);
            let mut p = km::KeyRotationPolicy::default();
            p.lifetime_actions = Some(vec![la]);
            done(
                k.update_key_rotation_policy(name, p.try_into().unwrap(), None)
                    .await,
            )
        }
        Op::BackupKey => done(k.backup_key(name, None).await),
        Op::DeleteKey => done(k.delete_key(name, None).await),
        Op::GetDeletedKey => done(k.get_deleted_key(name, None).await),
        Op::ListDeletedKeys => listing(k.list_deleted_key_properties(None)).await,
        Op::RecoverKey => done(k.recover_deleted_key(name, None).await),
        Op::PurgeKey => done(k.purge_deleted_key(name, None).await),
        Op::RestoreKey => {
            let mut p = km::RestoreKeyParameters::default();
            p.key_backup = Some(blobs.key.clone());
            done(k.restore_key(p.try_into().unwrap(), None).await)
        }
        Op::GetCertificate => done(x.get_certificate(name, None).await),
        Op::ListCertificates => listing(x.list_certificate_properties(None)).await,
        Op::ListCertificateVersions => {
            listing(x.list_certificate_properties_versions(name, None)).await
        }
        Op::GetCertificatePolicy => done(x.get_certificate_policy(name, None).await),
        Op::GetCertificateOperation => done(x.get_certificate_operation(name, None).await),
        Op::GetContacts => done(x.get_contacts(None).await),
        Op::ListIssuers => listing(x.list_issuer_properties(None)).await,
        Op::GetIssuer => done(x.get_issuer(ISSUER, None).await),
        Op::UpdateCertificate => {
            let mut p = cm::UpdateCertificatePropertiesParameters::default();
            p.tags = Some(tags());
            done(
                x.update_certificate_properties(name, p.try_into().unwrap(), None)
                    .await,
            )
        }
        Op::UpdateCertificatePolicy => {
            let mut xp = cm::X509CertificateProperties::default();
            xp.validity_in_months = Some(24);
            let mut p = cm::CertificatePolicy::default();
            p.x509_certificate_properties = Some(xp);
            done(
                x.update_certificate_policy(name, p.try_into().unwrap(), None)
                    .await,
            )
        }
        Op::ImportCertificate => done(
            x.import_certificate(name, import_cert_params(fx).try_into().unwrap(), None)
                .await,
        ),
        Op::CreateCertificate => {
            let mut p = cm::CreateCertificateParameters::default();
            p.certificate_policy = Some(cert_policy());
            match x.begin_create_certificate(name, p.try_into().unwrap(), None) {
                // The first answer is the creation request's own (issuer Self: completed at once).
                Ok(mut poller) => match poller.next().await {
                    Some(r) => done(r),
                    None => Outcome {
                        note: "the poller ended without an answer".into(),
                        ..Outcome::default()
                    },
                },
                Err(e) => from_error(e),
            }
        }
        Op::CancelCertificateOperation => {
            let mut p = cm::UpdateCertificateOperationParameter::default();
            p.cancellation_requested = Some(true);
            done(
                x.update_certificate_operation(name, p.try_into().unwrap(), None)
                    .await,
            )
        }
        Op::MergeCertificate => {
            let mut p = cm::MergeCertificateParameters::default();
            p.x509_certificates = Some(vec![fx.cert_der.clone()]);
            done(x.merge_certificate(name, p.try_into().unwrap(), None).await)
        }
        Op::BackupCertificate => done(x.backup_certificate(name, None).await),
        Op::SetContacts => {
            let mut contact = cm::Contact::default();
            contact.email = Some("pki@matrix.test".into());
            let mut p = cm::Contacts::default();
            p.contact_list = Some(vec![contact]);
            done(x.set_contacts(p.try_into().unwrap(), None).await)
        }
        Op::SetIssuer => {
            let mut p = cm::SetIssuerParameters::default();
            p.provider = Some("DigiCert".into());
            done(x.set_issuer(ISSUER, p.try_into().unwrap(), None).await)
        }
        Op::UpdateIssuer => {
            let mut p = cm::UpdateIssuerParameters::default();
            p.provider = Some("DigiCert".into());
            done(x.update_issuer(ISSUER, p.try_into().unwrap(), None).await)
        }
        Op::DeleteCertificateOperation => done(x.delete_certificate_operation(name, None).await),
        Op::DeleteContacts => done(x.delete_contacts(None).await),
        Op::DeleteIssuer => done(x.delete_issuer(ISSUER, None).await),
        Op::DeleteCertificate => done(x.delete_certificate(name, None).await),
        Op::GetDeletedCertificate => done(x.get_deleted_certificate(name, None).await),
        Op::ListDeletedCertificates => listing(x.list_deleted_certificate_properties(None)).await,
        Op::RecoverCertificate => done(x.recover_deleted_certificate(name, None).await),
        Op::PurgeCertificate => done(x.purge_deleted_certificate(name, None).await),
        Op::RestoreCertificate => {
            let mut p = cm::RestoreCertificateParameters::default();
            p.certificate_backup = Some(blobs.cert.clone());
            done(x.restore_certificate(p.try_into().unwrap(), None).await)
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Checking and counting.

#[derive(Default)]
struct Tally {
    cases: usize,
    cells: usize,
    allowed: usize,
    denied: usize,
    /// Listings answered with only the objects of an object-scope assignment.
    filtered: usize,
    /// Denials also checked through raw HTTP.
    raw: usize,
    failures: Vec<String>,
}

/// The resource an operation acts on, as a denial names it (relative to the deployment; lower case).
fn resource(vault: &str, op: Op, target: &str) -> String {
    let (kind, on, _) = spec(op);
    match on {
        On::Object => format!("/vaults/{vault}/{}/{target}", kind.collection()),
        On::Listing | On::Collection => format!("/vaults/{vault}/{}", kind.collection()),
        On::Vault => format!("/vaults/{vault}"),
    }
    .to_ascii_lowercase()
}

/// Whether a denial is Key Vault's RBAC refusal, naming the action and resource the model expects.
fn rbac_denial(body: Option<&Value>, action: &str, resource: &str) -> Result<(), String> {
    let Some(b) = body else {
        return Err("no error body".into());
    };
    let e = &b["error"];
    if e["code"] != "Forbidden" || e["innererror"]["code"] != "ForbiddenByRbac" {
        return Err("not an RBAC denial".into());
    }
    let message = e["message"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !message.contains(&format!("action: '{}'", action.to_ascii_lowercase())) {
        return Err("the denial names another action".into());
    }
    if !message.contains(&format!("{resource}'")) {
        return Err(format!("the denial does not name the resource {resource}"));
    }
    Ok(())
}

/// An error body in one line: its codes, and the action and resource of a denial.
fn brief(body: Option<&Value>) -> String {
    let Some(e) = body.map(|b| &b["error"]) else {
        return String::new();
    };
    let message = e["message"].as_str().unwrap_or_default();
    let lines: Vec<&str> = message
        .split("\r\n")
        .filter(|l| l.starts_with("Action:") || l.starts_with("Resource:"))
        .collect();
    format!(
        "{}/{} {}",
        e["code"].as_str().unwrap_or("-"),
        e["innererror"]["code"].as_str().unwrap_or("-"),
        if lines.is_empty() {
            message.chars().take(200).collect::<String>()
        } else {
            lines.join(" ")
        }
    )
}

/// Compares what the server answered with the model's expectation, and counts it.
fn check(
    tally: &Mutex<Tally>,
    case: &str,
    vault: &str,
    op: Op,
    target: &str,
    want: &Expect,
    out: &Outcome,
) {
    let (kind, _, action) = spec(op);
    let problem = match want {
        Expect::Deny => {
            if out.status != 403 {
                Some(format!("expected 403 ForbiddenByRbac, got {}", out.status))
            } else {
                rbac_denial(out.body.as_ref(), action, &resource(vault, op, target)).err()
            }
        }
        Expect::Allow => {
            if matches!(out.status, 401 | 403) || !(200..500).contains(&out.status) {
                Some(format!("expected to be allowed, got {}", out.status))
            } else {
                None
            }
        }
        Expect::ListAll | Expect::ListOnly(_) => match &out.names {
            None => Some(format!("expected a listing (200), got {}", out.status)),
            Some(names) => {
                let stray: Vec<&String> = names
                    .iter()
                    .filter(|n| matches!(want, Expect::ListOnly(o) if !n.eq_ignore_ascii_case(o)))
                    .collect();
                if !stray.is_empty() {
                    Some(format!("the listing shows objects it may not: {stray:?}"))
                } else if !names.iter().any(|n| n.eq_ignore_ascii_case(kind.x())) {
                    Some(format!("the listing lacks {}: {names:?}", kind.x()))
                } else {
                    None
                }
            }
        },
    };
    let mut t = tally.lock().unwrap();
    t.cells += 1;
    match want {
        Expect::Deny => t.denied += 1,
        Expect::ListOnly(_) => {
            t.allowed += 1;
            t.filtered += 1
        }
        Expect::Allow | Expect::ListAll => t.allowed += 1,
    }
    if let Some(p) = problem {
        let detail = match &out.body {
            Some(_) => brief(out.body.as_ref()),
            None => out.note.clone(),
        };
        t.failures.push(format!(
            "[{case}] {op:?} on {target} ({action}): {p} [{detail}]"
        ));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The server's API, as the admin uses it.

struct Env {
    ts: TestServer,
    http: reqwest::Client,
    admin: Who,
    management_token: String,
    admin_token: String,
    fx: Fixtures,
    tally: Mutex<Tally>,
}

impl Env {
    async fn create_principal(&self, display_name: &str) -> Who {
        let r = self
            .http
            .post(format!("{}/_keyhaven/principals", self.ts.authority()))
            .bearer_auth(&self.management_token)
            .json(&json!({ "displayName": display_name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create principal {display_name}");
        let v: Value = r.json().await.unwrap();
        Who {
            tenant_id: v["tenantId"].as_str().unwrap().into(),
            client_id: v["clientId"].as_str().unwrap().into(),
            client_secret: v["clientSecret"].as_str().unwrap().into(),
            object_id: v["objectId"].as_str().unwrap().into(),
        }
    }

    async fn create_vault(&self, name: &str) {
        let r = self
            .http
            .put(format!("{}/_keyhaven/vaults/{name}", self.ts.authority()))
            .bearer_auth(&self.management_token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create vault {name}");
    }

    /// Assigns `role` at `scope` of `vault` through the RBAC API on the vault's host (scope `/` makes the path
    /// `//providers/…`, as Azure's clients write it).
    async fn assign(&self, vault: &str, scope: Scope, role: &Role, principal: &str) {
        let url = format!(
            "{}{}/providers/Microsoft.Authorization/roleAssignments/{}?{API}",
            self.ts.vault_url(vault),
            scope.rbac_path(),
            keyhaven_crypto::random_uuid().unwrap()
        );
        let r = self
            .http
            .put(&url)
            .bearer_auth(&self.admin_token)
            .json(&json!({
                "properties": {
                    "roleDefinitionId": format!(
                        "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{}",
                        role.id
                    ),
                    "principalId": principal,
                }
            }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert_eq!(status, 201, "assign {} at {url}: {body}", role.name);
    }

    /// A data-plane token for `who`, through the token endpoint.
    async fn token(&self, who: &Who) -> String {
        let r = self
            .http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.ts.authority(),
                who.tenant_id
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", who.client_id.as_str()),
                ("client_secret", who.client_secret.as_str()),
                (
                    "scope",
                    &format!("https://vault.localhost:{}/.default", self.ts.port()),
                ),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "token for {}", who.client_id);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }
}

/// One role (or none) at one scope, in its own vault.
struct Case {
    role: Option<Role>,
    scope: Scope,
    vault: String,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} at {} ({})",
            self.role.as_ref().map_or("no role", |r| r.name.as_str()),
            self.scope.label(),
            self.vault
        )
    }

    fn want(&self, op: Op, target: &str) -> Expect {
        expect(self.role.as_ref(), self.scope, op, target)
    }

    /// The second object, for object-scope cases of `kind`.
    fn y(&self, kind: Kind) -> Option<&'static str> {
        (self.scope == Scope::Object(kind)).then(|| kind.y())
    }
}

fn admin_ok(what: &str, out: Outcome) {
    assert!(out.ok(), "admin {what}: {} {}", out.status, out.note);
}

/// Brings `name` of `kind` into the deleted state, or back to live, or purges it, as the admin.
async fn admin_step(admin: &Clients, kind: Kind, step: Op, name: &str) {
    let (s, k, x) = (&admin.secrets, &admin.keys, &admin.certs);
    let out = match (kind, step) {
        (Kind::Secret, Op::DeleteSecret) => done(s.delete_secret(name, None).await),
        (Kind::Secret, Op::RecoverSecret) => done(s.recover_deleted_secret(name, None).await),
        (Kind::Secret, Op::PurgeSecret) => done(s.purge_deleted_secret(name, None).await),
        (Kind::Key, Op::DeleteKey) => done(k.delete_key(name, None).await),
        (Kind::Key, Op::RecoverKey) => done(k.recover_deleted_key(name, None).await),
        (Kind::Key, Op::PurgeKey) => done(k.purge_deleted_key(name, None).await),
        (Kind::Cert, Op::DeleteCertificate) => done(x.delete_certificate(name, None).await),
        (Kind::Cert, Op::RecoverCertificate) => {
            done(x.recover_deleted_certificate(name, None).await)
        }
        (Kind::Cert, Op::PurgeCertificate) => done(x.purge_deleted_certificate(name, None).await),
        other => unreachable!("{other:?}"),
    };
    admin_ok(&format!("{step:?} {name}"), out);
}

async fn run_case(env: &Env, case: Case) {
    let label = case.label();
    let (ts, fx) = (&env.ts, &env.fx);
    let vault = case.vault.as_str();
    env.create_vault(vault).await;
    let admin = Clients::new(ts, &env.http, vault, &env.admin);

    // The objects, made by the admin: x of each kind, and y of the kind an object-scope assignment names.
    let mut objects: Vec<(Kind, &str)> = Kind::ALL.iter().map(|&k| (k, k.x())).collect();
    objects.extend(Kind::ALL.iter().filter_map(|&k| case.y(k).map(|y| (k, y))));
    for (kind, name) in &objects {
        let out = match kind {
            Kind::Secret => {
                let mut p = sm::SetSecretParameters::default();
                p.value = Some("v1".into());
                done(
                    admin
                        .secrets
                        .set_secret(name, p.try_into().unwrap(), None)
                        .await,
                )
            }
            Kind::Key => {
                let mut p = km::ImportKeyParameters::default();
                p.key = Some(fx.rsa_jwk.clone());
                done(
                    admin
                        .keys
                        .import_key(name, p.try_into().unwrap(), None)
                        .await,
                )
            }
            Kind::Cert => done(
                admin
                    .certs
                    .import_certificate(name, import_cert_params(fx).try_into().unwrap(), None)
                    .await,
            ),
        };
        admin_ok(&format!("create {name} in {vault}"), out);
    }
    let mut issuer = cm::SetIssuerParameters::default();
    issuer.provider = Some("DigiCert".into());
    admin_ok(
        "set issuer",
        done(
            admin
                .certs
                .set_issuer(ISSUER, issuer.try_into().unwrap(), None)
                .await,
        ),
    );
    let blob = |r: Option<Vec<u8>>| r.expect("a backup blob");
    let blobs = Blobs {
        secret: blob(
            admin
                .secrets
                .backup_secret(Kind::Secret.x(), None)
                .await
                .unwrap()
                .into_model()
                .unwrap()
                .value,
        ),
        key: blob(
            admin
                .keys
                .backup_key(Kind::Key.x(), None)
                .await
                .unwrap()
                .into_model()
                .unwrap()
                .value,
        ),
        cert: blob(
            admin
                .certs
                .backup_certificate(Kind::Cert.x(), None)
                .await
                .unwrap()
                .into_model()
                .unwrap()
                .value,
        ),
    };

    // The principal, made through the API, and its one assignment.
    let who = env.create_principal(&format!("matrix {vault}")).await;
    if let Some(role) = &case.role {
        env.assign(vault, case.scope, role, &who.object_id).await;
    }
    let me = Clients::new(ts, &env.http, vault, &who);
    let run = |op: Op, target: &'static str| {
        let (me, blobs, label, case) = (&me, &blobs, &label, &case);
        async move {
            let out = exec(op, me, fx, blobs, target).await;
            let want = case.want(op, target);
            check(&env.tally, label, &case.vault, op, target, &want, &out);
            out
        }
    };
    let targets = |op: Op| -> Vec<&'static str> {
        let (kind, on, _) = spec(op);
        match on {
            On::Object => std::iter::once(kind.x()).chain(case.y(kind)).collect(),
            _ => vec![kind.x()],
        }
    };

    // The same denial (or not) through raw HTTP with the principal's own token.
    let token = env.token(&who).await;
    let r = env
        .http
        .get(format!(
            "{}/secrets/{}?{API}",
            ts.vault_url(vault),
            Kind::Secret.x()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let raw = Outcome {
        status: r.status().as_u16(),
        body: r.json::<Value>().await.ok(),
        ..Outcome::default()
    };
    let want = case.want(Op::GetSecret, Kind::Secret.x());
    let raw_label = format!("{label}, raw HTTP");
    check(
        &env.tally,
        &raw_label,
        vault,
        Op::GetSecret,
        Kind::Secret.x(),
        &want,
        &raw,
    );
    if want == Expect::Deny {
        env.tally.lock().unwrap().raw += 1;
    }

    for &op in READS.iter().chain(WRITES) {
        for target in targets(op) {
            run(op, target).await;
        }
    }

    // Delete, read deleted, recover, purge, restore: the admin does what the principal may not, so that each step
    // finds the object as it needs it.
    for kind in Kind::ALL {
        let [delete, get_deleted, list_deleted, recover, purge, restore] = lifecycle(kind);
        let x = kind.x();
        if !run(delete, x).await.ok() {
            admin_step(&admin, kind, delete, x).await;
        }
        run(get_deleted, x).await;
        run(list_deleted, x).await;
        if !run(recover, x).await.ok() {
            admin_step(&admin, kind, recover, x).await;
        }
        admin_step(&admin, kind, delete, x).await;
        if !run(purge, x).await.ok() {
            admin_step(&admin, kind, purge, x).await;
        }
        run(restore, x).await;
        // The second object stays closed whatever its state (the refusal comes before any lookup).
        if let Some(y) = case.y(kind) {
            for op in [delete, get_deleted, recover, purge] {
                run(op, y).await;
            }
        }
    }
    env.tally.lock().unwrap().cases += 1;
}

/// The built-in roles as the server's RBAC API lists them.
async fn role_definitions(env: &Env) -> Vec<Role> {
    let r = env
        .http
        .get(format!(
            "{}//providers/Microsoft.Authorization/roleDefinitions?{API}",
            env.ts.vault_url("default")
        ))
        .bearer_auth(&env.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["properties"]["type"] == "AKVBuiltInRole")
        .map(|d| Role {
            id: d["name"].as_str().unwrap().to_string(),
            name: d["properties"]["roleName"].as_str().unwrap().to_string(),
            permissions: d["properties"]["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| Permission {
                    data_actions: strings(&p["dataActions"]),
                    not_data_actions: strings(&p["notDataActions"]),
                })
                .collect(),
        })
        .collect()
}

#[test]
fn the_model_matches_as_azure_does() {
    assert!(wildcard(
        "Microsoft.KeyVault/vaults/*",
        "Microsoft.KeyVault/vaults/secrets/getSecret/action"
    ));
    assert!(wildcard(
        "microsoft.keyvault/VAULTS/*/read",
        "Microsoft.KeyVault/vaults/keyrotationpolicies/read"
    ));
    assert!(!wildcard(
        "Microsoft.KeyVault/vaults/*/read",
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
    ));
    assert!(!wildcard(
        "Microsoft.KeyVault/vaults/keys/*",
        "Microsoft.KeyVault/vaults/keyrotationpolicies/read"
    ));
    assert!(wildcard("*", "anything"));
    assert!(wildcard("a*b*c", "a/x/b/y/c"));
    assert!(!wildcard("a*b*c", "a/x/b/y/cd"));
    let role = Role {
        id: String::new(),
        name: "custom".into(),
        permissions: vec![Permission {
            data_actions: vec!["Microsoft.KeyVault/vaults/secrets/*".into()],
            not_data_actions: vec!["Microsoft.KeyVault/vaults/secrets/PURGE/action".into()],
        }],
    };
    assert!(role.grants(da::SECRET_DELETE));
    assert!(!role.grants(da::SECRET_PURGE));
    let r = Some(&role);
    assert_eq!(
        expect(r, Scope::Kind(Kind::Secret), Op::ListSecrets, "s-x"),
        Expect::ListAll
    );
    assert_eq!(
        expect(r, Scope::Object(Kind::Secret), Op::ListSecrets, "s-x"),
        Expect::ListOnly("s-x")
    );
    assert_eq!(
        expect(r, Scope::Object(Kind::Secret), Op::GetSecret, "s-y"),
        Expect::Deny
    );
    assert_eq!(
        expect(r, Scope::Object(Kind::Secret), Op::RestoreSecret, "s-x"),
        Expect::Deny
    );
    assert_eq!(
        expect(r, Scope::Kind(Kind::Key), Op::GetSecret, "s-x"),
        Expect::Deny
    );
    assert_eq!(
        expect(None, Scope::Vault, Op::GetSecret, "s-x"),
        Expect::Deny
    );
    // Every operation has exactly one entry, and each is run by the matrix.
    for &(op, kind, ..) in OPS {
        assert_eq!(OPS.iter().filter(|(o, ..)| *o == op).count(), 1, "{op:?}");
        assert!(
            READS.contains(&op) || WRITES.contains(&op) || lifecycle(kind).contains(&op),
            "{op:?} is never run"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_built_in_role_at_every_scope_against_every_operation() {
    let started = Instant::now();
    let ts = TestServer::start().await;
    let vaults: Vec<String> = (0..100).map(|i| format!("rm{i:02}")).collect();
    let names: Vec<&str> = vaults
        .iter()
        .map(String::as_str)
        .chain(["default"])
        .collect();
    let http = ts.http(&names);
    let env = Env {
        admin: Who {
            tenant_id: ts.admin.tenant_id.clone(),
            client_id: ts.admin.client_id.clone(),
            client_secret: ts.admin.client_secret.clone(),
            object_id: String::new(),
        },
        management_token: ts.management_token().await,
        admin_token: ts.admin_token().await,
        http,
        fx: fixtures(),
        tally: Mutex::new(Tally::default()),
        ts,
    };

    // The built-in roles the server defines: Azure's with Azure's permissions, and Keyhaven's own.
    let roles = role_definitions(&env).await;
    for (id, name, data_actions) in AZURE_ROLES {
        let role = roles
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
            .unwrap_or_else(|| panic!("the built-in role {name} ({id}) is missing"));
        assert_eq!(&role.name, name, "{id}");
        let got: BTreeSet<String> = role
            .permissions
            .iter()
            .flat_map(|p| p.data_actions.iter().map(|a| a.to_ascii_lowercase()))
            .collect();
        let want: BTreeSet<String> = data_actions
            .iter()
            .map(|a| a.to_ascii_lowercase())
            .collect();
        assert_eq!(got, want, "{name}'s dataActions are Azure's");
        assert!(
            role.permissions
                .iter()
                .all(|p| p.not_data_actions.is_empty()),
            "{name} has no notDataActions in Azure"
        );
    }
    assert!(
        roles.iter().any(|r| r.name == "Keyhaven Backup Operator"),
        "Keyhaven's own built-in role"
    );
    assert_eq!(roles.len(), AZURE_ROLES.len() + 1, "{roles:?}");

    // One case per role and scope, and one principal with no assignment at all.
    let mut cases = Vec::new();
    for role in &roles {
        let scopes = [Scope::Vault]
            .into_iter()
            .chain(Kind::ALL.map(Scope::Kind))
            .chain(Kind::ALL.map(Scope::Object));
        for scope in scopes {
            cases.push((Some(role.clone()), scope));
        }
    }
    cases.push((None, Scope::Nothing));
    assert!(cases.len() <= vaults.len());
    let cases: Vec<Case> = cases
        .into_iter()
        .zip(&vaults)
        .map(|((role, scope), vault)| Case {
            role,
            scope,
            vault: vault.clone(),
        })
        .collect();
    let total = cases.len();
    futures::stream::iter(cases)
        .for_each_concurrent(IN_FLIGHT, |case| run_case(&env, case))
        .await;

    let t = env.tally.into_inner().unwrap();
    println!(
        "rbac matrix: {} roles x {} operations, {} cases, {} checks: {} allowed ({} listings filtered to the \
         assigned object), {} denied ({} also through raw HTTP), {} disagreements, in {:.1}s",
        roles.len(),
        OPS.len(),
        t.cases,
        t.cells,
        t.allowed,
        t.filtered,
        t.denied,
        t.raw,
        t.failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(t.cases, total);
    assert!(
        t.failures.is_empty(),
        "{} disagreements between the server and the model:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
}
