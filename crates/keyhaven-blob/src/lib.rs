//! Keyhaven's versioned byte formats. Today: the object backup blob (one secret, key or certificate with all its
//! versions), specified in `docs/backup-format.md`. Readers never panic and refuse anything they cannot
//! authenticate before a single byte of it is used.
#![warn(missing_docs)]

mod object_blob;
pub mod vault_snapshot;

pub use object_blob::{
    open_object_blob, peek_header, seal_object_blob, BlobError, BlobHeader, GeographyKey,
    BLOB_FORMAT_VERSION, BLOB_MAGIC, MAX_PAYLOAD_BYTES,
};
