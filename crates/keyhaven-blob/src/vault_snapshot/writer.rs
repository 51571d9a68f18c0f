//! The snapshot writer: writes the header, frames records into the plaintext stream and seals it chunk by chunk.

use super::header;
use super::{
    chunk_aad, chunk_nonce, SnapshotHeader, CHUNK_BYTES, CHUNK_FINAL, CHUNK_MORE, FRAME_MANIFEST,
    FRAME_RECORD, MAX_RECORD_BYTES,
};
use crate::{BlobError, GeographyKey};
use keyhaven_crypto::{SealingKey, NONCE_LEN};
use std::io::Write;
use zeroize::{Zeroize, Zeroizing};

/// Writes one snapshot. Dropping it without [`SnapshotWriter::finish`] leaves a stream without a final chunk,
/// which every reader refuses as truncated.
pub struct SnapshotWriter<W: Write> {
    out: W,
    data_key: SealingKey,
    header_digest: [u8; 32],
    chunk_size: usize,
    /// Sequence number of the next chunk to seal.
    seq: u64,
    /// Plaintext not yet sealed; never more than `chunk_size` bytes.
    buf: Zeroizing<Vec<u8>>,
    written: u64,
    /// Set by a failed write: the output then holds a partial chunk and nothing more may be appended.
    failed: bool,
}

impl<W: Write> SnapshotWriter<W> {
    /// Writes the header (with a fresh random 256-bit data key wrapped under `key`, bound to the header).
    /// `header.key_id` must equal `key.id` (else `BlobError::Seal`).
    pub fn new(out: W, header: SnapshotHeader, key: &GeographyKey) -> Result<Self, BlobError> {
        if header.key_id != key.id {
            return Err(key_mismatch());
        }
        let seal = |e: keyhaven_crypto::CryptoError| BlobError::Seal(e.to_string());
        let data_key = SealingKey::generate().map_err(seal)?;
        let wrap_nonce = keyhaven_crypto::random_bytes::<NONCE_LEN>().map_err(seal)?;
        Self::with_parts(out, header, key, data_key, wrap_nonce, CHUNK_BYTES)
    }

    /// `new` with its randomness and chunk size given: for golden vectors and tests only. A data key must never
    /// be used for two snapshots.
    pub(super) fn with_parts(
        mut out: W,
        header: SnapshotHeader,
        key: &GeographyKey,
        data_key: SealingKey,
        wrap_nonce: [u8; NONCE_LEN],
        chunk_size: usize,
    ) -> Result<Self, BlobError> {
        if header.key_id != key.id {
            return Err(key_mismatch());
        }
        let mut bytes = header::encode_fields(&header, chunk_size)?;
        let wrapped = key
            .key
            .seal_with_nonce(&wrap_nonce, &bytes, data_key.expose())
            .map_err(|e| BlobError::Seal(e.to_string()))?;
        bytes.extend_from_slice(&wrapped);
        out.write_all(&bytes).map_err(io)?;
        Ok(SnapshotWriter {
            out,
            data_key,
            header_digest: keyhaven_crypto::sha256(&bytes),
            chunk_size,
            seq: 0,
            buf: Zeroizing::new(Vec::with_capacity(chunk_size)),
            written: bytes.len() as u64,
            failed: false,
        })
    }

    /// Appends one record (opaque bytes, 0..=`MAX_RECORD_BYTES`) to the plaintext stream; sealed chunks are
    /// written as they fill (records may span chunks). Memory stays bounded by the chunk size.
    pub fn write_record(&mut self, record: &[u8]) -> Result<(), BlobError> {
        self.usable()?;
        if record.len() > MAX_RECORD_BYTES {
            return Err(BlobError::TooLarge);
        }
        let r = self.append_frame(FRAME_RECORD, record);
        self.failed = r.is_err();
        r
    }

    /// Bytes written to `out` so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Seals what is buffered, then the final chunk holding `manifest` (opaque bytes, 0..=`MAX_RECORD_BYTES`);
    /// flushes; returns `out`.
    pub fn finish(mut self, manifest: &[u8]) -> Result<W, BlobError> {
        self.usable()?;
        if manifest.len() > MAX_RECORD_BYTES {
            return Err(BlobError::TooLarge);
        }
        self.append_frame(FRAME_MANIFEST, manifest)?;
        // The manifest frame is at least its 5-byte head, and `append` seals a full buffer only when more bytes
        // follow, so the final chunk is never empty.
        self.seal_chunk(true)?;
        self.out.flush().map_err(io)?;
        Ok(self.out)
    }

    #[cfg(test)]
    pub(super) fn get_ref(&self) -> &W {
        &self.out
    }

    fn usable(&self) -> Result<(), BlobError> {
        if self.failed {
            return Err(BlobError::Io(
                "an earlier write of this snapshot failed; start a new snapshot".into(),
            ));
        }
        Ok(())
    }

    fn append_frame(&mut self, kind: u8, bytes: &[u8]) -> Result<(), BlobError> {
        let len = u32::try_from(bytes.len()).map_err(|_| BlobError::TooLarge)?;
        let [l0, l1, l2, l3] = len.to_be_bytes();
        self.append(&[kind, l0, l1, l2, l3])?;
        self.append(bytes)
    }

    /// Adds plaintext, sealing the buffer as a non-final chunk whenever it is full and more bytes follow.
    fn append(&mut self, mut data: &[u8]) -> Result<(), BlobError> {
        while !data.is_empty() {
            if self.buf.len() >= self.chunk_size {
                self.seal_chunk(false)?;
            }
            let n = (self.chunk_size - self.buf.len()).min(data.len());
            let (now, rest) = data.split_at(n);
            self.buf.extend_from_slice(now);
            data = rest;
        }
        Ok(())
    }

    /// Seals the buffer as chunk `seq`: flag ‖ u32 BE length ‖ ciphertext ‖ tag (the nonce is implied by `seq`).
    fn seal_chunk(&mut self, is_final: bool) -> Result<(), BlobError> {
        let r = self.seal_chunk_inner(is_final);
        self.failed |= r.is_err();
        r
    }

    fn seal_chunk_inner(&mut self, is_final: bool) -> Result<(), BlobError> {
        let aad = chunk_aad(&self.header_digest, self.seq, is_final);
        let sealed = self
            .data_key
            .seal_with_nonce(&chunk_nonce(self.seq), &aad, &self.buf)
            .map_err(|e| BlobError::Seal(e.to_string()))?;
        let body = sealed.get(NONCE_LEN..).unwrap_or_default();
        let len = u32::try_from(body.len()).map_err(|_| BlobError::TooLarge)?;
        let [l0, l1, l2, l3] = len.to_be_bytes();
        let flag = if is_final { CHUNK_FINAL } else { CHUNK_MORE };
        self.out.write_all(&[flag, l0, l1, l2, l3]).map_err(io)?;
        self.out.write_all(body).map_err(io)?;
        self.written += 5 + body.len() as u64;
        self.buf.zeroize();
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(BlobError::Seal("too many chunks".into()))?;
        Ok(())
    }
}

fn key_mismatch() -> BlobError {
    BlobError::Seal("the snapshot header names another geography key than the one given".into())
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Io(e.to_string())
}
