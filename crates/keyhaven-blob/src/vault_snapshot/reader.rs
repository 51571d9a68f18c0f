//! The snapshot reader: checks and unwraps the header, then opens chunks one at a time and parses the plaintext
//! stream of frames out of them.

use super::header::{self, WRAPPED_KEY_LEN};
use super::source::Source;
use super::{
    chunk_aad, chunk_nonce, SnapshotHeader, CHUNK_FINAL, CHUNK_MORE, CHUNK_PREFIX_LEN,
    FRAME_HEAD_LEN, FRAME_MANIFEST, FRAME_RECORD, MAX_RECORD_BYTES,
};
use crate::{BlobError, GeographyKey};
use keyhaven_crypto::{SealingKey, NONCE_LEN, TAG_LEN};
use std::io::Read;
use zeroize::Zeroizing;

/// Reads a snapshot record by record. See the module documentation for when its records may be trusted as a
/// complete snapshot.
pub struct SnapshotReader<R: Read> {
    src: Source<R>,
    header: SnapshotHeader,
    header_digest: [u8; 32],
    data_key: SealingKey,
    chunk_size: usize,
    /// Sequence number of the next chunk to open.
    seq: u64,
    /// nonce ‖ ciphertext ‖ tag of the chunk being opened: `NONCE_LEN + chunk_size + TAG_LEN` bytes once the first
    /// chunk is read.
    sealed: Vec<u8>,
    /// Plaintext of the current chunk and how much of it has been parsed.
    chunk: Zeroizing<Vec<u8>>,
    pos: usize,
    chunk_is_final: bool,
    /// A frame head (type, length) that may straddle two chunks.
    head: [u8; FRAME_HEAD_LEN],
    head_len: usize,
    /// The frame being assembled: its type and announced length, and the bytes so far.
    frame: Option<(u8, usize)>,
    body: Zeroizing<Vec<u8>>,
    manifest: Option<Zeroizing<Vec<u8>>>,
    /// The first error; every later call returns it again.
    failed: Option<BlobError>,
    #[cfg(test)]
    peak_buffered: usize,
}

impl<R: Read> SnapshotReader<R> {
    /// Reads and checks the header exactly as object blobs are checked (magic, version, subscription →
    /// `ForeignSubscription`, geography → `ForeignGeography`, key id among `keys` → `UnknownKey`), then unwraps
    /// the data key (failure → `Unauthentic`), which authenticates every header field.
    pub fn open(
        input: R,
        subscription: [u8; 16],
        geography: &str,
        keys: &[GeographyKey],
    ) -> Result<Self, BlobError> {
        let mut src = Source::new(input);
        let raw = header::read(&mut src)?;
        if raw.header.subscription != subscription {
            return Err(BlobError::ForeignSubscription);
        }
        if !raw.header.geography.eq_ignore_ascii_case(geography) {
            return Err(BlobError::ForeignGeography {
                blob: raw.header.geography,
                vault: geography.to_owned(),
            });
        }
        let key = keys
            .iter()
            .find(|k| k.id == raw.header.key_id)
            .ok_or(BlobError::UnknownKey)?;
        let (fields, wrapped) = raw.split();
        if wrapped.len() != WRAPPED_KEY_LEN {
            return Err(BlobError::Truncated);
        }
        let data_key = key
            .key
            .unwrap_key(fields, wrapped)
            .map_err(|_| BlobError::Unauthentic)?;
        let header_digest = keyhaven_crypto::sha256(&raw.bytes);
        Ok(SnapshotReader {
            src,
            header: raw.header,
            header_digest,
            data_key,
            chunk_size: raw.chunk_size,
            seq: 0,
            sealed: Vec::new(),
            chunk: Zeroizing::new(Vec::new()),
            pos: 0,
            chunk_is_final: false,
            head: [0; FRAME_HEAD_LEN],
            head_len: 0,
            frame: None,
            body: Zeroizing::new(Vec::new()),
            manifest: None,
            failed: None,
            #[cfg(test)]
            peak_buffered: 0,
        })
    }

    /// The snapshot's header, authenticated by [`open`](SnapshotReader::open).
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// The next record, or `None` once the final chunk has been read and authenticated, the manifest is complete
    /// and the input is exhausted. A stream that ends before its final chunk is `TruncatedStream`; bytes after
    /// the final chunk are `TrailingData`. After an error every call returns that error again.
    pub fn next_record(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, BlobError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.manifest.is_some() {
            return Ok(None);
        }
        let r = self.advance();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// The manifest, once `next_record` has returned `Ok(None)`.
    pub fn manifest(&self) -> Option<&[u8]> {
        self.manifest.as_deref().map(Vec::as_slice)
    }

    /// Bytes consumed from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.src.consumed()
    }

    /// The most bytes the reader has held in its own buffers at once (sealed chunk, chunk plaintext, the frame
    /// being assembled).
    #[cfg(test)]
    pub(super) fn peak_buffered(&self) -> usize {
        self.peak_buffered
    }

