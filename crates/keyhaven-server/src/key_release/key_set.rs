//! An attestation authority's signing keys: a JWKS read from a file or fetched from a URL. Entries are taken
//! with their `kid`; an entry holding only a certificate (`x5c`, as Azure Attestation publishes) gives its public
//! key. Entries of other types are skipped.

use keyhaven_crypto::keys::Jwk;
use serde_json::Value;

/// A JWKS document over this size is refused.
pub(super) const MAX_JWKS_BYTES: usize = 1 << 20;

/// The keys of one JWKS: `(kid, public key)`.
#[derive(Debug, Clone, Default)]
pub(super) struct KeySet {
    pub keys: Vec<(Option<String>, Jwk)>,
}

impl KeySet {
    /// Parses a JWKS (`{"keys": [...]}`); the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<KeySet, String> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(format!("the JWKS is over {MAX_JWKS_BYTES} bytes"));
        }
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the JWKS is not JSON ({e})"))?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWKS has no 'keys' list")?;
        let mut keys = Vec::new();
        for entry in list {
            let kid = entry.get("kid").and_then(Value::as_str).map(String::from);
            let has_public = entry.get("n").is_some() || entry.get("x").is_some();
            let jwk = match (
                has_public,
                entry.get("x5c").and_then(|c| c.get(0)?.as_str()),
            ) {
                (false, Some(cert)) => keyhaven_crypto::release::jwk_from_certificate(cert).ok(),
                _ => serde_json::from_value::<Jwk>(entry.clone()).ok(),
            };
            if let Some(jwk) = jwk.filter(|j| j.kty.starts_with("RSA") || j.kty.starts_with("EC")) {
                keys.push((kid, jwk));
            }
        }
        if keys.is_empty() {
            return Err("the JWKS holds no RSA or EC key".into());
        }
        Ok(KeySet { keys })
    }

    /// The keys a token with header `kid` may be signed with: the one of that kid, or all when it names none.
    pub fn candidates<'a>(&'a self, kid: Option<&'a str>) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys
            .iter()
            .filter(move |(k, _)| kid.is_none() || k.as_deref() == kid)
            .map(|(_, j)| j)
    }

    /// Whether a key of that kid is known (always, for a token that names none, once any key is).
    pub fn knows(&self, kid: Option<&str>) -> bool {
        self.candidates(kid).next().is_some()
    }
}
