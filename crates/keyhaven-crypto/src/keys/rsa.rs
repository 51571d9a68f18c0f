//! RSA keys: generation, JWK import/export, RSASSA-PKCS1-v1_5 / RSASSA-PSS over a digest, RSAES-OAEP and
//! RSAES-PKCS1-v1_5.

use super::alg::{RsaPad, SignAlg};
use super::jwk::{public_bn, secret_bn};
use super::Jwk;
use crate::CryptoError;
use openssl::bn::{BigNum, BigNumContext};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa, RsaPrivateKeyBuilder};
use openssl::sign::RsaPssSaltlen;
use zeroize::Zeroizing;

/// Smallest modulus accepted on import and generation.
const MIN_BITS: i32 = 2048;
/// Largest modulus accepted on import (OpenSSL's own limit for RSA operations).
const MAX_BITS: i32 = 16384;
/// Longest public exponent accepted on import (OpenSSL refuses longer ones for moduli over 3072 bits).
const MAX_E_BITS: i32 = 64;

/// A new key of `bits` (2048, 3072 or 4096) with public exponent `e` (65537 when None; odd, at least 3).
pub(super) fn generate(bits: u32, e: Option<u32>) -> Result<PKey<Private>, CryptoError> {
    if ![2048, 3072, 4096].contains(&bits) {
        return Err(CryptoError::Malformed(format!(
            "RSA keys are 2048, 3072 or 4096 bits; {bits} bits were asked for"
        )));
    }
    let e = e.unwrap_or(65537);
    if e < 3 || e.is_multiple_of(2) {
        return Err(CryptoError::Malformed(format!(
            "the RSA public exponent must be odd and at least 3; {e} was given"
        )));
    }
    let e = BigNum::from_u32(e).map_err(CryptoError::openssl)?;
    let rsa = Rsa::generate_with_e(bits, &e).map_err(CryptoError::openssl)?;
    PKey::from_rsa(rsa).map_err(CryptoError::openssl)
}

/// Imports n, e, d and, when present, all of p, q, dp, dq, qi; checks that they make one key.
pub(super) fn from_jwk(jwk: &Jwk) -> Result<PKey<Private>, CryptoError> {
    let (Some(n), Some(e)) = (jwk.n.as_deref(), jwk.e.as_deref()) else {
        return Err(CryptoError::Malformed("an RSA JWK needs n and e".into()));
    };
    let Some(d) = jwk.d.as_deref() else {
        return Err(CryptoError::Malformed(
            "an RSA JWK needs its private exponent d".into(),
        ));
    };
    let n = public_bn(n)?;
    let e = public_bn(e)?;
    let bits = n.num_bits();
    if bits < MIN_BITS {
        return Err(CryptoError::Malformed(format!(
            "RSA keys must be at least {MIN_BITS} bits; this one is {bits} bits"
        )));
    }
    if bits > MAX_BITS {
        return Err(CryptoError::Malformed(format!(
            "RSA keys over {MAX_BITS} bits are not supported; this one is {bits} bits"
        )));
    }
    if !n.is_odd() {
        return Err(CryptoError::Malformed(
            "the RSA modulus n is even, so it is not a valid modulus".into(),
        ));
    }
    if !e.is_odd() || e.num_bits() < 2 || e.num_bits() > MAX_E_BITS {
        return Err(CryptoError::Malformed(format!(
            "the RSA public exponent e must be odd, at least 3 and at most {MAX_E_BITS} bits"
        )));
    }
    let d = secret_bn(d)?;
    if d.num_bits() < 2 || d.ucmp(&n) != std::cmp::Ordering::Less {
        return Err(CryptoError::Malformed(
            "the RSA private exponent d is out of range for the modulus n".into(),
        ));
    }
    let crt = [&jwk.p, &jwk.q, &jwk.dp, &jwk.dq, &jwk.qi];
    let rsa = match crt.iter().filter(|f| f.is_some()).count() {
        0 => RsaPrivateKeyBuilder::new(n, e, d)
            .map_err(CryptoError::openssl)?
            .build(),
        5 => {
            let part = |f: &Option<Vec<u8>>| secret_bn(f.as_deref().unwrap_or_default());
            let rsa = Rsa::from_private_components(
                n,
                e,
                d,
                part(&jwk.p)?,
                part(&jwk.q)?,
                part(&jwk.dp)?,
                part(&jwk.dq)?,
                part(&jwk.qi)?,
            )
            .map_err(CryptoError::openssl)?;
            if !crt_consistent(&rsa).map_err(CryptoError::openssl)? {
                return Err(CryptoError::Malformed(
                    "the RSA key's parts do not make one key (n, e, d, p, q, dp, dq and qi must belong together)"
                        .into(),
                ));
            }
            rsa
        }
        _ => {
            return Err(CryptoError::Malformed(
                "an RSA JWK that has any of p, q, dp, dq, qi needs all five".into(),
            ))
        }
    };
    let pkey = PKey::from_rsa(rsa).map_err(CryptoError::openssl)?;
    pairwise_check(&pkey)?;
    Ok(pkey)
}

