//! The streamed whole-vault snapshot, format version 1 (`docs/vault-backup-format.md`).
//!
//! A snapshot is one stream: a clear header that names where the snapshot may be restored and carries a fresh
//! data key wrapped under the geography key, then a sequence of AES-256-GCM chunks under that data key, the last
//! of which is marked final and ends with the manifest. Writer and reader both work in memory bounded by the
//! chunk size plus the largest record; the reader refuses truncation, reordering, duplication, removal or
//! alteration of any byte, and never panics on any input.
//!
//! Records are authenticated chunk by chunk, so a reader hands them out before it has seen the end of the
//! stream. Whoever restores from a snapshot must treat the records as provisional until
//! [`SnapshotReader::next_record`] has returned `Ok(None)`: only then is the stream known to be complete.

mod header;
mod reader;
mod source;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::SnapshotReader;
pub use writer::SnapshotWriter;

use keyhaven_crypto::NONCE_LEN;

/// The four bytes every vault snapshot starts with.
pub const SNAPSHOT_MAGIC: &[u8; 4] = b"KHVS";
/// The snapshot format version this crate writes and the only one it reads.
pub const SNAPSHOT_FORMAT_VERSION: u8 = 1;
/// Largest single record the reader accepts.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// The plaintext size of every chunk but the final one, as the writer makes them.
const CHUNK_BYTES: usize = 64 << 10;
/// The chunk sizes a reader accepts from a header; anything else is refused before a chunk is read.
const MIN_CHUNK_BYTES: usize = 1 << 10;
const MAX_CHUNK_BYTES: usize = 1 << 20;

/// Chunk flag byte: a chunk that more chunks follow, and the last chunk of the stream.
const CHUNK_MORE: u8 = 0;
const CHUNK_FINAL: u8 = 1;
/// Flag byte plus the u32 length of ciphertext and tag.
const CHUNK_PREFIX_LEN: usize = 5;

/// Frame types of the plaintext stream: a record, and the manifest that ends the stream.
const FRAME_RECORD: u8 = 1;
const FRAME_MANIFEST: u8 = 2;
/// Frame type plus the u32 length of its bytes.
const FRAME_HEAD_LEN: usize = 5;

/// The clear header of a snapshot. Nothing in it is trusted by a reader until the data key it carries unwraps,
/// which authenticates every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The 16 bytes of the subscription id (a UUID) the snapshot was made in; it restores only there.
    pub subscription: [u8; 16],
    /// 1..=64 ASCII.
    pub geography: String,
    /// The geography key the data key is wrapped under.
    pub key_id: [u8; 16],
    /// Source vault name (1..=64 ASCII).
    pub vault: String,
    /// Unix seconds: the snapshot instant.
    pub created: i64,
    /// Random, unique per snapshot; chosen by whoever starts the snapshot.
    pub snapshot_id: [u8; 16],
}

/// The nonce of chunk `seq`: four zero bytes and the sequence number, big-endian. Unique because every snapshot
/// has a fresh data key and every chunk of it a distinct sequence number.
fn chunk_nonce(seq: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// The associated data of chunk `seq`: the header digest, the sequence number and the final flag.
fn chunk_aad(header_digest: &[u8; 32], seq: u64, is_final: bool) -> [u8; 41] {
    let mut a = [0u8; 41];
    a[..32].copy_from_slice(header_digest);
    a[32..40].copy_from_slice(&seq.to_be_bytes());
    a[40] = if is_final { CHUNK_FINAL } else { CHUNK_MORE };
    a
}
