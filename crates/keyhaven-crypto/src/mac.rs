//! Message authentication codes.

use crate::CryptoError;
use aws_lc_rs::hmac;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoError> {
    let pkey = PKey::hmac(key).map_err(CryptoError::openssl)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).map_err(CryptoError::openssl)?;
    signer.update(data).map_err(CryptoError::openssl)?;
    let mac = signer.sign_to_vec().map_err(CryptoError::openssl)?;
    mac.as_slice()
        .try_into()
        .map_err(|_| CryptoError::Library("HMAC-SHA256 gave an unexpected length".into()))
}

/// A prepared HMAC-SHA256 key (the pads computed once), for authenticating many short records.
#[derive(Clone)]
pub struct MacKey(hmac::Key);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

impl MacKey {
    /// A key from secret bytes.
    pub fn new(key: &[u8]) -> MacKey {
        MacKey(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The HMAC-SHA256 of the concatenation of `parts`.
    pub fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether `tag` is the HMAC-SHA256 of `parts` (compared in constant time).
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        crate::constant_time_eq(&self.tag(parts), tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2, through both interfaces.
    #[test]
    fn known_answer() {
        let key = MacKey::new(b"Jefe");
        let tag = key.tag(&[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            crate::hex(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(key.verify(&[b"what do ya want for nothing?"], &tag));
        assert!(!key.verify(&[b"what do ya want for nothing!"], &tag));
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            crate::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
