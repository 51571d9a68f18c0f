//! What a key is (its JSON Web Key type, as Azure names it) and what it may be used for.

use crate::Invalid;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A key's type as Azure names it: the JSON Web Key type, with `-HSM` for keys asked to be hardware-protected
/// (kept as asked; Keyhaven protects every key the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `RSA`: an RSA key pair.
    Rsa,
    /// `RSA-HSM`: an RSA key pair asked to be hardware-protected.
    RsaHsm,
    /// `EC`: an elliptic-curve key pair.
    Ec,
    /// `EC-HSM`: an elliptic-curve key pair asked to be hardware-protected.
    EcHsm,
    /// `oct`: a symmetric key (an octet sequence).
    Oct,
    /// `oct-HSM`: a symmetric key asked to be hardware-protected.
    OctHsm,
}

impl KeyKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [KeyKind; 6] = [
        KeyKind::Rsa,
        KeyKind::RsaHsm,
        KeyKind::Ec,
        KeyKind::EcHsm,
        KeyKind::Oct,
        KeyKind::OctHsm,
    ];

    /// `RSA`, `RSA-HSM`, `EC`, `EC-HSM`, `oct`, `oct-HSM`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::RsaHsm => "RSA-HSM",
            KeyKind::Ec => "EC",
            KeyKind::EcHsm => "EC-HSM",
            KeyKind::Oct => "oct",
            KeyKind::OctHsm => "oct-HSM",
        }
    }

    /// Whether the key was asked to be hardware-protected.
    pub fn hsm(self) -> bool {
        matches!(self, KeyKind::RsaHsm | KeyKind::EcHsm | KeyKind::OctHsm)
    }

    /// The same family, hardware-protected or not.
    pub fn with_hsm(self, hsm: bool) -> KeyKind {
        match (self, hsm) {
            (KeyKind::Rsa | KeyKind::RsaHsm, false) => KeyKind::Rsa,
            (KeyKind::Rsa | KeyKind::RsaHsm, true) => KeyKind::RsaHsm,
            (KeyKind::Ec | KeyKind::EcHsm, false) => KeyKind::Ec,
            (KeyKind::Ec | KeyKind::EcHsm, true) => KeyKind::EcHsm,
            (KeyKind::Oct | KeyKind::OctHsm, false) => KeyKind::Oct,
            (KeyKind::Oct | KeyKind::OctHsm, true) => KeyKind::OctHsm,
        }
    }

    /// Whether this is an RSA key, hardware-protected or not.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyKind::Rsa | KeyKind::RsaHsm)
    }

    /// Whether this is an elliptic-curve key, hardware-protected or not.
    pub fn is_ec(self) -> bool {
        matches!(self, KeyKind::Ec | KeyKind::EcHsm)
    }

    /// Whether this is a symmetric key, hardware-protected or not.
    pub fn is_oct(self) -> bool {
        matches!(self, KeyKind::Oct | KeyKind::OctHsm)
    }
}

impl FromStr for KeyKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        KeyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Invalid(format!(
                    "Unknown key type '{}'. Supported: RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM.",
                    s.chars().take(20).collect::<String>()
                ))
            })
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation a key may be used for (a key's `key_ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyOp {
    /// `encrypt`: encrypt data with the key.
    Encrypt,
    /// `decrypt`: decrypt data with the key.
    Decrypt,
    /// `sign`: sign a digest with the key.
    Sign,
    /// `verify`: verify a signature with the key.
    Verify,
    /// `wrapKey`: encrypt (wrap) another key with this one.
    WrapKey,
    /// `unwrapKey`: decrypt (unwrap) a key wrapped with this one.
    UnwrapKey,
    /// `import`: accepted and kept as Azure allows it; no Keyhaven operation checks it.
    Import,
    /// `export`: accepted and kept as Azure allows it; no Keyhaven operation checks it.
    Export,
}

impl KeyOp {
    /// Every operation, in the order error messages list them.
    pub const ALL: [KeyOp; 8] = [
        KeyOp::Encrypt,
        KeyOp::Decrypt,
        KeyOp::Sign,
        KeyOp::Verify,
        KeyOp::WrapKey,
        KeyOp::UnwrapKey,
        KeyOp::Import,
        KeyOp::Export,
    ];

    /// `encrypt`, `decrypt`, `sign`, `verify`, `wrapKey`, `unwrapKey`, `import`, `export`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOp::Encrypt => "encrypt",
            KeyOp::Decrypt => "decrypt",
            KeyOp::Sign => "sign",
            KeyOp::Verify => "verify",
            KeyOp::WrapKey => "wrapKey",
            KeyOp::UnwrapKey => "unwrapKey",
            KeyOp::Import => "import",
            KeyOp::Export => "export",
        }
    }

    /// Parses a list of operations as clients send them (any case; each named once, in first-seen order).
    pub fn parse_list<S: AsRef<str>>(ops: &[S]) -> Result<Vec<KeyOp>, Invalid> {
        let mut out = Vec::new();
        for op in ops {
            let op: KeyOp = op.as_ref().parse()?;
            if !out.contains(&op) {
                out.push(op);
            }
        }
        Ok(out)
    }
}

/// Case-insensitive, as SDKs vary (`wrapkey`, `wrapKey`).
impl FromStr for KeyOp {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        KeyOp::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Invalid(format!(
                    "Unknown key operation '{}'. Valid: encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import, \
                     export.",
                    s.chars().take(40).collect::<String>()
                ))
            })
    }
}

impl fmt::Display for KeyOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! serde_by_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse()
                    .map_err(|e: Invalid| serde::de::Error::custom(e.0))
            }
        }
    };
}

serde_by_str!(KeyKind);
serde_by_str!(KeyOp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in KeyKind::ALL {
            assert_eq!(k.as_str().parse::<KeyKind>(), Ok(k));
            assert!(k.with_hsm(true).hsm());
            assert_eq!(k.with_hsm(false).with_hsm(k.hsm()), k);
        }
        assert!(
            "rsa".parse::<KeyKind>().is_err(),
            "key types are case-sensitive"
        );
        for o in KeyOp::ALL {
            assert_eq!(o.as_str().to_uppercase().parse::<KeyOp>(), Ok(o));
        }
        assert_eq!(
            KeyOp::parse_list(&["sign", "SIGN", "verify"]),
            Ok(vec![KeyOp::Sign, KeyOp::Verify])
        );
        assert!(KeyOp::parse_list(&["fly"]).is_err());
    }
}
