//! Symmetric (oct) keys: AES-GCM, AES-CBC with and without PKCS#7 padding, and RFC 3394 AES key wrap.

use super::alg::{aes_name, AesMode};
use super::{Encrypted, Jwk};
use crate::CryptoError;
use openssl::cipher::{Cipher, CipherRef};
use openssl::cipher_ctx::{CipherCtx, CipherCtxFlags};
use zeroize::Zeroizing;

pub(super) const GCM_IV_LEN: usize = 12;
pub(super) const GCM_TAG_LEN: usize = 16;
pub(super) const CBC_IV_LEN: usize = 16;
const BLOCK: usize = 16;
/// Inputs larger than this are refused (OpenSSL takes lengths as `int`).
const MAX_INPUT: usize = 1 << 30;

/// A new AES key of `bits` (128, 192 or 256).
pub(super) fn generate(bits: u32) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if ![128, 192, 256].contains(&bits) {
        return Err(CryptoError::Malformed(format!(
            "AES keys are 128, 192 or 256 bits; {bits} bits were asked for"
        )));
    }
    let mut key = Zeroizing::new(vec![0u8; bits as usize / 8]);
    openssl::rand::rand_bytes(&mut key).map_err(CryptoError::openssl)?;
    Ok(key)
}

/// Imports `k` (16, 24 or 32 bytes).
pub(super) fn from_jwk(jwk: &Jwk) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(k) = jwk.k.as_deref() else {
        return Err(CryptoError::Malformed("an oct JWK needs k".into()));
    };
    if ![16, 24, 32].contains(&k.len()) {
        return Err(CryptoError::Malformed(format!(
            "an AES key (oct JWK k) is 16, 24 or 32 bytes; {} bytes were given",
            k.len()
        )));
    }
    Ok(Zeroizing::new(k.to_vec()))
}

pub(super) fn to_jwk(key: &[u8], private: bool) -> Jwk {
    let mut jwk = Jwk::of_type("oct");
    if private {
        jwk.k = Some(key.to_vec());
    }
    jwk
}

/// Refuses a key whose length is not the algorithm's.
fn check_key(key: &[u8], alg: &str, need: usize) -> Result<(), CryptoError> {
    if key.len() == need {
        Ok(())
    } else {
        Err(CryptoError::Malformed(format!(
            "algorithm {alg} needs a {}-bit key; this key is {} bits",
            need * 8,
            key.len() * 8
        )))
    }
}

fn check_size(what: &str, data: &[u8]) -> Result<(), CryptoError> {
    if data.len() > MAX_INPUT {
        return Err(CryptoError::Malformed(format!(
            "the {what} is larger than {MAX_INPUT} bytes"
        )));
    }
    Ok(())
}

/// Refuses a parameter the algorithm does not take (an empty one is as good as none).
fn refuse(alg: &str, what: &str, v: Option<&[u8]>) -> Result<(), CryptoError> {
    match v {
        Some(v) if !v.is_empty() => Err(CryptoError::Malformed(format!("{alg} takes no {what}"))),
        _ => Ok(()),
    }
}

fn cipher(mode: AesMode, key_len: usize) -> Result<&'static CipherRef, CryptoError> {
    Ok(match (mode, key_len) {
        (AesMode::Gcm, 16) => Cipher::aes_128_gcm(),
        (AesMode::Gcm, 24) => Cipher::aes_192_gcm(),
        (AesMode::Gcm, 32) => Cipher::aes_256_gcm(),
        (AesMode::Cbc | AesMode::CbcPad, 16) => Cipher::aes_128_cbc(),
        (AesMode::Cbc | AesMode::CbcPad, 24) => Cipher::aes_192_cbc(),
        (AesMode::Cbc | AesMode::CbcPad, 32) => Cipher::aes_256_cbc(),
        _ => {
            return Err(CryptoError::Library(format!(
                "no AES cipher for {key_len}-byte keys"
            )))
        }
    })
}

fn wrap_cipher(key_len: usize) -> Result<&'static CipherRef, CryptoError> {
    Ok(match key_len {
        16 => Cipher::aes_128_wrap(),
        24 => Cipher::aes_192_wrap(),
        32 => Cipher::aes_256_wrap(),
        _ => {
            return Err(CryptoError::Library(format!(
                "no AES key wrap for {key_len}-byte keys"
            )))
        }
    })
}

