use std::sync::Arc;

/// A storage failure. Cloneable so that one failed group commit can be reported to every writer in the group.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The engine could not read or write (disk, connection); the operation may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(Arc<str>),
    /// Stored data failed an integrity check.
    #[error("stored data is corrupt: {0}")]
    Corrupt(Arc<str>),
    /// This store serves reads only (e.g. a standby after failover).
    #[error("the store is read-only")]
    ReadOnly,
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// An [`Unavailable`](StoreError::Unavailable) error carrying `e`'s message.
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(e.to_string().into())
    }
    /// A [`Corrupt`](StoreError::Corrupt) error carrying `e`'s message.
    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(e.to_string().into())
    }
}
