//! Access tokens: RS256 JWTs the server issues at its OAuth2 token endpoint and checks on every request.
//! Checked tokens are remembered (by SHA-256) until they expire, so the signature is verified once per token.

use crate::token_limits::TokenLimits;
use keyhaven_core::Authenticated;
use keyhaven_crypto::TokenSigner;
use keyhaven_model::Clock;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CACHE_LIMIT: usize = 16_384;

/// Why a token was refused (never shown in detail to the caller beyond the envelope message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed or its signature is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token was issued for another audience")]
    WrongAudience,
}

/// What an access token says (the claims Azure's tokens carry that clients and Keyhaven read).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    /// The principal's object id (as in Azure's app tokens).
    sub: String,
    oid: String,
    appid: String,
    azp: String,
    tid: String,
    idtyp: String,
    ver: String,
    jti: String,
    /// The client secret the token was obtained with: removing it revokes the token.
    kh_sec: String,
}

/// Who a valid token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub client_id: String,
    pub object_id: String,
    pub secret_id: String,
}

#[derive(Clone)]
struct Checked {
    identity: TokenIdentity,
    nbf: i64,
    exp: i64,
    audience: String,
}

/// What a [`TokenService`] is made of that start-up prepares: the signing key, and the token endpoint's
/// protections (made from the configuration).
pub(crate) struct TokenSetup {
    pub signer: TokenSigner,
    pub limits: TokenLimits,
}

pub struct TokenService {
    signer: TokenSigner,
    limits: TokenLimits,
    clock: Arc<dyn Clock>,
    tenant: String,
    lifetime: i64,
    cache: Mutex<HashMap<[u8; 32], Checked>>,
}

impl TokenService {
    pub(crate) fn new(
        setup: TokenSetup,
        clock: Arc<dyn Clock>,
        tenant: String,
        lifetime: i64,
    ) -> Self {
        TokenService {
            signer: setup.signer,
            limits: setup.limits,
            clock,
            tenant,
            lifetime,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The token endpoint's protections (failure limits, verified credentials, bounded secret checks).
    pub(crate) fn limits(&self) -> &TokenLimits {
        &self.limits
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn lifetime(&self) -> i64 {
        self.lifetime
    }

    pub fn jwks(&self) -> Result<Value, keyhaven_crypto::CryptoError> {
        self.signer.jwks()
    }

    /// A compact JWS over `payload` with the token signing key (verifiable with [`jwks`](Self::jwks)); `extra`
    /// adds header members.
    pub fn sign_jws(
        &self,
        extra: &Value,
        payload: &Value,
    ) -> Result<String, keyhaven_crypto::CryptoError> {
        self.signer.sign_jws(extra, payload)
    }

    /// Issues a token for `who`, for `audience` (the resource the client asked a scope of).
    pub fn issue(
        &self,
        who: &Authenticated,
        audience: &str,
        issuer: &str,
    ) -> Result<String, keyhaven_crypto::CryptoError> {
        let now = self.clock.now();
        let claims = Claims {
            aud: audience.to_string(),
            iss: issuer.to_string(),
            iat: now,
            nbf: now - 300,
            exp: now + self.lifetime,
            sub: who.object_id.clone(),
            oid: who.object_id.clone(),
            appid: who.client_id.clone(),
            azp: who.client_id.clone(),
            tid: self.tenant.clone(),
            idtyp: "app".into(),
            ver: "2.0".into(),
            jti: keyhaven_crypto::random_uuid()?,
            kh_sec: who.secret_id.clone(),
        };
        let claims = serde_json::to_value(&claims)
            .map_err(|e| keyhaven_crypto::CryptoError::Library(e.to_string()))?;
        self.signer.sign(&claims)
    }

    /// Checks a token; `audience_ok` decides whether its audience may call what is being called.
    pub fn validate(
        &self,
        token: &str,
        audience_ok: impl Fn(&str) -> bool,
    ) -> Result<TokenIdentity, TokenError> {
        let digest = keyhaven_crypto::sha256(token.as_bytes());
        let cached = self.cache.lock().ok().and_then(|c| c.get(&digest).cloned());
        let checked = match cached {
            Some(c) => c,
            None => {
                let c = self.check_signature(token)?;
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= CACHE_LIMIT {
                        let now = self.clock.now();
                        cache.retain(|_, v| v.exp > now);
                        if cache.len() >= CACHE_LIMIT {
                            cache.clear();
                        }
                    }
                    cache.insert(digest, c.clone());
                }
                c
            }
        };
        let now = self.clock.now();
        if now >= checked.exp {
            return Err(TokenError::Expired);
        }
        if now < checked.nbf {
            return Err(TokenError::NotYetValid);
        }
        if !audience_ok(&checked.audience) {
            return Err(TokenError::WrongAudience);
        }
        Ok(checked.identity)
    }

    fn check_signature(&self, token: &str) -> Result<Checked, TokenError> {
        let claims = self.signer.verify(token).map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_value(claims).map_err(|_| TokenError::Invalid)?;
        if claims.tid != self.tenant {
            return Err(TokenError::Invalid);
        }
        Ok(Checked {
            identity: TokenIdentity {
                client_id: claims.appid,
                object_id: claims.oid,
                secret_id: claims.kh_sec,
            },
            nbf: claims.nbf,
            exp: claims.exp,
            audience: claims.aud,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_model::ManualClock;

    fn setup() -> TokenSetup {
        TokenSetup {
            signer: TokenSigner::generate().unwrap(),
            limits: TokenLimits::new(&crate::Config::with_data_dir("/x".as_ref()).token_limits())
                .unwrap(),
        }
    }

    #[test]
    fn expiry_audience_and_forgery() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let svc = TokenService::new(setup(), clock.clone(), "t".into(), 3599);
        let p = Authenticated {
            client_id: "c".into(),
            object_id: "o".into(),
            secret_id: "s".into(),
        };
        let tok = svc
            .issue(
                &p,
                "https://vault.localhost:8443",
                "https://localhost/t/v2.0",
            )
            .unwrap();
        let vault_aud = |a: &str| a.starts_with("https://vault.localhost");
        assert_eq!(
            svc.validate(&tok, vault_aud).unwrap(),
            TokenIdentity {
                client_id: "c".into(),
                object_id: "o".into(),
                secret_id: "s".into()
            }
        );
        assert_eq!(
            svc.validate(&tok, |_| false),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(svc.validate("a.b.c", vault_aud), Err(TokenError::Invalid));
        let other = TokenService::new(setup(), clock.clone(), "t".into(), 3599);
        assert_eq!(other.validate(&tok, vault_aud), Err(TokenError::Invalid));
        clock.advance(3600);
        assert_eq!(svc.validate(&tok, vault_aud), Err(TokenError::Expired));
    }
}
