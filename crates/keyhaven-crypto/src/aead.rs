use crate::CryptoError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// The length of a [`SealingKey`] in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// The length of the random nonce that starts every sealed value, in bytes.
pub const NONCE_LEN: usize = 12;
/// The length of the GCM authentication tag that ends every sealed value, in bytes.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key. Every seal binds associated data naming what the ciphertext is for, so a ciphertext moved
/// to another place (vault, object, version, purpose) fails to open. The raw bytes are zeroized on drop; the
/// expanded key lives in aws-lc, which cleanses it when the last clone is dropped.
#[derive(Clone)]
pub struct SealingKey {
    raw: Zeroizing<[u8; KEY_LEN]>,
    aead: Arc<LessSafeKey>,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// A fresh random key from aws-lc's CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        crate::fill_random(&mut raw[..])?;
        Self::from_array(raw)
    }

    /// A key from its raw bytes (as unwrapped or read from protected storage); fails unless there are exactly
    /// [`KEY_LEN`] of them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            CryptoError::Malformed(format!("a key is {KEY_LEN} bytes, not {}", bytes.len()))
        })?;
        Self::from_array(Zeroizing::new(arr))
    }

    fn from_array(raw: Zeroizing<[u8; KEY_LEN]>) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &raw[..])
            .map_err(|_| CryptoError::Malformed("an AES-256-GCM key was refused".into()))?;
        Ok(SealingKey {
            raw,
            aead: Arc::new(LessSafeKey::new(unbound)),
        })
    }

    /// The raw key bytes, for wrapping under another key.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.raw
    }

    /// Encrypts with a fresh random nonce: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::fill_random(&mut nonce)?;
        self.seal_with_nonce(&nonce, aad, plaintext)
    }

    /// Encrypts with the given nonce (which must never repeat under this key).
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| CryptoError::Library("AES-256-GCM sealing failed".into()))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts and authenticates `nonce ‖ ciphertext ‖ tag`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Unauthentic);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Unauthentic)?;
        // Decrypted in place in a buffer that is zeroized whatever the outcome.
        let mut buf = Zeroizing::new(rest.to_vec());
        let n = self
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf[..],
            )
            .map_err(|_| CryptoError::Unauthentic)?
            .len();
        buf.truncate(n);
        Ok(buf)
    }

    /// Wraps another key under this one, bound to `aad`.
    pub fn wrap(&self, aad: &[u8], key: &SealingKey) -> Result<Vec<u8>, CryptoError> {
        self.seal(aad, &key.raw[..])
    }

    /// Unwraps a key sealed by [`SealingKey::wrap`] with the same `aad`.
    pub fn unwrap_key(&self, aad: &[u8], wrapped: &[u8]) -> Result<SealingKey, CryptoError> {
        let mut raw = self.open(aad, wrapped)?;
        let k = SealingKey::from_bytes(&raw);
        raw.zeroize();
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SealingKey {
        SealingKey::from_array(Zeroizing::new([b; KEY_LEN])).unwrap()
    }

    #[test]
    fn round_trip_and_binding() -> Result<(), CryptoError> {
        let k = key(7);
        let ct = k.seal(b"vault|secret|a|v1", b"hunter2")?;
        assert_eq!(&k.open(b"vault|secret|a|v1", &ct)?[..], b"hunter2");
        assert!(matches!(
            k.open(b"vault|secret|b|v1", &ct),
            Err(CryptoError::Unauthentic)
        ));
        assert!(matches!(
            key(8).open(b"vault|secret|a|v1", &ct),
            Err(CryptoError::Unauthentic)
        ));
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 1;
            assert!(k.open(b"vault|secret|a|v1", &bad).is_err());
        }
        for n in 0..ct.len() {
            assert!(k.open(b"vault|secret|a|v1", &ct[..n]).is_err());
        }
        Ok(())
    }

    /// NIST SP 800-38D / the GCM spec's test case 16 (AES-256, 60-byte plaintext, 20-byte AAD, 96-bit IV).
    #[test]
    fn aes_256_gcm_known_answer() -> Result<(), CryptoError> {
        let hx = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
                .collect()
        };
        let k = SealingKey::from_bytes(&hx(
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        ))?;
        let iv: [u8; 12] = hx("cafebabefacedbaddecaf888")
            .try_into()
            .map_err(|_| CryptoError::Unauthentic)?;
        let pt = hx("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let aad = hx("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let out = k.seal_with_nonce(&iv, &aad, &pt)?;
        let expect_ct = hx("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
        let expect_tag = hx("76fc6ece0f4e1768cddf8853bb2d551b");
        assert_eq!(&out[12..out.len() - 16], &expect_ct[..]);
        assert_eq!(&out[out.len() - 16..], &expect_tag[..]);
        Ok(())
    }
}