/// The caller's IV (checked for length) or a random one.
fn iv_or_random(alg: &str, iv: Option<&[u8]>, len: usize) -> Result<Vec<u8>, CryptoError> {
    match iv {
        Some(iv) => {
            check_iv(alg, iv, len)?;
            Ok(iv.to_vec())
        }
        None => {
            let mut iv = vec![0u8; len];
            crate::fill_random(&mut iv)?;
            Ok(iv)
        }
    }
}

fn check_iv(alg: &str, iv: &[u8], len: usize) -> Result<(), CryptoError> {
    if iv.len() == len {
        Ok(())
    } else {
        Err(CryptoError::Malformed(format!(
            "{alg} takes a {len}-byte iv; {} bytes were given",
            iv.len()
        )))
    }
}

/// Encrypts with AES in `mode` with a key that must be `key_len` bytes.
pub(super) fn encrypt(
    key: &[u8],
    mode: AesMode,
    key_len: usize,
    plaintext: &[u8],
    iv: Option<&[u8]>,
    aad: Option<&[u8]>,
) -> Result<Encrypted, CryptoError> {
    let alg = aes_name(mode, key_len);
    check_key(key, &alg, key_len)?;
    check_size("plaintext", plaintext)?;
    let mut ctx = CipherCtx::new().map_err(CryptoError::openssl)?;
    let mut ct = Vec::with_capacity(plaintext.len() + 2 * BLOCK);
    match mode {
        AesMode::Gcm => {
            let aad = aad.unwrap_or_default();
            check_size("additional authenticated data", aad)?;
            let iv = iv_or_random(&alg, iv, GCM_IV_LEN)?;
            ctx.encrypt_init(Some(cipher(mode, key_len)?), Some(key), Some(&iv))
                .map_err(CryptoError::openssl)?;
            if !aad.is_empty() {
                ctx.cipher_update(aad, None).map_err(CryptoError::openssl)?;
            }
            ctx.cipher_update_vec(plaintext, &mut ct)
                .map_err(CryptoError::openssl)?;
            ctx.cipher_final_vec(&mut ct)
                .map_err(CryptoError::openssl)?;
            let mut tag = vec![0u8; GCM_TAG_LEN];
            ctx.tag(&mut tag).map_err(CryptoError::openssl)?;
            Ok(Encrypted {
                ciphertext: ct,
                iv: Some(iv),
                tag: Some(tag),
            })
        }
        AesMode::Cbc | AesMode::CbcPad => {
            refuse(&alg, "additional authenticated data", aad)?;
            if mode == AesMode::Cbc && !plaintext.len().is_multiple_of(BLOCK) {
                return Err(CryptoError::Malformed(format!(
                    "{alg} (no padding) encrypts a multiple of {BLOCK} bytes; {} bytes were given (use {alg}PAD \
                     for other lengths)",
                    plaintext.len()
                )));
            }
            let iv = iv_or_random(&alg, iv, CBC_IV_LEN)?;
            ctx.encrypt_init(Some(cipher(mode, key_len)?), Some(key), Some(&iv))
                .map_err(CryptoError::openssl)?;
            ctx.set_padding(mode == AesMode::CbcPad);
            ctx.cipher_update_vec(plaintext, &mut ct)
                .map_err(CryptoError::openssl)?;
            ctx.cipher_final_vec(&mut ct)
                .map_err(CryptoError::openssl)?;
            Ok(Encrypted {
                ciphertext: ct,
                iv: Some(iv),
                tag: None,
            })
        }
    }
}

