use crate::CryptoError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// Signs and verifies the server's access tokens (JWT, RS256) and publishes the public key as a JWKS.
pub struct TokenSigner {
    key: PKey<Private>,
    kid: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSigner(kid={})", self.kid)
    }
}

impl TokenSigner {
    /// A signer with a new 2048-bit RSA key.
    pub fn generate() -> Result<Self, CryptoError> {
        let rsa = Rsa::generate(2048).map_err(CryptoError::openssl)?;
        Self::from_key(PKey::from_rsa(rsa).map_err(CryptoError::openssl)?)
    }

    /// A signer over a stored RSA private key in PEM (as written by [`to_pem`](TokenSigner::to_pem)).
    pub fn from_pem(pem: &[u8]) -> Result<Self, CryptoError> {
        Self::from_key(PKey::private_key_from_pem(pem).map_err(CryptoError::openssl)?)
    }

    fn from_key(key: PKey<Private>) -> Result<Self, CryptoError> {
        let der = key.public_key_to_der().map_err(CryptoError::openssl)?;
        let kid = B64.encode(&crate::sha256(&der)[..12]);
        Ok(TokenSigner { key, kid })
    }

    /// The private key as PKCS#8 PEM, for storing it; zeroized on drop.
    pub fn to_pem(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Ok(Zeroizing::new(
            self.key
                .private_key_to_pem_pkcs8()
                .map_err(CryptoError::openssl)?,
        ))
    }

    /// The key id put in every token header and the JWKS: base64url of the first 12 bytes of the SHA-256 of
    /// the public key's DER, so it is stable for a given key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JSON Web Key Set.
    pub fn jwks(&self) -> Result<Value, CryptoError> {
        let rsa = self.key.rsa().map_err(CryptoError::openssl)?;
        Ok(json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(rsa.e().to_vec()),
        }]}))
    }

    /// A compact JWS over `claims`.
    pub fn sign(&self, claims: &Value) -> Result<String, CryptoError> {
        self.sign_with_header(
            json!({"typ": "JWT", "alg": "RS256", "kid": self.kid}),
            claims,
        )
    }

    /// A compact JWS (RS256) over `payload` whose header also carries `extra` (e.g. `jku`, where the key is
    /// published); `alg` and `kid` are always this signer's.
    pub fn sign_jws(&self, extra: &Value, payload: &Value) -> Result<String, CryptoError> {
        let mut header = json!({"alg": "RS256", "kid": self.kid});
        if let (Some(h), Some(e)) = (header.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if k != "alg" && k != "kid" {
                    h.insert(k.clone(), v.clone());
                }
            }
        }
        self.sign_with_header(header, payload)
    }

    fn sign_with_header(&self, header: Value, claims: &Value) -> Result<String, CryptoError> {
        let mut out = B64.encode(header.to_string());
        out.push('.');
        out.push_str(&B64.encode(claims.to_string()));
        let mut signer =
            Signer::new(MessageDigest::sha256(), &self.key).map_err(CryptoError::openssl)?;
        signer
            .update(out.as_bytes())
            .map_err(CryptoError::openssl)?;
        let sig = signer.sign_to_vec().map_err(CryptoError::openssl)?;
        out.push('.');
        out.push_str(&B64.encode(sig));
        Ok(out)
    }

    /// Checks the signature, algorithm and key id of a token and returns its claims. Expiry, audience and issuer
    /// are the caller's to check.
    pub fn verify(&self, token: &str) -> Result<Value, CryptoError> {
        let bad = |m: &str| CryptoError::Malformed(m.to_string());
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("a token has three dot-separated parts"));
        };
        let header: Value = serde_json::from_slice(
            &B64.decode(h)
                .map_err(|_| bad("token header is not base64url"))?,
        )
        .map_err(|_| bad("token header is not JSON"))?;
        if header["alg"] != "RS256" || header["kid"] != self.kid.as_str() {
            return Err(CryptoError::Unauthentic);
        }
        let sig = B64
            .decode(s)
            .map_err(|_| bad("token signature is not base64url"))?;
        let mut v =
            Verifier::new(MessageDigest::sha256(), &self.key).map_err(CryptoError::openssl)?;
        v.update(&token.as_bytes()[..h.len() + 1 + c.len()])
            .map_err(CryptoError::openssl)?;
        if !v.verify(&sig).unwrap_or(false) {
            return Err(CryptoError::Unauthentic);
        }
        serde_json::from_slice(
            &B64.decode(c)
                .map_err(|_| bad("token claims are not base64url"))?,
        )
        .map_err(|_| bad("token claims are not JSON"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_forgery() -> Result<(), CryptoError> {
        let s = TokenSigner::generate()?;
        let t = s.sign(&json!({"sub": "a", "exp": 5}))?;
        assert_eq!(s.verify(&t)?["sub"], "a");
        let other = TokenSigner::generate()?;
        assert!(other.verify(&t).is_err());
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(json!({"sub": "b", "exp": 5}).to_string());
        parts[1] = &forged;
        assert!(s.verify(&parts.join(".")).is_err());
        let again = TokenSigner::from_pem(&s.to_pem()?)?;
        assert_eq!(again.kid(), s.kid());
        assert!(again.verify(&t).is_ok());
        Ok(())
    }
}
