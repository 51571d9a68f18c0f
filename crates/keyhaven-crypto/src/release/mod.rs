//! Secure key release: checking an attestation token's signature with its authority's public key
//! ([`attestation`]) and wrapping a released key for the attested environment's public key ([`wrapping`]).

pub mod attestation;
pub mod wrapping;

pub use attestation::{jwk_from_certificate, jws_header, jws_unverified_claims, verify_jws};
pub use wrapping::{wrap_for_release, ReleaseWrapping};
