//! The snapshot's input, read exactly and counted.

use crate::BlobError;
use std::io::Read;

/// The input, with a count of the bytes taken from it.
pub(super) struct Source<R> {
    inner: R,
    consumed: u64,
}

impl<R: Read> Source<R> {
    pub(super) fn new(inner: R) -> Self {
        Source { inner, consumed: 0 }
    }

    /// Bytes taken from the input so far.
    pub(super) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Fills `buf` from the input; returns how many bytes were read, fewer than `buf.len()` only at end of input.
    pub(super) fn fill(&mut self, buf: &mut [u8]) -> Result<usize, BlobError> {
        let mut n = 0;
        while n < buf.len() {
            let rest = buf.get_mut(n..).unwrap_or_default();
            match self.inner.read(rest) {
                Ok(0) => break,
                Ok(k) if k <= rest.len() => {
                    n += k;
                    self.consumed += k as u64;
                }
                Ok(_) => {
                    return Err(BlobError::Io(
                        "the input reported more bytes than it was asked for".into(),
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(BlobError::Io(e.to_string())),
            }
        }
        Ok(n)
    }
}
