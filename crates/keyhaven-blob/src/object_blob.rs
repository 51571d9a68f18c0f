use flate2::write::DeflateEncoder;
use flate2::Compression;
use keyhaven_crypto::{CryptoError, SealingKey, NONCE_LEN, TAG_LEN};
use keyhaven_model::ObjectKind;
use std::io::Write;
use zeroize::Zeroizing;

/// The four bytes every object backup blob starts with.
pub const BLOB_MAGIC: &[u8; 4] = b"KHOB";
/// The blob format version this crate writes and the only one it reads.
pub const BLOB_FORMAT_VERSION: u8 = 1;
/// The largest payload a blob may hold: a larger one is neither sealed nor inflated, so that a restore holds at
/// most this much (plus its parsed form) in memory.
///
/// 64 MiB, the same as a vault snapshot's largest record. Sized for Azure's 500 versions of its largest secrets
/// with room to spare: a version of a 25,600-byte secret (Azure's limit) takes at most 51,200 bytes as a JSON
/// string when every character needs escaping as `\"` or `\\` (about 26 KB for ordinary text), plus at most
/// 15 tags of 512 + 256 characters (23,040 bytes escaped the same way) and under 1 KB of version id, attributes and
/// content type: at most about 75 KB, so 500 versions take at most 37.5 MB and 64 MiB holds 890 such versions,
/// or about 2,400 versions of ordinary 25 KB text secrets. Certificate and key versions are smaller. Objects
/// larger than this back up with the whole-vault backup, which has no such limit.
pub const MAX_PAYLOAD_BYTES: u64 = 64 << 20;
const COMPRESSION_DEFLATE: u8 = 1;
const MAX_GEOGRAPHY_LEN: usize = 64;

/// A geography key: the AES-256-GCM key backup blobs of one (subscription, geography) are sealed under, with the
/// 16-byte id that blobs name it by. Geographies rotate keys; old ids stay known so that old blobs restore.
#[derive(Clone)]
pub struct GeographyKey {
    /// The id blobs sealed under this key carry in their header.
    pub id: [u8; 16],
    /// The key itself.
    pub key: SealingKey,
}

/// The clear, authenticated header of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// The format version ([`BLOB_FORMAT_VERSION`]; others are refused before a header is returned).
    pub format_version: u8,
    /// The kind of object the blob holds.
    pub kind: ObjectKind,
    /// The 16 bytes of the subscription id (a UUID) the blob was made in.
    pub subscription: [u8; 16],
    /// The geography the blob was made in: 1–64 ASCII characters, compared case-insensitively.
    pub geography: String,
    /// The id of the [`GeographyKey`] the blob is sealed under.
    pub key_id: [u8; 16],
}

