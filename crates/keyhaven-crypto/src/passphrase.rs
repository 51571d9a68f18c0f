use crate::{CryptoError, SealingKey};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"KHPASS01";
const SALT_LEN: usize = 16;
// argon2id, 64 MiB, 3 passes: an exported key is an offline target, so the passphrase gets a slow KDF.
const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;

fn derive(passphrase: &str, salt: &[u8]) -> Result<SealingKey, CryptoError> {
    let params = Params::new(M_COST_KIB, T_COST, 1, Some(32))
        .map_err(|e| CryptoError::Library(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out[..])
        .map_err(|e| CryptoError::Library(e.to_string()))?;
    SealingKey::from_bytes(&out[..])
}

/// Encrypts `plaintext` under a key derived from `passphrase` (argon2id), bound to `context`.
/// Layout: `KHPASS01 ‖ salt(16) ‖ nonce ‖ ciphertext ‖ tag`.
pub fn seal_with_passphrase(
    passphrase: &str,
    context: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if passphrase.is_empty() {
        return Err(CryptoError::Malformed("the passphrase is empty".into()));
    }
    let salt = crate::random_bytes::<SALT_LEN>()?;
    let key = derive(passphrase, &salt)?;
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(context);
    let sealed = key.seal(&aad, plaintext)?;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&salt);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Reverses [`seal_with_passphrase`]; a wrong passphrase, context or altered data gives `Unauthentic`.
pub fn open_with_passphrase(
    passphrase: &str,
    context: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if data.len() < MAGIC.len() + SALT_LEN || &data[..MAGIC.len()] != MAGIC {
        return Err(CryptoError::Malformed(
            "not a Keyhaven passphrase-protected export".into(),
        ));
    }
    let salt = &data[MAGIC.len()..MAGIC.len() + SALT_LEN];
    let key = derive(passphrase, salt)?;
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(context);
    key.open(&aad, &data[MAGIC.len() + SALT_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() -> Result<(), CryptoError> {
        let blob = seal_with_passphrase("pass phrase", b"geo", b"key material")?;
        assert_eq!(
            &open_with_passphrase("pass phrase", b"geo", &blob)?[..],
            b"key material"
        );
        assert!(matches!(
            open_with_passphrase("wrong", b"geo", &blob),
            Err(CryptoError::Unauthentic)
        ));
        assert!(open_with_passphrase("pass phrase", b"geo", b"junk").is_err());
        Ok(())
    }
}
