//! RSAES-PKCS1-v1_5 decryption with implicit rejection (the countermeasure of the IETF CFRG's RSA guidance, and
//! OpenSSL's default since 3.2; the OpenSSL this builds against may be older, so it is done here).
//!
//! A PKCS#1 v1.5 padding check is a Bleichenbacher oracle whenever its failure can be told from success — by an
//! error, a status code or a timing difference. So a ciphertext whose padding is wrong is not refused: it decrypts
//! to a synthetic message, derived from the ciphertext under a key only the private key's holder can compute, so
//! the same ciphertext always gives the same answer and its length is as plausible as a real message's. The
//! padding is checked, and the real or synthetic message chosen, without branching on secret data.
//!
//! Derivation: `kdk = HMAC-SHA256(SHA-256(d as k bytes), C)`; `PRF(label, n)` is the concatenation of
//! `HMAC-SHA256(kdk, i ‖ label ‖ 8n)` for i = 0, 1, … (two-byte big-endian counters and bit lengths), cut to n
//! bytes. The synthetic message is the last `L` bytes of `PRF("message", k)`, where `L` is the last of 128 two-byte
//! candidates of `PRF("length", 256)`, masked to the bit length of `k − 10`, that is below `k − 10` (0 if none).

use crate::mac::MacKey;
use crate::CryptoError;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};
use zeroize::Zeroizing;

/// Fewest padding bytes a PKCS#1 v1.5 encryption block has (after `00 02`, before the `00` separator).
const MIN_PADDING: u32 = 8;
/// Length candidates drawn for the synthetic message.
const LENGTH_CANDIDATES: usize = 128;

/// Decrypts a ciphertext of exactly the modulus length (the caller checks). Only a ciphertext not below the modulus
/// (a public property) is refused, as [`CryptoError::Unauthentic`].
pub(super) fn decrypt(
    pkey: &PKey<Private>,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let k = pkey.size();
    let em = raw_decrypt(pkey, ciphertext, k)?;
    let synthetic = synthetic_message(pkey, ciphertext, k)?;
    let (good, message_len) = check_padding(&em);
    let len = u32::conditional_select(&synthetic.len, &message_len, good);
    // Both messages are suffixes of a k-byte block: pick byte by byte, then keep the chosen length (which the
    // answer shows anyway).
    let mut out = Zeroizing::new(vec![0u8; k]);
    for ((o, e), s) in out.iter_mut().zip(em.iter()).zip(synthetic.block.iter()) {
        *o = u8::conditional_select(s, e, good);
    }
    out.drain(..k.saturating_sub(len as usize));
    Ok(out)
}

/// `C^d mod n`, the whole encryption block.
fn raw_decrypt(
    pkey: &PKey<Private>,
    ciphertext: &[u8],
    k: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut ctx = PkeyCtx::new(pkey).map_err(CryptoError::openssl)?;
    ctx.decrypt_init().map_err(CryptoError::openssl)?;
    ctx.set_rsa_padding(Padding::NONE)
        .map_err(CryptoError::openssl)?;
    let mut em = Zeroizing::new(Vec::new());
    ctx.decrypt_to_vec(ciphertext, &mut em)
        .map_err(|_| CryptoError::Unauthentic)?;
    if em.len() != k {
        return Err(CryptoError::Library(
            "raw RSA decryption gave an unexpected length".into(),
        ));
    }
    Ok(em)
}

/// Whether `em` is `00 02 PS 00 M` with at least eight non-zero bytes of PS, and the length of M; in constant time.
fn check_padding(em: &[u8]) -> (Choice, u32) {
    let k = em.len() as u32;
    let first = em.first().copied().unwrap_or(1);
    let second = em.get(1).copied().unwrap_or(0);
    let mut good = first.ct_eq(&0) & second.ct_eq(&2);
    let mut found = Choice::from(0);
    let mut separator = 0u32;
    for (i, b) in em.iter().enumerate().skip(2) {
        let zero = b.ct_eq(&0);
        separator = u32::conditional_select(&separator, &(i as u32), zero & !found);
        found |= zero;
    }
    good &= found;
    good &= !separator.ct_lt(&(2 + MIN_PADDING));
    let message_len = k.wrapping_sub(separator).wrapping_sub(1);
    (good, u32::conditional_select(&0, &message_len, good))
}

/// The message a ciphertext with bad padding decrypts to: its length, and a k-byte block it is the suffix of.
struct Synthetic {
    len: u32,
    block: Zeroizing<Vec<u8>>,
}

fn synthetic_message(
    pkey: &PKey<Private>,
    ciphertext: &[u8],
    k: usize,
) -> Result<Synthetic, CryptoError> {
    let rsa = pkey.rsa().map_err(CryptoError::openssl)?;
    let d = Zeroizing::new(
        rsa.d()
            .to_vec_padded(k as i32)
            .map_err(CryptoError::openssl)?,
    );
    let d_digest = Zeroizing::new(crate::sha256(&d));
    let kdk = Zeroizing::new(MacKey::new(&d_digest[..]).tag(&[ciphertext]));
    let kdk = MacKey::new(&kdk[..]);
    let block = prf(&kdk, b"message", k)?;
    let candidates = prf(&kdk, b"length", 2 * LENGTH_CANDIDATES)?;
    let max = (k as u32).saturating_sub(2 + MIN_PADDING);
    let mask = u32::MAX.checked_shr(max.leading_zeros()).unwrap_or(0);
    let mut len = 0u32;
    for pair in candidates.chunks_exact(2) {
        let candidate = (u32::from(pair[0]) << 8 | u32::from(pair[1])) & mask;
        len = u32::conditional_select(&len, &candidate, candidate.ct_lt(&max));
    }
    Ok(Synthetic { len, block })
}

/// `n` bytes of `HMAC(kdk, i ‖ label ‖ 8n)` for i = 0, 1, ….
fn prf(kdk: &MacKey, label: &[u8], n: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let bits = u16::try_from(n * 8)
        .map_err(|_| CryptoError::Library("the RSA modulus is too long".into()))?;
    let mut out = Zeroizing::new(Vec::with_capacity(n + 32));
    let mut i = 0u16;
    while out.len() < n {
        let block = Zeroizing::new(kdk.tag(&[&i.to_be_bytes(), label, &bits.to_be_bytes()]));
        out.extend_from_slice(&block[..]);
        i = i.wrapping_add(1);
    }
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_check() {
        let block = |pad: &[u8], sep: bool, msg: &[u8]| {
            let mut em = vec![0u8, 2];
            em.extend_from_slice(pad);
            if sep {
                em.push(0);
            }
            em.extend_from_slice(msg);
            em
        };
        let is = |em: &[u8]| {
            let (good, len) = check_padding(em);
            (bool::from(good), len)
        };
        assert_eq!(is(&block(&[1; 8], true, b"hello")), (true, 5));
        assert_eq!(is(&block(&[7; 20], true, b"")), (true, 0));
        assert_eq!(is(&block(&[1; 8], true, &[0, 0, 1])), (true, 3));
        assert_eq!(
            is(&block(&[1; 7], true, b"hello")),
            (false, 0),
            "PS too short"
        );
        assert_eq!(is(&block(&[1; 30], false, b"")), (false, 0), "no separator");
        let mut em = block(&[1; 8], true, b"hello");
        em[0] = 1;
        assert_eq!(is(&em), (false, 0));
        em[0] = 0;
        em[1] = 1;
        assert_eq!(is(&em), (false, 0));
        assert_eq!(is(&[]), (false, 0));
    }
}
