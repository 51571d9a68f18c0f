use crate::CryptoError;
use openssl::bn::BigNum;
use serde::{Deserialize, Serialize};

/// A JSON Web Key (RFC 7517) as Azure Key Vault uses it. Byte fields are raw bytes here; serde writes them as
/// unpadded base64url and reads padded or unpadded. Private fields are zeroized on drop and never shown by
/// `Debug`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA`, `EC`, `oct` (or their `-HSM` variants).
    pub kty: String,
    /// EC: the curve (`P-256`, `P-384`, `P-521`, `P-256K`).
    pub crv: Option<String>,
    /// RSA: the modulus.
    #[serde(default, with = "b64")]
    pub n: Option<Vec<u8>>,
    /// RSA: the public exponent.
    #[serde(default, with = "b64")]
    pub e: Option<Vec<u8>>,
    /// EC: the public point's x coordinate.
    #[serde(default, with = "b64")]
    pub x: Option<Vec<u8>>,
    /// EC: the public point's y coordinate.
    #[serde(default, with = "b64")]
    pub y: Option<Vec<u8>>,
    /// Private. RSA: the private exponent; EC: the private scalar.
    #[serde(default, with = "b64")]
    pub d: Option<Vec<u8>>,
    /// Private, RSA: the first prime factor.
    #[serde(default, with = "b64")]
    pub p: Option<Vec<u8>>,
    /// Private, RSA: the second prime factor.
    #[serde(default, with = "b64")]
    pub q: Option<Vec<u8>>,
    /// Private, RSA: the first factor's CRT exponent, `d mod (p - 1)`.
    #[serde(default, with = "b64")]
    pub dp: Option<Vec<u8>>,
    /// Private, RSA: the second factor's CRT exponent, `d mod (q - 1)`.
    #[serde(default, with = "b64")]
    pub dq: Option<Vec<u8>>,
    /// Private, RSA: the CRT coefficient, `q⁻¹ mod p`.
    #[serde(default, with = "b64")]
    pub qi: Option<Vec<u8>>,
    /// Private, oct: the symmetric key itself.
    #[serde(default, with = "b64")]
    pub k: Option<Vec<u8>>,
}

impl Jwk {
    /// Drops every private field, leaving the public key.
    pub fn public_only(mut self) -> Jwk {
        use zeroize::Zeroize;
        for f in [
            &mut self.d,
            &mut self.p,
            &mut self.q,
            &mut self.dp,
            &mut self.dq,
            &mut self.qi,
            &mut self.k,
        ] {
            if let Some(v) = f.as_mut() {
                v.zeroize();
            }
            *f = None;
        }
        self
    }

    /// Whether the JWK holds private material (`d` or `k`).
    pub fn has_private(&self) -> bool {
        self.d.is_some() || self.k.is_some()
    }

    /// An empty JWK of key type `kty`.
    pub(super) fn of_type(kty: &str) -> Jwk {
        Jwk {
            kty: kty.to_string(),
            crv: None,
            n: None,
            e: None,
            x: None,
            y: None,
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            k: None,
        }
    }
}

/// A public big integer (unsigned big-endian; leading zero bytes are accepted).
pub(super) fn public_bn(bytes: &[u8]) -> Result<BigNum, CryptoError> {
    BigNum::from_slice(bytes).map_err(CryptoError::openssl)
}

/// A private big integer, held in a `BigNum` that OpenSSL wipes when it is freed.
pub(super) fn secret_bn(bytes: &[u8]) -> Result<BigNum, CryptoError> {
    let mut bn = BigNum::new_secure().map_err(CryptoError::openssl)?;
    bn.copy_from_slice(bytes).map_err(CryptoError::openssl)?;
    Ok(bn)
}

impl Drop for Jwk {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for f in [
            &mut self.d,
            &mut self.p,
            &mut self.q,
            &mut self.dp,
            &mut self.dq,
            &mut self.qi,
            &mut self.k,
        ] {
            if let Some(v) = f.as_mut() {
                v.zeroize();
            }
        }
    }
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Jwk(kty={}, crv={:?}, private={})",
            self.kty,
            self.crv,
            self.has_private()
        )
    }
}

mod b64 {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    // The base64 text of a private field is as secret as its bytes, so it is wiped too.

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&Zeroizing::new(URL_SAFE_NO_PAD.encode(b))),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let s = Zeroizing::new(s);
        let s = s.trim();
        URL_SAFE_NO_PAD
            .decode(s)
            .or_else(|_| URL_SAFE.decode(s))
            .or_else(|_| STANDARD.decode(s))
            .map(Some)
            .map_err(|_| serde::de::Error::custom("a JWK field is not valid base64url"))
    }
}
