//! Message authentication codes.

use crate::CryptoError;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2.
    #[test]
    fn known_answer() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            crate::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
