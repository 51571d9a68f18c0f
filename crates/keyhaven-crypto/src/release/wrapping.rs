//! The wrapping of a released key (PKCS#11's `CKM_RSA_AES_KEY_WRAP`, as Azure's secure key release uses it): a
//! fresh AES-256 key is encrypted with RSA-OAEP under the attested environment's public key, and the released
//! key (PKCS#8 DER for RSA and EC, the raw bytes for oct) is wrapped under that AES key with AES Key Wrap with
//! Padding (RFC 5649). The result is the RSA ciphertext followed by the AES-KWP ciphertext.

use super::attestation::rsa_public;
use crate::keys::Jwk;
use crate::CryptoError;
use openssl::cipher::Cipher;
use openssl::cipher_ctx::{CipherCtx, CipherCtxFlags};
use openssl::hash::MessageDigest;
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use zeroize::Zeroizing;

/// How a released key is wrapped (the `enc` of a release request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseWrapping {
    /// `CKM_RSA_AES_KEY_WRAP`: RSA-OAEP with SHA-1 (PKCS#11's default), then AES-256 KWP.
    CkmRsaAesKeyWrap,
    /// `RSA_AES_KEY_WRAP_256`: RSA-OAEP with SHA-256, then AES-256 KWP.
    RsaAesKeyWrap256,
    /// `RSA_AES_KEY_WRAP_384`: RSA-OAEP with SHA-384, then AES-256 KWP.
    RsaAesKeyWrap384,
}

impl ReleaseWrapping {
    /// Every wrapping, in the order Azure lists them.
    pub const ALL: [ReleaseWrapping; 3] = [
        ReleaseWrapping::CkmRsaAesKeyWrap,
        ReleaseWrapping::RsaAesKeyWrap256,
        ReleaseWrapping::RsaAesKeyWrap384,
    ];

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseWrapping::CkmRsaAesKeyWrap => "CKM_RSA_AES_KEY_WRAP",
            ReleaseWrapping::RsaAesKeyWrap256 => "RSA_AES_KEY_WRAP_256",
            ReleaseWrapping::RsaAesKeyWrap384 => "RSA_AES_KEY_WRAP_384",
        }
    }

    /// The wrapping named `s` (exact, as Azure spells it).
    pub fn parse(s: &str) -> Option<ReleaseWrapping> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    fn oaep_digest(self) -> MessageDigest {
        match self {
            ReleaseWrapping::CkmRsaAesKeyWrap => MessageDigest::sha1(),
            ReleaseWrapping::RsaAesKeyWrap256 => MessageDigest::sha256(),
            ReleaseWrapping::RsaAesKeyWrap384 => MessageDigest::sha384(),
        }
    }
}

/// Wraps `material` for the holder of the private half of `target` (a public RSA JWK of at least 2048 bits).
pub fn wrap_for_release(
    target: &Jwk,
    enc: ReleaseWrapping,
    material: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let pkey = rsa_public(target)?;
    let aes: Zeroizing<[u8; 32]> = Zeroizing::new(crate::random_bytes()?);

    let mut ctx = PkeyCtx::new(&pkey).map_err(CryptoError::openssl)?;
    ctx.encrypt_init().map_err(CryptoError::openssl)?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP)
        .map_err(CryptoError::openssl)?;
    let md = enc.oaep_digest();
    ctx.set_rsa_oaep_md(
        openssl::md::Md::from_nid(md.type_())
            .ok_or_else(|| CryptoError::Library("OAEP digest unavailable".into()))?,
    )
    .map_err(CryptoError::openssl)?;
    ctx.set_rsa_mgf1_md(
        openssl::md::Md::from_nid(md.type_())
            .ok_or_else(|| CryptoError::Library("MGF1 digest unavailable".into()))?,
    )
    .map_err(CryptoError::openssl)?;
    let mut out = Vec::new();
    ctx.encrypt_to_vec(&aes[..], &mut out)
        .map_err(CryptoError::openssl)?;

    let mut kw = CipherCtx::new().map_err(CryptoError::openssl)?;
    kw.set_flags(CipherCtxFlags::FLAG_WRAP_ALLOW);
    kw.encrypt_init(Some(Cipher::aes_256_wrap_pad()), Some(&aes[..]), None)
        .map_err(CryptoError::openssl)?;
    let mut wrapped = Vec::new();
    kw.cipher_update_vec(material, &mut wrapped)
        .map_err(CryptoError::openssl)?;
    kw.cipher_final_vec(&mut wrapped)
        .map_err(CryptoError::openssl)?;
    out.extend_from_slice(&wrapped);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_jwk(n: Vec<u8>, e: Vec<u8>) -> Jwk {
        let mut j = Jwk::default();
        j.kty = "RSA".into();
        j.n = Some(n);
        j.e = Some(e);
        j
    }
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;

    /// Unwraps as a receiver would, with OpenSSL directly.
    fn unwrap(rsa: &Rsa<openssl::pkey::Private>, enc: ReleaseWrapping, blob: &[u8]) -> Vec<u8> {
        let k = rsa.size() as usize;
        let pkey = PKey::from_rsa(rsa.clone()).unwrap();
        let mut ctx = PkeyCtx::new(&pkey).unwrap();
        ctx.decrypt_init().unwrap();
        ctx.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        let md = openssl::md::Md::from_nid(enc.oaep_digest().type_()).unwrap();
        ctx.set_rsa_oaep_md(md).unwrap();
        ctx.set_rsa_mgf1_md(md).unwrap();
        let mut aes = Vec::new();
        ctx.decrypt_to_vec(&blob[..k], &mut aes).unwrap();
        let mut kw = CipherCtx::new().unwrap();
        kw.set_flags(CipherCtxFlags::FLAG_WRAP_ALLOW);
        kw.decrypt_init(Some(Cipher::aes_256_wrap_pad()), Some(&aes), None)
            .unwrap();
        let mut out = Vec::new();
        kw.cipher_update_vec(&blob[k..], &mut out).unwrap();
        kw.cipher_final_vec(&mut out).unwrap();
        out
    }

    #[test]
    fn every_wrapping_round_trips_and_only_for_its_hash() {
        let rsa = Rsa::generate(2048).unwrap();
        let target = rsa_jwk(rsa.n().to_vec(), rsa.e().to_vec());
        let material = b"seventeen bytes!!".to_vec();
        for enc in ReleaseWrapping::ALL {
            let blob = wrap_for_release(&target, enc, &material).unwrap();
            assert_eq!(unwrap(&rsa, enc, &blob), material, "{enc:?}");
            assert_eq!(ReleaseWrapping::parse(enc.as_str()), Some(enc));
        }
        assert_eq!(ReleaseWrapping::parse("rsa_aes_key_wrap_256"), None);
        let small = Rsa::generate(1024).unwrap();
        let weak = rsa_jwk(small.n().to_vec(), small.e().to_vec());
        assert!(wrap_for_release(&weak, ReleaseWrapping::RsaAesKeyWrap256, &material).is_err());
    }
}
