use crate::CryptoError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes a client secret with argon2id (the crate's defaults: 19 MiB, 2 passes) into a PHC string.
pub fn hash_client_secret(secret: &str) -> Result<String, CryptoError> {
    let salt_bytes = crate::random_bytes::<16>()?;
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| CryptoError::Library(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Library(e.to_string()))
}

/// Checks a client secret against its PHC hash; the final comparison is constant-time.
pub fn verify_client_secret(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() -> Result<(), CryptoError> {
        let h = hash_client_secret("correct horse")?;
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_client_secret("correct horse", &h));
        assert!(!verify_client_secret("correct hors", &h));
        assert!(!verify_client_secret("correct horse", "garbage"));
        Ok(())
    }
}
