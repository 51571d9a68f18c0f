//! Validated types of the Keyhaven domain, parsed once at the edge and trusted everywhere after.
//!
//! Nothing in this crate knows about HTTP, JSON wire shapes, storage or cryptography.
#![warn(missing_docs)]

mod attributes;
mod clock;
mod key_kinds;
mod names;
mod secret_value;
pub mod time;

pub use attributes::{Attributes, AttributesPatch, Tags, MAX_TAGS};
pub use clock::{Clock, ManualClock, SystemClock};
pub use key_kinds::{KeyKind, KeyOp};
pub use names::{ObjectKind, ObjectName, VaultName, Version};
pub use secret_value::{SecretValue, MAX_SECRET_VALUE_BYTES};

/// A rule a value broke; the message is safe to show to the caller (it never holds secret material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// An error with this message, shown to the caller as is: it must not quote secret material.
    pub fn new(msg: impl Into<String>) -> Self {
        Invalid(msg.into())
    }
}
