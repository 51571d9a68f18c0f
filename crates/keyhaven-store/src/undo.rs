//! An undo journal: lets a job spread its writes over many bounded transactions and still be all or nothing.
//!
//! Every write made through [`UndoJournal::record`] first notes, under the journal's own key prefix and in the
//! same transaction, what the key held before the job touched it (its value, or that it was absent); only the
//! first touch of a key is noted, so the entry always holds the state from before the job. Undoing puts every
//! noted key back and removes its entry, a bounded number at a time ([`UndoJournal::undo_step`]); discarding
//! (after the job succeeded) only removes entries ([`UndoJournal::discard_step`]). Both are idempotent across
//! crashes: an entry disappears in the same transaction that handles it, so a step interrupted by a crash is
//! simply done again.
//!
//! The journal is only correct if nothing else writes the keys it covers until it has been undone or discarded;
//! the caller fences them off (Keyhaven marks the vault as being restored).
//!
//! Entry: key = prefix ‖ the written key; value = format byte `1` ‖ `0` (the key was absent) or
//! `1` ‖ the previous value. Any other value is refused as corrupt rather than guessed at.

use crate::keys::prefix_end;
use crate::{Entry, StoreError, WriteTxn};

const FORMAT: u8 = 1;
const ABSENT: u8 = 0;
const PRESENT: u8 = 1;

/// How much one undo or discard step may handle in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLimits {
    /// Entries per step.
    pub entries: usize,
    /// Bytes of previous values written back per step (at least one entry is always handled).
    pub bytes: usize,
}

impl Default for StepLimits {
    fn default() -> Self {
        StepLimits {
            entries: 2048,
            bytes: 8 << 20,
        }
    }
}

/// An undo journal kept under `prefix` (a key range reserved for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoJournal {
    prefix: Vec<u8>,
}

impl UndoJournal {
    /// A journal under `prefix`, which must be non-empty and reserved: no other key may start with it.
    pub fn new(prefix: Vec<u8>) -> Result<Self, StoreError> {
        if prefix.is_empty() {
            return Err(StoreError::unavailable(
                "an undo journal needs a key prefix",
            ));
        }
        Ok(UndoJournal { prefix })
    }

    /// The key prefix the journal's entries are kept under.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    fn entry_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(key);
        k
    }

    /// Wraps `txn` so that every put and delete through it is noted in the journal first.
    pub fn record<'a>(&'a self, txn: &'a mut dyn WriteTxn) -> Journaled<'a> {
        Journaled {
            journal: self,
            txn,
            noted: 0,
        }
    }

    /// Whether the journal holds no entry.
    pub fn is_empty(&self, txn: &mut dyn WriteTxn) -> Result<bool, StoreError> {
        Ok(self.entries(txn, 1)?.is_empty())
    }

    fn entries(&self, txn: &mut dyn WriteTxn, limit: usize) -> Result<Vec<Entry>, StoreError> {
        txn.scan(&self.prefix, &prefix_end(&self.prefix), limit)
    }

    /// Puts back up to `limits` of the noted keys and removes their entries, in `txn`. Returns whether the
    /// journal is empty afterwards (then every key it covered holds what it held before the job).
    pub fn undo_step(
        &self,
        txn: &mut dyn WriteTxn,
        limits: StepLimits,
    ) -> Result<bool, StoreError> {
        let mut bytes = 0usize;
        let mut handled = 0usize;
        // Entries are removed as they are handled, so every scan starts at the front of what is left.
        while handled < limits.entries.max(1) && bytes < limits.bytes {
            let want = (limits.entries.max(1) - handled).min(256);
            let batch = self.entries(txn, want)?;
            if batch.is_empty() {
                return Ok(true);
            }
            for (ek, ev) in batch {
                let key = &ek[self.prefix.len()..];
                match decode(&ev)? {
                    Some(prev) => {
                        bytes += prev.len();
                        txn.put(key, prev)?;
                    }
                    None => txn.delete(key)?,
                }
                txn.delete(&ek)?;
                handled += 1;
                if bytes >= limits.bytes {
                    break;
                }
            }
        }
        self.is_empty(txn)
    }

    /// Removes up to `limits.entries` entries without touching the keys they cover (the job succeeded). Returns
    /// whether the journal is empty afterwards.
    pub fn discard_step(
        &self,
        txn: &mut dyn WriteTxn,
        limits: StepLimits,
    ) -> Result<bool, StoreError> {
        let mut left = limits.entries.max(1);
        while left > 0 {
            let batch = self.entries(txn, left.min(1024))?;
            if batch.is_empty() {
                return Ok(true);
            }
            for (ek, ev) in &batch {
                decode(ev)?;
                txn.delete(ek)?;
            }
            left -= batch.len();
        }
        self.is_empty(txn)
    }
}

/// The previous state an entry holds: `Some(value)` or `None` (absent).
fn decode(v: &[u8]) -> Result<Option<&[u8]>, StoreError> {
    match v {
        [FORMAT, ABSENT] => Ok(None),
        [FORMAT, PRESENT, prev @ ..] => Ok(Some(prev)),
        _ => Err(StoreError::corrupt(
            "an undo journal entry has an unknown format",
        )),
    }
}

/// A write transaction whose puts and deletes are noted in an undo journal. Reads pass straight through.
pub struct Journaled<'a> {
    journal: &'a UndoJournal,
    txn: &'a mut dyn WriteTxn,
    noted: usize,
}

impl Journaled<'_> {
    /// Bytes of journal entries written through this wrapper so far.
    pub fn noted_bytes(&self) -> usize {
        self.noted
    }

    fn note(&mut self, key: &[u8]) -> Result<(), StoreError> {
        if key.starts_with(&self.journal.prefix) {
            return Err(StoreError::unavailable(
                "a journaled write may not touch its own journal",
            ));
        }
        let ek = self.journal.entry_key(key);
        if self.txn.get(&ek)?.is_some() {
            return Ok(());
        }
        let entry = match self.txn.get(key)? {
            Some(prev) => {
                let mut e = Vec::with_capacity(prev.len() + 2);
                e.extend_from_slice(&[FORMAT, PRESENT]);
                e.extend_from_slice(&prev);
                e
            }
            None => vec![FORMAT, ABSENT],
        };
        self.noted += ek.len() + entry.len();
        self.txn.put(&ek, &entry)
    }
}

impl WriteTxn for Journaled<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.txn.get(key)
    }
    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.txn.scan(start, end, limit)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.note(key)?;
        self.txn.put(key, value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.note(key)?;
        self.txn.delete(key)
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn entries_decode_strictly() {
        assert_eq!(decode(&[1, 0]).ok(), Some(None));
        assert_eq!(decode(&[1, 1]).ok(), Some(Some(&[][..])));
        assert_eq!(decode(&[1, 1, 7, 8]).ok(), Some(Some(&[7u8, 8][..])));
        for bad in [&[][..], &[1], &[0, 0], &[2, 0], &[1, 0, 0], &[1, 2, 5]] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