/// Decrypts what [`encrypt`] made. A failed tag check (GCM) or bad padding (CBCPAD) is
/// [`CryptoError::Unauthentic`].
pub(super) fn decrypt(
    key: &[u8],
    mode: AesMode,
    key_len: usize,
    ciphertext: &[u8],
    iv: Option<&[u8]>,
    aad: Option<&[u8]>,
    tag: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let alg = aes_name(mode, key_len);
    check_key(key, &alg, key_len)?;
    check_size("ciphertext", ciphertext)?;
    let Some(iv) = iv else {
        return Err(CryptoError::Malformed(format!(
            "{alg} decryption needs the iv"
        )));
    };
    let mut ctx = CipherCtx::new().map_err(CryptoError::openssl)?;
    // Reserved up front so that the plaintext is never moved to a new allocation (and left behind unwiped).
    let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len() + 2 * BLOCK));
    match mode {
        AesMode::Gcm => {
            check_iv(&alg, iv, GCM_IV_LEN)?;
            let Some(tag) = tag else {
                return Err(CryptoError::Malformed(format!(
                    "{alg} decryption needs the authentication tag"
                )));
            };
            if tag.len() != GCM_TAG_LEN {
                return Err(CryptoError::Malformed(format!(
                    "{alg} authentication tags are {GCM_TAG_LEN} bytes; {} bytes were given",
                    tag.len()
                )));
            }
            let aad = aad.unwrap_or_default();
            check_size("additional authenticated data", aad)?;
            ctx.decrypt_init(Some(cipher(mode, key_len)?), Some(key), Some(iv))
                .map_err(CryptoError::openssl)?;
            ctx.set_tag(tag).map_err(CryptoError::openssl)?;
            if !aad.is_empty() {
                ctx.cipher_update(aad, None).map_err(CryptoError::openssl)?;
            }
            ctx.cipher_update_vec(ciphertext, &mut out)
                .map_err(CryptoError::openssl)?;
            ctx.cipher_final_vec(&mut out)
                .map_err(|_| CryptoError::Unauthentic)?;
        }
        AesMode::Cbc | AesMode::CbcPad => {
            check_iv(&alg, iv, CBC_IV_LEN)?;
            refuse(&alg, "additional authenticated data", aad)?;
            refuse(&alg, "authentication tag", tag)?;
            if !ciphertext.len().is_multiple_of(BLOCK)
                || (mode == AesMode::CbcPad && ciphertext.is_empty())
            {
                return Err(CryptoError::Malformed(format!(
                    "{alg} ciphertexts are a{} multiple of {BLOCK} bytes; {} bytes were given",
                    if mode == AesMode::CbcPad {
                        " non-zero"
                    } else {
                        ""
                    },
                    ciphertext.len()
                )));
            }
            ctx.decrypt_init(Some(cipher(mode, key_len)?), Some(key), Some(iv))
                .map_err(CryptoError::openssl)?;
            ctx.set_padding(mode == AesMode::CbcPad);
            ctx.cipher_update_vec(ciphertext, &mut out)
                .map_err(CryptoError::openssl)?;
            ctx.cipher_final_vec(&mut out)
                .map_err(|_| CryptoError::Unauthentic)?;
        }
    }
    Ok(out)
}

/// RFC 3394 key wrap (default IV) under a key-encryption key that must be `kek_len` bytes.
pub(super) fn wrap(key: &[u8], kek_len: usize, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let alg = kw_name(kek_len);
    check_key(key, &alg, kek_len)?;
    check_size("key to wrap", data)?;
    if data.len() < 16 || !data.len().is_multiple_of(8) {
        return Err(CryptoError::Malformed(format!(
            "the key to wrap with {alg} is a multiple of 8 bytes, at least 16; {} bytes were given",
            data.len()
        )));
    }
    let mut ctx = CipherCtx::new().map_err(CryptoError::openssl)?;
    ctx.set_flags(CipherCtxFlags::FLAG_WRAP_ALLOW);
    ctx.encrypt_init(Some(wrap_cipher(kek_len)?), Some(key), None)
        .map_err(CryptoError::openssl)?;
    let mut out = Vec::with_capacity(data.len() + 2 * BLOCK);
    ctx.cipher_update_vec(data, &mut out)
        .map_err(CryptoError::openssl)?;
    ctx.cipher_final_vec(&mut out)
        .map_err(CryptoError::openssl)?;
    if out.len() != data.len() + 8 {
        return Err(CryptoError::Library(format!(
            "{alg} produced {} bytes for a {}-byte key",
            out.len(),
            data.len()
        )));
    }
    Ok(out)
}

