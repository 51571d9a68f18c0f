use crate::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A vault name: 3–24 characters, letters, digits and dashes, starting with a letter, ending with a letter or
/// digit, without consecutive dashes (Azure's rule). Vault names are DNS labels, so they are kept in lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VaultName(String);

impl VaultName {
    /// Checks `s` against Azure's rule and folds it to lower case. The error quotes at most 130 printable
    /// characters of the input.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(format!(
                "The vault name '{}' is invalid: a vault name is 3-24 characters of letters, digits and dashes, \
                 starts with a letter, ends with a letter or digit and has no consecutive dashes.",
                printable(s)
            ))
        };
        let len = s.len();
        if !(3..=24).contains(&len) || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad());
        }
        let first = s.as_bytes()[0];
        let last = s.as_bytes()[len - 1];
        if !first.is_ascii_alphabetic() || last == b'-' || s.contains("--") {
            return Err(bad());
        }
        Ok(VaultName(s.to_ascii_lowercase()))
    }

    /// The name in lower case, as it appears in the vault's host name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VaultName {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        VaultName::parse(&s)
    }
}
impl From<VaultName> for String {
    fn from(v: VaultName) -> String {
        v.0
    }
}
impl fmt::Display for VaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for VaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VaultName({})", self.0)
    }
}

/// The name of a secret, key or certificate: 1–127 of `0-9a-zA-Z-`. Names compare case-insensitively (as in
/// Azure) but keep the spelling they were created with.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectName(String);

impl ObjectName {
    /// Checks `s` against the naming rule, keeping its spelling. The error quotes at most 130 printable
    /// characters of the input.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty()
            || s.len() > 127
            || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Invalid::new(format!(
                "The object name '{}' is invalid: names are 1-127 characters of 0-9, a-z, A-Z and '-'.",
                printable(s)
            )));
        }
        Ok(ObjectName(s.to_owned()))
    }

    /// The spelling the object was created with.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for identity and storage keys.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for ObjectName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for ObjectName {}
impl TryFrom<String> for ObjectName {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        ObjectName::parse(&s)
    }
}
impl From<ObjectName> for String {
    fn from(v: ObjectName) -> String {
        v.0
    }
}
impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectName({})", self.0)
    }
}

/// An object version: 32 lower-case hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

impl Version {
    /// Checks that `s` is 32 hexadecimal characters of either case, and folds it to lower case.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Invalid::new(format!(
                "The version '{}' is invalid: a version is 32 hexadecimal characters.",
                printable(s)
            )));
        }
        Ok(Version(s.to_ascii_lowercase()))
    }

    /// Builds a version from 16 random bytes (the caller supplies the randomness).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut s = String::with_capacity(32);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Version(s)
    }

    /// The version's 32 lower-case hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Version {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Version::parse(&s)
    }
}
impl From<Version> for String {
    fn from(v: Version) -> String {
        v.0
    }
}
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.0)
    }
}

/// The three kinds of vault object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// A secret: a string value of at most [`MAX_SECRET_VALUE_BYTES`](crate::MAX_SECRET_VALUE_BYTES) bytes.
    Secret,
    /// A cryptographic key (RSA, EC or symmetric), used through key operations.
    Key,
    /// A certificate, which manages a key and a secret of its own name (see
    /// [`managed_kinds`](ObjectKind::managed_kinds)).
    Certificate,
}

impl ObjectKind {
    /// Every kind, in the order of their [`code`](ObjectKind::code)s.
    pub const ALL: [ObjectKind; 3] = [ObjectKind::Secret, ObjectKind::Key, ObjectKind::Certificate];

    /// The lower-case word (`secret`, `key`, `certificate`), as in the kind's serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Secret => "secret",
            ObjectKind::Key => "key",
            ObjectKind::Certificate => "certificate",
        }
    }

    /// The capitalised word Azure uses in messages ("Secret", "Key", "Certificate").
    pub fn title(self) -> &'static str {
        match self {
            ObjectKind::Secret => "Secret",
            ObjectKind::Key => "Key",
            ObjectKind::Certificate => "Certificate",
        }
    }

    /// A stable one-byte code, used in binary formats.
    pub fn code(self) -> u8 {
        match self {
            ObjectKind::Secret => 1,
            ObjectKind::Key => 2,
            ObjectKind::Certificate => 3,
        }
    }

    /// The kind with this [`code`](ObjectKind::code), or `None` for a byte that is no kind's code.
    pub fn from_code(code: u8) -> Option<Self> {
        ObjectKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The kinds of the objects an object of this kind manages under its own name: a certificate manages a key
    /// (its private key) and a secret (its certificate with the key, as PKCS#12 or PEM), as in Azure. They share
    /// its versions, travel with it (delete, recover, purge, backup, restore) and refuse direct changes.
    pub fn managed_kinds(self) -> &'static [ObjectKind] {
        match self {
            ObjectKind::Certificate => &[ObjectKind::Key, ObjectKind::Secret],
            ObjectKind::Secret | ObjectKind::Key => &[],
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Echoes caller input in messages safely: short, printable ASCII only.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(130)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if s.chars().count() > 130 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_follow_azure_rules() {
        assert!(VaultName::parse("abc").is_ok());
        assert_eq!(
            VaultName::parse("My-Vault1").map(|v| v.to_string()),
            Ok("my-vault1".into())
        );
        for bad in [
            "ab",
            "1abc",
            "abc-",
            "a--b",
            "a_b",
            "abcdefghijklmnopqrstuvwxy",
            "",
        ] {
            assert!(VaultName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_names_and_versions() {
        assert!(ObjectName::parse("a").is_ok());
        assert!(ObjectName::parse(&"a".repeat(127)).is_ok());
        assert!(ObjectName::parse(&"a".repeat(128)).is_err());
        assert!(ObjectName::parse("a b").is_err());
        assert!(ObjectName::parse("").is_err());
        assert_eq!(ObjectName::parse("AbC").map(|n| n.key()), Ok("abc".into()));
        assert!(Version::parse("0123456789abcdef0123456789ABCDEF").is_ok());
        assert!(Version::parse("xyz").is_err());
        assert_eq!(Version::from_bytes([0xab; 16]).as_str(), "ab".repeat(16));
    }
}
