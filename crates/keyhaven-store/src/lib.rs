//! The storage contract. Storage sits outside the trust boundary: engines only ever see opaque keys and values
//! (ciphertext and non-secret metadata), never secret material in the clear.
//!
//! An [`Engine`] is an ordered byte-key store with point-in-time snapshots, readers (point reads of the latest
//! state, each call in one state: cheaper than a snapshot where a snapshot is a server-side transaction) and atomic
//! write transactions. On top
//! of any engine, [`Store`] adds *group commit*: concurrent writers hand their transaction functions to a single
//! committer, which runs a batch of them in one engine transaction and makes the batch durable with one commit.
//! Each function sees the writes of those before it; one that fails leaves no trace (its writes are staged in
//! an overlay and dropped), without affecting the others.
#![warn(missing_docs)]

mod engine;
mod error;
mod memory;
mod overlay;
mod store;

pub mod conformance;
pub mod keys;
pub mod lease;
pub mod receipt;
pub mod undo;

pub use engine::{
    snapshot_reader, Engine, EngineMode, EngineTxn, Entry, Reader, Snapshot, WriteTxn,
};
pub use error::StoreError;
pub use lease::{Lease, LeaseHold, LocalLeases};
pub use memory::MemoryEngine;
pub use store::Store;
pub use undo::{Journaled, StepLimits, UndoJournal};
