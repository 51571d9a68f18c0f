//! The clear snapshot header: encoding (writer) and incremental, bounded decoding (reader).

use super::source::Source;
use super::{
    SnapshotHeader, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC,
};
use crate::BlobError;
use keyhaven_crypto::{KEY_LEN, NONCE_LEN, TAG_LEN};
use std::io::Read;

/// The data key as wrapped under the geography key: nonce ‖ ciphertext ‖ tag.
pub(super) const WRAPPED_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
const MAX_NAME_LEN: usize = 64;
/// Header bytes before the geography name: magic, version, flags, reserved, subscription, geography length.
const FIXED_PREFIX_LEN: usize = 25;

fn check_name(name: &str, what: &'static str) -> Result<(), BlobError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.is_ascii() {
        return Err(BlobError::MalformedHeader(what));
    }
    Ok(())
}

/// The header bytes that the wrapped data key authenticates: everything up to (not including) the wrapped key.
pub(super) fn encode_fields(h: &SnapshotHeader, chunk_size: usize) -> Result<Vec<u8>, BlobError> {
    check_name(&h.geography, "geography name must be 1-64 ASCII characters")?;
    check_name(&h.vault, "vault name must be 1-64 ASCII characters")?;
    let chunk_size = u32::try_from(chunk_size)
        .ok()
        .filter(|c| (MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&(*c as usize)))
        .ok_or(BlobError::MalformedHeader("chunk size out of range"))?;
    let (g, v) = (h.geography.as_bytes(), h.vault.as_bytes());
    let mut out =
        Vec::with_capacity(FIXED_PREFIX_LEN + g.len() + 17 + v.len() + 28 + WRAPPED_KEY_LEN);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.push(SNAPSHOT_FORMAT_VERSION);
    out.push(0); // flags: none defined in version 1
    out.extend_from_slice(&[0, 0]); // reserved
    out.extend_from_slice(&h.subscription);
    out.push(g.len() as u8);
    out.extend_from_slice(g);
    out.extend_from_slice(&h.key_id);
    out.push(v.len() as u8);
    out.extend_from_slice(v);
    out.extend_from_slice(&h.created.to_be_bytes());
    out.extend_from_slice(&h.snapshot_id);
    out.extend_from_slice(&chunk_size.to_be_bytes());
    Ok(out)
}

/// A header as read from a stream, before anything in it is trusted.
pub(super) struct RawHeader {
    pub header: SnapshotHeader,
    pub chunk_size: usize,
    /// The complete header bytes; the wrapped key is the last `WRAPPED_KEY_LEN` of them.
    pub bytes: Vec<u8>,
}

impl RawHeader {
    /// The bytes the wrapped data key is bound to, and the wrapped key.
    pub fn split(&self) -> (&[u8], &[u8]) {
        self.bytes
            .split_at(self.bytes.len().saturating_sub(WRAPPED_KEY_LEN))
    }
}

/// Appends exactly `n` more bytes of the stream to `out`; a stream that ends first is a truncated header.
fn take<R: Read>(src: &mut Source<R>, out: &mut Vec<u8>, n: usize) -> Result<(), BlobError> {
    let start = out.len();
    out.resize(start + n, 0);
    if src.fill(&mut out[start..])? < n {
        return Err(BlobError::Truncated);
    }
    Ok(())
}

fn name(bytes: &[u8], what: &'static str) -> Result<String, BlobError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| s.is_ascii())
        .map(str::to_owned)
        .ok_or(BlobError::MalformedHeader(what))
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], BlobError> {
    bytes
        .get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(BlobError::Truncated)
}

/// Reads the header field by field, checking each length before reading what it announces. Reads at most
/// `FIXED_PREFIX_LEN + 64 + 17 + 64 + 28 + WRAPPED_KEY_LEN` bytes.
pub(super) fn read<R: Read>(src: &mut Source<R>) -> Result<RawHeader, BlobError> {
    let mut b = vec![0u8; 4];
    let got = src.fill(&mut b)?;
    if b.get(..got) != SNAPSHOT_MAGIC.get(..got) {
        return Err(BlobError::NotABlob);
    }
    if got < 4 {
        return Err(BlobError::Truncated);
    }
    take(src, &mut b, 1)?;
    if b[4] != SNAPSHOT_FORMAT_VERSION {
        return Err(BlobError::UnsupportedVersion(b[4]));
    }
    take(src, &mut b, 3)?;
    if b[5..8] != [0, 0, 0] {
        return Err(BlobError::MalformedHeader(
            "unknown flags or reserved bits set",
        ));
    }
    take(src, &mut b, 17)?;
    let glen = b[FIXED_PREFIX_LEN - 1] as usize;
    if glen == 0 || glen > MAX_NAME_LEN {
        return Err(BlobError::MalformedHeader("geography length out of range"));
    }
    take(src, &mut b, glen + 17)?;
    let vat = FIXED_PREFIX_LEN + glen + 16;
    let vlen = b[vat] as usize;
    if vlen == 0 || vlen > MAX_NAME_LEN {
        return Err(BlobError::MalformedHeader("vault name length out of range"));
    }
    take(src, &mut b, vlen + 28)?;
    let tail = vat + 1 + vlen;
    let chunk_size = u32::from_be_bytes(array(&b, tail + 24)?) as usize;
    if !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&chunk_size) {
        return Err(BlobError::MalformedHeader("chunk size out of range"));
    }
    let header = SnapshotHeader {
        subscription: array(&b, 8)?,
        geography: name(
            &b[FIXED_PREFIX_LEN..FIXED_PREFIX_LEN + glen],
            "geography name is not ASCII",
        )?,
        key_id: array(&b, FIXED_PREFIX_LEN + glen)?,
        vault: name(&b[vat + 1..tail], "vault name is not ASCII")?,
        created: i64::from_be_bytes(array(&b, tail)?),
        snapshot_id: array(&b, tail + 8)?,
    };
    take(src, &mut b, WRAPPED_KEY_LEN)?;
    Ok(RawHeader {
        header,
        chunk_size,
        bytes: b,
    })
}
