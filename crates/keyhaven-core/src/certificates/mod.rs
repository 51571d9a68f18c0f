//! Certificates: creation under a policy (self-signed, or a signing request merged later), import of PKCS#12 and
//! PEM, the policy, and the key and secret every certificate version manages. Lifecycle (list, versions, delete,
//! recover, purge, backup) is shared, in `objects` and `backup`, which carry the managed objects along.
//!
//! A certificate version keeps its DER certificate and thumbprint in the clear. Its private key lives in the managed
//! key of the same name and version (sealed like any key), and the certificate with its chain (and, when the policy
//! lets the key be exported, the private key) in the managed secret, as PKCS#12 or PEM per the policy.

mod contacts;
mod import;
mod issuance;
mod issuers;
mod lifetime;
mod operation;
mod pending;
mod policy;
mod properties;
mod secret_format;

pub use contacts::Contact;
pub(crate) use issuers::IssuerRecord;
pub use issuers::{AdministratorDetails, Issuer, IssuerChange};
pub(crate) use operation::OperationRecord;
pub use operation::{CertificateOperation, OperationError, OperationStatus};
pub use policy::{
    ActionSpec, CertificatePolicy, IssuerRef, KeyProps, LifetimeActionSpec, PolicyAttributes, Sans,
    SecretProps, Trigger, X509Props, CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12, ISSUER_SELF,
    ISSUER_UNKNOWN,
};

pub use import::ImportCertificate;
pub use issuance::CreateCertificate;
pub use properties::{CertificateChange, CertificateView};
pub use secret_format::SecretFormat;
