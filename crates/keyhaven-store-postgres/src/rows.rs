//! Rows as the store's values and entries.

use keyhaven_store::{Entry, StoreError};
use std::collections::HashMap;
use tokio_postgres::Row;

/// `(k, v)` rows as entries, in the rows' order.
pub(crate) fn entries(rows: Vec<Row>) -> Result<Vec<Entry>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let k: Vec<u8> = row.try_get(0).map_err(StoreError::corrupt)?;
            let v: Vec<u8> = row.try_get(1).map_err(StoreError::corrupt)?;
            Ok((k, v))
        })
        .collect()
}

/// The values of `keys`, in their order, from the `(k, v)` rows of a `GET_MANY` (one row per key found, in any
/// order; a key asked twice is answered twice).
pub(crate) fn values_of(
    keys: &[&[u8]],
    rows: Vec<Row>,
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    let found: HashMap<Vec<u8>, Vec<u8>> = entries(rows)?.into_iter().collect();
    Ok(keys.iter().map(|k| found.get(*k).cloned()).collect())
}

/// `keys` owned, to send as one array parameter.
pub(crate) fn key_array(keys: &[&[u8]]) -> Vec<Vec<u8>> {
    keys.iter().map(|k| k.to_vec()).collect()
}