/// Undoes [`wrap`]. A failed integrity check is [`CryptoError::Unauthentic`].
pub(super) fn unwrap(
    key: &[u8],
    kek_len: usize,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let alg = kw_name(kek_len);
    check_key(key, &alg, kek_len)?;
    check_size("wrapped key", wrapped)?;
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::Malformed(format!(
            "a key wrapped with {alg} is a multiple of 8 bytes, at least 24; {} bytes were given",
            wrapped.len()
        )));
    }
    let mut ctx = CipherCtx::new().map_err(CryptoError::openssl)?;
    ctx.set_flags(CipherCtxFlags::FLAG_WRAP_ALLOW);
    ctx.decrypt_init(Some(wrap_cipher(kek_len)?), Some(key), None)
        .map_err(CryptoError::openssl)?;
    let mut out = Zeroizing::new(Vec::with_capacity(wrapped.len() + 2 * BLOCK));
    ctx.cipher_update_vec(wrapped, &mut out)
        .map_err(|_| CryptoError::Unauthentic)?;
    ctx.cipher_final_vec(&mut out)
        .map_err(|_| CryptoError::Unauthentic)?;
    if out.len() + 8 != wrapped.len() {
        return Err(CryptoError::Unauthentic);
    }
    Ok(out)
}

/// RFC 5649 AES key wrap with padding (`CKM_AES_KEY_WRAP_PAD`) under an AES key of any size: `data` of any length
/// from 1 byte, the result 8 bytes longer than `data` rounded up to 8.
pub(super) fn wrap_pad(key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_size("key to wrap", data)?;
    if data.is_empty() {
        return Err(CryptoError::Malformed("the key to wrap is empty".into()));
    }
    let mut ctx = CipherCtx::new().map_err(CryptoError::openssl)?;
    ctx.set_flags(CipherCtxFlags::FLAG_WRAP_ALLOW);
    ctx.encrypt_init(Some(wrap_pad_cipher(key.len())?), Some(key), None)
        .map_err(CryptoError::openssl)?;
    let mut out = Vec::with_capacity(data.len() + 3 * BLOCK);
    ctx.cipher_update_vec(data, &mut out)
        .map_err(CryptoError::openssl)?;
    ctx.cipher_final_vec(&mut out)
        .map_err(CryptoError::openssl)?;
    if out.len() != data.len().div_ceil(8) * 8 + 8 {
        return Err(CryptoError::Library(format!(
            "CKM_AES_KEY_WRAP_PAD produced {} bytes for a {}-byte key",
            out.len(),
            data.len()
        )));
    }
    Ok(out)
}

/// Undoes [`wrap_pad`]. A failed integrity check is [`CryptoError::Unauthentic`].
pub(super) fn unwrap_pad(key: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_size("wrapped key", wrapped)?;
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::Malformed(format!(
            "a key wrapped with CKM_AES_KEY_WRAP_PAD is a multiple of 8 bytes, at least 16; {} bytes were given",
            wrapped.len()
        )));
    }
    let mut ctx = CipherCtx::new().map_err(CryptoError::openssl)?;
    ctx.set_flags(CipherCtxFlags::FLAG_WRAP_ALLOW);
    ctx.decrypt_init(Some(wrap_pad_cipher(key.len())?), Some(key), None)
        .map_err(CryptoError::openssl)?;
    let mut out = Zeroizing::new(Vec::with_capacity(wrapped.len() + 2 * BLOCK));
    ctx.cipher_update_vec(wrapped, &mut out)
        .map_err(|_| CryptoError::Unauthentic)?;
    ctx.cipher_final_vec(&mut out)
        .map_err(|_| CryptoError::Unauthentic)?;
    if out.is_empty() || out.len().div_ceil(8) * 8 + 8 != wrapped.len() {
        return Err(CryptoError::Unauthentic);
    }
    Ok(out)
}

fn wrap_pad_cipher(key_len: usize) -> Result<&'static CipherRef, CryptoError> {
    Ok(match key_len {
        16 => Cipher::aes_128_wrap_pad(),
        24 => Cipher::aes_192_wrap_pad(),
        32 => Cipher::aes_256_wrap_pad(),
        _ => {
            return Err(CryptoError::Malformed(format!(
                "CKM_AES_KEY_WRAP_PAD needs a 128-, 192- or 256-bit key; this key is {} bits",
                key_len * 8
            )))
        }
    })
}

fn kw_name(kek_len: usize) -> String {
    format!("A{}KW", kek_len * 8)
}