    fn note_buffered(&mut self) {
        #[cfg(test)]
        {
            let now = self.sealed.capacity() + self.chunk.capacity() + self.body.capacity();
            self.peak_buffered = self.peak_buffered.max(now);
        }
    }

    fn advance(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, BlobError> {
        loop {
            if self.pos >= self.chunk.len() {
                if self.chunk_is_final {
                    return Err(BlobError::MalformedStream(
                        "the final chunk ends inside a record or before the manifest",
                    ));
                }
                self.read_chunk()?;
                continue;
            }
            let avail = self.chunk.get(self.pos..).unwrap_or_default();
            match self.frame {
                None => {
                    let n = (FRAME_HEAD_LEN - self.head_len).min(avail.len());
                    if let (Some(dst), Some(src)) = (
                        self.head.get_mut(self.head_len..self.head_len + n),
                        avail.get(..n),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    self.head_len += n;
                    self.pos += n;
                    if self.head_len < FRAME_HEAD_LEN {
                        continue;
                    }
                    self.head_len = 0;
                    let [kind, l0, l1, l2, l3] = self.head;
                    let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
                    if kind != FRAME_RECORD && kind != FRAME_MANIFEST {
                        return Err(BlobError::MalformedStream("unknown frame type"));
                    }
                    if len > MAX_RECORD_BYTES {
                        return Err(BlobError::TooLarge);
                    }
                    self.frame = Some((kind, len));
                }
                Some((_, len)) => {
                    let n = (len - self.body.len()).min(avail.len());
                    reserve_zeroizing(&mut self.body, n, len);
                    self.body
                        .extend_from_slice(avail.get(..n).unwrap_or_default());
                    self.pos += n;
                    self.note_buffered();
                }
            }
            if let Some((kind, len)) = self.frame {
                if self.body.len() == len {
                    self.frame = None;
                    let body = std::mem::take(&mut self.body);
                    if kind == FRAME_RECORD {
                        return Ok(Some(body));
                    }
                    self.end_of_stream()?;
                    self.manifest = Some(body);
                    return Ok(None);
                }
            }
        }
    }

    /// The manifest is complete: it must end the final chunk, and the final chunk must end the input.
    fn end_of_stream(&mut self) -> Result<(), BlobError> {
        if !self.chunk_is_final || self.pos != self.chunk.len() {
            return Err(BlobError::MalformedStream(
                "the manifest does not end the final chunk",
            ));
        }
        self.sealed = Vec::new();
        self.chunk = Zeroizing::new(Vec::new());
        let mut probe = [0u8; 1];
        if self.src.fill(&mut probe)? != 0 {
            return Err(BlobError::TrailingData);
        }
        Ok(())
    }

    /// Reads, bounds-checks and opens the next chunk.
    fn read_chunk(&mut self) -> Result<(), BlobError> {
        let mut prefix = [0u8; CHUNK_PREFIX_LEN];
        if self.src.fill(&mut prefix)? < CHUNK_PREFIX_LEN {
            return Err(BlobError::TruncatedStream);
        }
        let [flag, l0, l1, l2, l3] = prefix;
        let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
        let full = self.chunk_size + TAG_LEN;
        let is_final = match flag {
            CHUNK_MORE if len == full => false,
            CHUNK_FINAL if len > TAG_LEN && len <= full => true,
            CHUNK_MORE | CHUNK_FINAL => {
                return Err(BlobError::MalformedStream("chunk length out of range"))
            }
            _ => return Err(BlobError::MalformedStream("unknown chunk flag")),
        };
        self.chunk = Zeroizing::new(Vec::new());
        if self.sealed.is_empty() {
            // Allocated once, zeroed by the allocator, at the size the authenticated header allows.
            self.sealed = vec![0; NONCE_LEN + full];
        }
        let sealed = self
            .sealed
            .get_mut(..NONCE_LEN + len)
            .ok_or(BlobError::MalformedStream("chunk length out of range"))?;
        let (nonce, body) = sealed.split_at_mut(NONCE_LEN);
        nonce.copy_from_slice(&chunk_nonce(self.seq));
        if self.src.fill(body)? < len {
            return Err(BlobError::TruncatedStream);
        }
        let aad = chunk_aad(&self.header_digest, self.seq, is_final);
        let plain = self
            .data_key
            .open(&aad, sealed)
            .map_err(|_| BlobError::Unauthentic)?;
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(BlobError::MalformedStream("too many chunks"))?;
        self.chunk = plain;
        self.pos = 0;
        self.chunk_is_final = is_final;
        self.note_buffered();
        Ok(())
    }
}

/// Makes room for `extra` more bytes in `buf`, never beyond `limit` (the frame's announced length), by moving
/// into a larger buffer; the old one is zeroized as it is dropped, so no copy of the plaintext is left behind.
fn reserve_zeroizing(buf: &mut Zeroizing<Vec<u8>>, extra: usize, limit: usize) {
    let need = buf.len() + extra;
    if need <= buf.capacity() {
        return;
    }
    let cap = buf.capacity().saturating_mul(2).min(limit).max(need);
    let mut grown = Zeroizing::new(Vec::with_capacity(cap));
    grown.extend_from_slice(buf);
    *buf = grown;
}
