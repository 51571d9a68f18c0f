//! The authentication of stored records: every value the store keeps carries a header with the HMAC-SHA256 of the
//! value under a key it names, bound to the value's store key, so that a record cannot be altered, forged or moved
//! to another key by whoever can write the store.
//!
//! Layout: `\0KH\x01` · signer (1 byte: 0 = the root key's record key, 1 = a vault key's) · key generation (4 bytes,
//! big-endian) · tag (32 bytes) · the record. The tag covers `keyhaven/v1/record|`, the store key's length (4 bytes)
//! and the store key, and the record.

use keyhaven_crypto::MacKey;

const MAGIC: [u8; 4] = *b"\0KH\x01";

/// Bytes an authenticated record takes beyond its content.
const RECORD_OVERHEAD: usize = MAGIC.len() + 1 + 4 + 32;

/// Who authenticates a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signer {
    /// The record key derived from the root key (deployment-wide records).
    Root,
    /// A generation of the record's vault's key.
    Vault(u32),
}

/// An authenticated record, taken apart.
pub(crate) struct Parsed<'a> {
    pub signer: Signer,
    tag: &'a [u8],
    pub payload: &'a [u8],
}

fn tag_parts<'a>(len: &'a [u8; 4], key: &'a [u8], payload: &'a [u8]) -> [&'a [u8]; 4] {
    [b"keyhaven/v1/record|", len, key, payload]
}

/// The stored form of `payload` at `store_key`, authenticated by `mac` as `signer`.
pub(crate) fn seal(mac: &MacKey, signer: Signer, store_key: &[u8], payload: &[u8]) -> Vec<u8> {
    let len = (store_key.len() as u32).to_be_bytes();
    let tag = mac.tag(&tag_parts(&len, store_key, payload));
    let (who, id) = match signer {
        Signer::Root => (0u8, 0u32),
        Signer::Vault(id) => (1u8, id),
    };
    let mut out = Vec::with_capacity(RECORD_OVERHEAD + payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(who);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&tag);
    out.extend_from_slice(payload);
    out
}

/// Takes an authenticated record apart; None when the value is not one (a record of an earlier version, or
/// garbage).
pub(crate) fn parse(value: &[u8]) -> Option<Parsed<'_>> {
    if value.len() < RECORD_OVERHEAD || value[..4] != MAGIC {
        return None;
    }
    let id = u32::from_be_bytes([value[5], value[6], value[7], value[8]]);
    let signer = match value[4] {
        0 if id == 0 => Signer::Root,
        1 => Signer::Vault(id),
        _ => return None,
    };
    Some(Parsed {
        signer,
        tag: &value[9..RECORD_OVERHEAD],
        payload: &value[RECORD_OVERHEAD..],
    })
}

/// Whether the record's tag is right for `store_key` under `mac`.
pub(crate) fn verify(mac: &MacKey, store_key: &[u8], p: &Parsed<'_>) -> bool {
    let len = (store_key.len() as u32).to_be_bytes();
    mac.verify(&tag_parts(&len, store_key, p.payload), p.tag)
}

/// The vault whose key authenticates the record at `store_key`: the second component of the keys of a vault's
/// objects, versions, certificate operations, issuers and contacts; None for deployment-wide records.
pub(crate) fn vault_of(store_key: &[u8]) -> Option<&[u8]> {
    let mut parts = store_key.splitn(3, |b| *b == 0);
    let first = parts.next()?;
    let vault = parts.next()?;
    matches!(first, b"obj" | b"ver" | b"certop" | b"issuer" | b"contacts").then_some(vault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_bound_to_their_key_and_content() {
        let mac = MacKey::new(&[1u8; 32]);
        let other = MacKey::new(&[2u8; 32]);
        let sealed = seal(
            &mac,
            Signer::Vault(3),
            b"ver\0v\0secret\0n\0x",
            b"{\"a\":1}",
        );
        let p = parse(&sealed).unwrap();
        assert_eq!(p.signer, Signer::Vault(3));
        assert_eq!(p.payload, b"{\"a\":1}");
        assert!(verify(&mac, b"ver\0v\0secret\0n\0x", &p));
        assert!(
            !verify(&mac, b"ver\0v\0secret\0n\0y", &p),
            "moved to another key"
        );
        assert!(
            !verify(&other, b"ver\0v\0secret\0n\0x", &p),
            "another key's"
        );
        let mut edited = sealed.clone();
        *edited.last_mut().unwrap() = b'2';
        assert!(!verify(
            &mac,
            b"ver\0v\0secret\0n\0x",
            &parse(&edited).unwrap()
        ));
        assert!(
            parse(b"{\"a\":1}").is_none(),
            "a record of an earlier version"
        );
        assert_eq!(
            vault_of(b"obj\0payments\0secret\0n"),
            Some(&b"payments"[..])
        );
        assert_eq!(vault_of(b"vault\0payments"), None);
        assert_eq!(vault_of(b"principal\0x"), None);
    }
}