/// Checks the CRT parts arithmetically: n = p·q, dp = d mod (p−1), dq = d mod (q−1), e·dp ≡ 1 (mod p−1),
/// e·dq ≡ 1 (mod q−1), q·qi ≡ 1 (mod p). `RSA_check_key` would also test p and q for primality, which takes about
/// half a second for a 4096-bit key, on every load of the key; a composite "factor" is all but certain to fail
/// the pairwise check instead. OpenSSL falls back from CRT to a plain exponentiation with d when a CRT result does
/// not verify, so without this check inconsistent CRT parts would go unnoticed (and make every operation slower).
fn crt_consistent(rsa: &Rsa<Private>) -> Result<bool, openssl::error::ErrorStack> {
    let (Some(p), Some(q), Some(dp), Some(dq), Some(qi)) =
        (rsa.p(), rsa.q(), rsa.dmp1(), rsa.dmq1(), rsa.iqmp())
    else {
        return Ok(false);
    };
    if p.num_bits() < 2 || q.num_bits() < 2 {
        return Ok(false);
    }
    let mut ctx = BigNumContext::new_secure()?;
    let mut t = BigNum::new_secure()?;
    t.checked_mul(p, q, &mut ctx)?;
    if t != *rsa.n() {
        return Ok(false);
    }
    for (f, df) in [(p, dp), (q, dq)] {
        let mut f1 = f.to_owned()?;
        f1.sub_word(1)?;
        t.nnmod(rsa.d(), &f1, &mut ctx)?;
        if t != *df {
            return Ok(false);
        }
        t.mod_mul(rsa.e(), df, &f1, &mut ctx)?;
        if t.num_bits() != 1 {
            return Ok(false);
        }
    }
    if qi.ucmp(p) != std::cmp::Ordering::Less {
        return Ok(false);
    }
    t.mod_mul(q, qi, p, &mut ctx)?;
    Ok(t.num_bits() == 1)
}

/// Encrypts a random value under the public key and decrypts it with the private key: this proves that d (and
/// the CRT parts) belong to n and e, even when p and q are not known.
fn pairwise_check(pkey: &PKey<Private>) -> Result<(), CryptoError> {
    let probe = Zeroizing::new(crate::random_bytes::<32>()?);
    let ct = encrypt(pkey, RsaPad::Oaep256, &probe[..], "encrypts")?;
    match decrypt(pkey, RsaPad::Oaep256, &ct) {
        Ok(back) if crate::constant_time_eq(&back, &probe[..]) => Ok(()),
        _ => Err(CryptoError::Malformed(
            "the RSA private exponent d does not belong to the public key (n, e)".into(),
        )),
    }
}

/// The key as a JWK: n and e, plus d, p, q, dp, dq, qi when `private` (unsigned big-endian, no leading zeros).
pub(super) fn to_jwk(pkey: &PKey<Private>, private: bool) -> Result<Jwk, CryptoError> {
    let rsa = pkey.rsa().map_err(CryptoError::openssl)?;
    let mut jwk = Jwk::of_type("RSA");
    jwk.n = Some(rsa.n().to_vec());
    jwk.e = Some(rsa.e().to_vec());
    if private {
        jwk.d = Some(rsa.d().to_vec());
        if let (Some(p), Some(q), Some(dp), Some(dq), Some(qi)) =
            (rsa.p(), rsa.q(), rsa.dmp1(), rsa.dmq1(), rsa.iqmp())
        {
            jwk.p = Some(p.to_vec());
            jwk.q = Some(q.to_vec());
            jwk.dp = Some(dp.to_vec());
            jwk.dq = Some(dq.to_vec());
            jwk.qi = Some(qi.to_vec());
        }
    }
    Ok(jwk)
}

/// Modulus size in bytes and bits.
fn size(pkey: &PKey<Private>) -> (usize, u32) {
    (pkey.size(), pkey.bits())
}

/// Sets up a signing or verifying context for RS* or PS*.
fn configure_signature(ctx: &mut PkeyCtx<Private>, alg: SignAlg) -> Result<(), CryptoError> {
    match alg {
        SignAlg::Rs(h) => {
            ctx.set_rsa_padding(Padding::PKCS1)
                .map_err(CryptoError::openssl)?;
            ctx.set_signature_md(h.md()).map_err(CryptoError::openssl)
        }
        SignAlg::Ps(h) => {
            ctx.set_rsa_padding(Padding::PKCS1_PSS)
                .map_err(CryptoError::openssl)?;
            ctx.set_signature_md(h.md()).map_err(CryptoError::openssl)?;
            ctx.set_rsa_mgf1_md(h.md()).map_err(CryptoError::openssl)?;
            ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .map_err(CryptoError::openssl)
        }
        SignAlg::Es(_) => Err(CryptoError::Library(format!(
            "{} is not an RSA signature algorithm",
            alg.name()
        ))),
    }
}