/// Why a blob was refused. Messages are safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The input ends inside a blob's or a snapshot's header.
    #[error("the backup blob is truncated: it ends inside its header")]
    Truncated,
    /// The input does not start with the magic bytes of the format being read.
    #[error("the data is not a Keyhaven backup blob (unknown magic bytes)")]
    NotABlob,
    /// The header names a format version this crate does not read.
    #[error("the backup blob has format version {0}, which this server does not read (it reads version 1)")]
    UnsupportedVersion(u8),
    /// A header field is out of range (unknown kind, bad geography, reserved bits set, …).
    #[error("the backup blob's header is malformed: {0}")]
    MalformedHeader(&'static str),
    /// The blob or snapshot was made in another subscription than the target vault's.
    #[error("the backup blob was made in another subscription; a backup restores only into vaults of the subscription and geography it was made in")]
    ForeignSubscription,
    /// The blob or snapshot was made in another geography than the target vault's.
    #[error("the backup blob was made in geography '{blob}' but this vault is in geography '{vault}'; a backup restores only into vaults of the same geography")]
    ForeignGeography {
        /// The geography the blob or snapshot names.
        blob: String,
        /// The target vault's geography.
        vault: String,
    },
    /// None of the geography keys given has the id the header names.
    #[error("the backup blob is sealed under a geography key this deployment does not hold")]
    UnknownKey,
    /// Authentication failed: the data was altered, truncated, reordered or sealed under another key. Also
    /// returned for an authenticated object blob whose payload does not inflate.
    #[error("the backup blob failed authentication: it was altered, truncated or corrupted")]
    Unauthentic,
    /// The object blob holds another kind of object than the one being restored.
    #[error("the backup blob holds a {found}, not a {expected}")]
    WrongKind {
        /// The kind being restored ([`ObjectKind::as_str`]).
        expected: &'static str,
        /// The kind the blob holds.
        found: &'static str,
    },
    /// An object blob's payload would inflate beyond [`MAX_PAYLOAD_BYTES`], or a snapshot record or manifest is
    /// larger than [`MAX_RECORD_BYTES`](crate::vault_snapshot::MAX_RECORD_BYTES) (when reading or writing).
    #[error("the backup blob's payload is larger than this server accepts")]
    TooLarge,
    /// Sealing failed (a cryptographic library error, or a snapshot header naming another key than the one
    /// given); nothing usable was written.
    #[error("the backup blob could not be sealed: {0}")]
    Seal(String),
    /// A snapshot ends before its final chunk.
    #[error("the vault snapshot is truncated: it ends before its final chunk")]
    TruncatedStream,
    /// A snapshot has bytes after its final chunk.
    #[error("the vault snapshot has data after its final chunk")]
    TrailingData,
    /// A snapshot's chunk or frame structure is invalid (chunk length, flag, frame type, too many chunks).
    #[error("the vault snapshot is malformed: {0}")]
    MalformedStream(&'static str),
    /// Reading or writing the snapshot stream failed, or a writer is used again after a failed write.
    #[error("the vault snapshot could not be read or written: {0}")]
    Io(String),
}

fn encode_header(h: &BlobHeader) -> Result<Vec<u8>, BlobError> {
    let g = h.geography.as_bytes();
    if g.is_empty() || g.len() > MAX_GEOGRAPHY_LEN || !h.geography.is_ascii() {
        return Err(BlobError::MalformedHeader(
            "geography name must be 1-64 ASCII characters",
        ));
    }
    let mut out = Vec::with_capacity(8 + 16 + 1 + g.len() + 16);
    out.extend_from_slice(BLOB_MAGIC);
    out.push(h.format_version);
    out.push(h.kind.code());
    out.push(COMPRESSION_DEFLATE);
    out.push(0);
    out.extend_from_slice(&h.subscription);
    out.push(g.len() as u8);
    out.extend_from_slice(g);
    out.extend_from_slice(&h.key_id);
    Ok(out)
}

/// Reads the clear header and returns it with its length. Nothing in it is trusted until the blob authenticates.
pub fn peek_header(blob: &[u8]) -> Result<(BlobHeader, usize), BlobError> {
    if blob.len() < 4 {
        return Err(if BLOB_MAGIC.starts_with(blob) {
            BlobError::Truncated
        } else {
            BlobError::NotABlob
        });
    }
    if &blob[..4] != BLOB_MAGIC {
        return Err(BlobError::NotABlob);
    }
    let fixed = blob.get(4..25).ok_or(BlobError::Truncated)?;
    let format_version = fixed[0];
    if format_version != BLOB_FORMAT_VERSION {
        return Err(BlobError::UnsupportedVersion(format_version));
    }
    let kind =
        ObjectKind::from_code(fixed[1]).ok_or(BlobError::MalformedHeader("unknown object kind"))?;
    if fixed[2] != COMPRESSION_DEFLATE || fixed[3] != 0 {
        return Err(BlobError::MalformedHeader(
            "unknown compression or reserved bits set",
        ));
    }
    let mut subscription = [0u8; 16];
    subscription.copy_from_slice(&fixed[4..20]);
    let glen = fixed[20] as usize;
    if glen == 0 || glen > MAX_GEOGRAPHY_LEN {
        return Err(BlobError::MalformedHeader("geography length out of range"));
    }
    let g = blob.get(25..25 + glen).ok_or(BlobError::Truncated)?;
    let geography = std::str::from_utf8(g)
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or(BlobError::MalformedHeader("geography name is not ASCII"))?
        .to_owned();
    let kid = blob
        .get(25 + glen..25 + glen + 16)
        .ok_or(BlobError::Truncated)?;
    let mut key_id = [0u8; 16];
    key_id.copy_from_slice(kid);
    Ok((
        BlobHeader {
            format_version,
            kind,
            subscription,
            geography,
            key_id,
        },
        25 + glen + 16,
    ))
}

/// Compresses and seals `payload` into a blob for `kind`, bound to `subscription` and `geography`.
pub fn seal_object_blob(
    kind: ObjectKind,
    subscription: [u8; 16],
    geography: &str,
    key: &GeographyKey,
    payload: &[u8],
) -> Result<Vec<u8>, BlobError> {
    seal_inner(kind, subscription, geography, key, payload, None)
}

fn seal_inner(
    kind: ObjectKind,
    subscription: [u8; 16],
    geography: &str,
    key: &GeographyKey,
    payload: &[u8],
    fixed_nonce: Option<[u8; NONCE_LEN]>,
) -> Result<Vec<u8>, BlobError> {
    if payload.len() as u64 > MAX_PAYLOAD_BYTES {
        return Err(BlobError::TooLarge);
    }
    let header = encode_header(&BlobHeader {
        format_version: BLOB_FORMAT_VERSION,
        kind,
        subscription,
        geography: geography.to_owned(),
        key_id: key.id,
    })?;
    let mut enc = DeflateEncoder::new(Vec::with_capacity(payload.len() + 64), Compression::fast());
    enc.write_all(payload)
        .map_err(|e| BlobError::Seal(e.to_string()))?;
    let compressed = Zeroizing::new(enc.finish().map_err(|e| BlobError::Seal(e.to_string()))?);
    let sealed = match fixed_nonce {
        Some(n) => key.key.seal_with_nonce(&n, &header, &compressed),
        None => key.key.seal(&header, &compressed),
    }
    .map_err(|e| BlobError::Seal(e.to_string()))?;
    let mut out = header;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Authenticates and opens a blob. `expected` is the kind the caller restores; `subscription` and `geography`
/// are the target vault's; `keys` are the geography keys this deployment holds for them.
pub fn open_object_blob(
    blob: &[u8],
    expected: ObjectKind,
    subscription: [u8; 16],
    geography: &str,
    keys: &[GeographyKey],
) -> Result<Zeroizing<Vec<u8>>, BlobError> {
    let (header, header_len) = peek_header(blob)?;
    if header.subscription != subscription {
        return Err(BlobError::ForeignSubscription);
    }
    if !header.geography.eq_ignore_ascii_case(geography) {
        return Err(BlobError::ForeignGeography {
            blob: header.geography,
            vault: geography.to_owned(),
        });
    }
    let key = keys
        .iter()
        .find(|k| k.id == header.key_id)
        .ok_or(BlobError::UnknownKey)?;
    let body = &blob[header_len..];
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(BlobError::Unauthentic);
    }
    let compressed = key
        .key
        .open(&blob[..header_len], body)
        .map_err(|e| match e {
            CryptoError::Unauthentic => BlobError::Unauthentic,
            other => BlobError::Seal(other.to_string()),
        })?;
    if header.kind != expected {
        return Err(BlobError::WrongKind {
            expected: expected.as_str(),
            found: header.kind.as_str(),
        });
    }
    inflate(&compressed, MAX_PAYLOAD_BYTES)
}

/// Inflates a raw deflate stream of at most `limit` bytes. The output buffer is the decompressor's only window
/// (no internal copy of the plaintext), and it grows by moving into a larger zeroizing buffer, so every copy of the
/// plaintext is wiped when it is freed.
fn inflate(compressed: &[u8], limit: u64) -> Result<Zeroizing<Vec<u8>>, BlobError> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    // One byte past the limit tells "exactly the limit" from "more".
    let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let first = compressed.len().saturating_mul(4).max(4096).min(cap);
    let mut out = Zeroizing::new(vec![0u8; first]);
    let mut state = Box::<DecompressorOxide>::default();
    let (mut in_pos, mut out_pos) = (0usize, 0usize);
    loop {
        let input = compressed.get(in_pos..).unwrap_or_default();
        let (status, read, written) = decompress(
            &mut state,
            input,
            &mut out[..],
            out_pos,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        in_pos = in_pos.saturating_add(read);
        out_pos = out_pos.saturating_add(written);
        match status {
            TINFLStatus::Done if out_pos as u64 <= limit => {
                out.truncate(out_pos);
                return Ok(out);
            }
            TINFLStatus::Done => return Err(BlobError::TooLarge),
            TINFLStatus::HasMoreOutput if out.len() >= cap => return Err(BlobError::TooLarge),
            TINFLStatus::HasMoreOutput => {
                let mut grown = Zeroizing::new(vec![0u8; out.len().saturating_mul(2).min(cap)]);
                if let (Some(dst), Some(src)) = (grown.get_mut(..out_pos), out.get(..out_pos)) {
                    dst.copy_from_slice(src);
                }
                out = grown;
            }
            _ => return Err(BlobError::Unauthentic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: [u8; 16] = [0x11; 16];

    fn key(b: u8) -> GeographyKey {
        GeographyKey {
            id: [b; 16],
            key: SealingKey::from_bytes(&[b; 32]).unwrap(),
        }
    }

    fn blob() -> Vec<u8> {
        seal_object_blob(
            ObjectKind::Secret,
            SUB,
            "local",
            &key(1),
            br#"{"name":"a","versions":[]}"#,
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let b = blob();
        let p = open_object_blob(&b, ObjectKind::Secret, SUB, "local", &[key(2), key(1)]).unwrap();
        assert_eq!(&p[..], br#"{"name":"a","versions":[]}"#);
    }

    #[test]
    fn refusals_say_why() {
        let b = blob();
        let open = |b: &[u8], kind, sub, geo, keys: &[GeographyKey]| {
            open_object_blob(b, kind, sub, geo, keys).err()
        };
        assert_eq!(
            open(&b, ObjectKind::Secret, [0; 16], "local", &[key(1)]),
            Some(BlobError::ForeignSubscription)
        );
        assert!(matches!(
            open(&b, ObjectKind::Secret, SUB, "eu", &[key(1)]),
            Some(BlobError::ForeignGeography { .. })
        ));
        assert_eq!(
            open(&b, ObjectKind::Secret, SUB, "local", &[key(2)]),
            Some(BlobError::UnknownKey)
        );
        assert!(matches!(
            open(&b, ObjectKind::Key, SUB, "local", &[key(1)]),
            Some(BlobError::WrongKind { .. })
        ));
        assert_eq!(
            open(b"hello world", ObjectKind::Secret, SUB, "local", &[key(1)]),
            Some(BlobError::NotABlob)
        );
        let mut v2 = b.clone();
        v2[4] = 2;
        assert_eq!(
            open(&v2, ObjectKind::Secret, SUB, "local", &[key(1)]),
            Some(BlobError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let b = blob();
        for n in 0..b.len() {
            assert!(
                open_object_blob(&b[..n], ObjectKind::Secret, SUB, "local", &[key(1)]).is_err(),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn every_bit_flip_is_refused() {
        let b = blob();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut bad = b.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    open_object_blob(&bad, ObjectKind::Secret, SUB, "local", &[key(1)]).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn payloads_over_the_limit_are_neither_sealed_nor_inflated() {
        let max = MAX_PAYLOAD_BYTES as usize;
        let big = vec![b'a'; max + 1];
        assert_eq!(
            seal_object_blob(ObjectKind::Secret, SUB, "local", &key(1), &big).err(),
            Some(BlobError::TooLarge)
        );
        let at_limit =
            seal_object_blob(ObjectKind::Secret, SUB, "local", &key(1), &big[..max]).unwrap();
        let opened =
            open_object_blob(&at_limit, ObjectKind::Secret, SUB, "local", &[key(1)]).unwrap();
        assert_eq!(opened.len(), max);
        // A blob sealed elsewhere around a payload one byte over (it deflates to a few KB) is refused on opening.
        let over =
            seal_inner(ObjectKind::Secret, SUB, "local", &key(1), &big[..max], None).unwrap();
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&big).unwrap();
        let compressed = enc.finish().unwrap();
        let (_, header_len) = peek_header(&over).unwrap();
        let mut forged = over[..header_len].to_vec();
        forged.extend(key(1).key.seal(&over[..header_len], &compressed).unwrap());
        assert!(forged.len() < 1 << 20);
        assert_eq!(
            open_object_blob(&forged, ObjectKind::Secret, SUB, "local", &[key(1)]).err(),
            Some(BlobError::TooLarge)
        );
    }

    #[test]
    fn appended_bytes_are_refused() {
        let mut b = blob();
        b.push(0);
        assert_eq!(
            open_object_blob(&b, ObjectKind::Secret, SUB, "local", &[key(1)]).err(),
            Some(BlobError::Unauthentic)
        );
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn inflate_grows_its_buffer_and_keeps_to_the_limit() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let z = deflate(&data);
        assert!(
            z.len() * 4 < data.len(),
            "the output outgrows the first buffer"
        );
        assert_eq!(&inflate(&z, 300_000).unwrap()[..], &data[..]);
        assert_eq!(inflate(&z, 299_999).err(), Some(BlobError::TooLarge));
        assert_eq!(inflate(&z, 4096).err(), Some(BlobError::TooLarge));
        assert_eq!(inflate(&deflate(b""), 0).unwrap().len(), 0);
        assert_eq!(
            inflate(&z[..z.len() / 2], 1 << 20).err(),
            Some(BlobError::Unauthentic)
        );
        assert_eq!(
            inflate(&[0xff; 64], 1 << 20).err(),
            Some(BlobError::Unauthentic)
        );
    }

    /// Writes the golden vector files: `KEYHAVEN_WRITE_GOLDEN=1 cargo test -p keyhaven-blob -- --ignored`.
    #[test]
    #[ignore]
    fn write_golden_vector() {
        if std::env::var("KEYHAVEN_WRITE_GOLDEN").is_err() {
            return;
        }
        let payload = include_str!("../testdata/golden-secret-v1.payload.json").trim();
        let b = seal_inner(
            ObjectKind::Secret,
            [0x11; 16],
            "local",
            &key(0x42),
            payload.as_bytes(),
            Some([0x24; 12]),
        )
        .unwrap();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/golden-secret-v1.hex"),
            hex + "\n",
        )
        .unwrap();
    }

    /// A blob written by format version 1 (docs/backup-format.md, "Golden vector") must open forever.
    #[test]
    fn golden_vector_v1() {
        let hex = include_str!("../testdata/golden-secret-v1.hex").trim();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let (h, _) = peek_header(&bytes).unwrap();
        assert_eq!(h.kind, ObjectKind::Secret);
        assert_eq!(h.geography, "local");
        let p = open_object_blob(
            &bytes,
            ObjectKind::Secret,
            [0x11; 16],
            "local",
            &[key(0x42)],
        )
        .unwrap();
        let expected = include_str!("../testdata/golden-secret-v1.payload.json").trim();
        assert_eq!(std::str::from_utf8(&p).unwrap(), expected);
    }
}
