use crate::{EngineTxn, Entry, StoreError, WriteTxn};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Stages one writer's changes over the shared engine transaction: reads see the staged writes first; nothing
/// reaches the engine transaction until [`Overlay::apply`].
pub(crate) struct Overlay<'a> {
    base: &'a mut dyn EngineTxn,
    staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a mut dyn EngineTxn) -> Self {
        Overlay {
            base,
            staged: BTreeMap::new(),
        }
    }

    pub(crate) fn apply(self) -> Result<(), StoreError> {
        for (k, v) in self.staged {
            match v {
                Some(v) => self.base.put(&k, &v)?,
                None => self.base.delete(&k)?,
            }
        }
        Ok(())
    }
}

impl WriteTxn for Overlay<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.staged.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn get_many(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let unstaged: Vec<&[u8]> = keys
            .iter()
            .copied()
            .filter(|k| !self.staged.contains_key(*k))
            .collect();
        let mut from_base = self.base.get_many(&unstaged)?.into_iter();
        keys.iter()
            .map(|k| match self.staged.get(*k) {
                Some(v) => Ok(v.clone()),
                None => from_base.next().ok_or_else(|| {
                    StoreError::corrupt("the engine answered fewer keys than asked")
                }),
            })
            .collect()
    }

    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let range = (
            Bound::Included(start.to_vec()),
            Bound::Excluded(end.to_vec()),
        );
        let staged: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = self.staged.range(range).collect();
        // Staged deletions may hide base entries, so ask the base for enough to still fill `limit`.
        let base = self
            .base
            .scan(start, end, limit.saturating_add(staged.len()))?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = base.into_iter().collect();
        for (k, v) in staged {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().take(limit).collect())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.staged.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.staged.insert(key.to_vec(), None);
        Ok(())
    }
}