/// Signs a digest whose length the caller has checked.
pub(super) fn sign(
    pkey: &PKey<Private>,
    alg: SignAlg,
    digest: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut ctx = PkeyCtx::new(pkey).map_err(CryptoError::openssl)?;
    ctx.sign_init().map_err(CryptoError::openssl)?;
    configure_signature(&mut ctx, alg)?;
    let mut sig = Vec::new();
    ctx.sign_to_vec(digest, &mut sig)
        .map_err(CryptoError::openssl)?;
    Ok(sig)
}

/// Verifies a signature over a digest whose length the caller has checked. A signature that is not exactly the
/// modulus length is refused as malformed; any other failure is Ok(false).
pub(super) fn verify(
    pkey: &PKey<Private>,
    alg: SignAlg,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let (k, bits) = size(pkey);
    if signature.len() != k {
        return Err(CryptoError::Malformed(format!(
            "{} signatures with this {bits}-bit key are {k} bytes; {} were given",
            alg.name(),
            signature.len()
        )));
    }
    let mut ctx = PkeyCtx::new(pkey).map_err(CryptoError::openssl)?;
    ctx.verify_init().map_err(CryptoError::openssl)?;
    configure_signature(&mut ctx, alg)?;
    // OpenSSL reports a bad signature as an error on its stack; either way the signature does not verify.
    Ok(ctx.verify(digest, signature).unwrap_or(false))
}

fn configure_encryption(ctx: &mut PkeyCtx<Private>, pad: RsaPad) -> Result<(), CryptoError> {
    use openssl::md::Md;
    let (padding, md) = match pad {
        RsaPad::Oaep => (Padding::PKCS1_OAEP, Some(Md::sha1())),
        RsaPad::Oaep256 => (Padding::PKCS1_OAEP, Some(Md::sha256())),
        RsaPad::Pkcs1 => (Padding::PKCS1, None),
    };
    ctx.set_rsa_padding(padding).map_err(CryptoError::openssl)?;
    if let Some(md) = md {
        ctx.set_rsa_oaep_md(md).map_err(CryptoError::openssl)?;
        ctx.set_rsa_mgf1_md(md).map_err(CryptoError::openssl)?;
    }
    Ok(())
}

/// Encrypts (or wraps: `verb` says which, for messages) under the public key.
pub(super) fn encrypt(
    pkey: &PKey<Private>,
    pad: RsaPad,
    plaintext: &[u8],
    verb: &str,
) -> Result<Vec<u8>, CryptoError> {
    let (k, bits) = size(pkey);
    let max = pad.max_message(k);
    if plaintext.len() > max {
        return Err(CryptoError::Malformed(format!(
            "{} with a {bits}-bit key {verb} at most {max} bytes; {} were given",
            pad.name(),
            plaintext.len()
        )));
    }
    let mut ctx = PkeyCtx::new(pkey).map_err(CryptoError::openssl)?;
    ctx.encrypt_init().map_err(CryptoError::openssl)?;
    configure_encryption(&mut ctx, pad)?;
    let mut out = Vec::new();
    ctx.encrypt_to_vec(plaintext, &mut out)
        .map_err(CryptoError::openssl)?;
    Ok(out)
}

/// Decrypts with the private key. A ciphertext that is not the modulus length is malformed. With OAEP, one that does
/// not decrypt is [`CryptoError::Unauthentic`]; with PKCS#1 v1.5 it decrypts to a synthetic message instead (implicit
/// rejection, see [`super::implicit_rejection`]), so that no answer tells a padding failure from success.
pub(super) fn decrypt(
    pkey: &PKey<Private>,
    pad: RsaPad,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (k, bits) = size(pkey);
    if ciphertext.len() != k {
        return Err(CryptoError::Malformed(format!(
            "{} ciphertexts with a {bits}-bit key are {k} bytes; {} were given",
            pad.name(),
            ciphertext.len()
        )));
    }
    if pad == RsaPad::Pkcs1 {
        return super::implicit_rejection::decrypt(pkey, ciphertext);
    }
    let mut ctx = PkeyCtx::new(pkey).map_err(CryptoError::openssl)?;
    ctx.decrypt_init().map_err(CryptoError::openssl)?;
    configure_encryption(&mut ctx, pad)?;
    let mut out = Zeroizing::new(Vec::new());
    ctx.decrypt_to_vec(ciphertext, &mut out)
        .map_err(|_| CryptoError::Unauthentic)?;
    Ok(out)
}
