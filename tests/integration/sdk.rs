//! Official Azure SDK clients pointed at a test server with no behavioural option changed: challenge-resource
//! verification stays on. Only the transport is ours (to trust the local CA and pin `*.vault.localhost` to
//! loopback) and retries are off so that a failure shows at once.

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::Secret;
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use keyhaven_testkit::TestServer;
use std::sync::Arc;

pub fn client_options(ts: &TestServer, vault: &str) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.transport = Some(Transport::new(Arc::new(ts.http(&[vault]))));
    o.retry = RetryOptions::none();
    o
}

pub fn credential(ts: &TestServer, vault: &str) -> Arc<ClientSecretCredential> {
    credential_with_transport(ts, ts.http(&[vault]))
}

/// The admin's credential, getting its tokens through `http`.
pub fn credential_with_transport(
    ts: &TestServer,
    http: reqwest::Client,
) -> Arc<ClientSecretCredential> {
    let mut co = ClientOptions::default();
    co.transport = Some(Transport::new(Arc::new(http)));
    co.retry = RetryOptions::none();
    let mut cc = CustomConfiguration::default();
    cc.authority_host = ts.authority();
    co.cloud = Some(Arc::new(CloudConfiguration::from(cc)));
    let mut opts = ClientSecretCredentialOptions::default();
    opts.client_options = co;
    ClientSecretCredential::new(
        &ts.admin.tenant_id,
        ts.admin.client_id.clone(),
        Secret::new(ts.admin.client_secret.clone()),
        Some(opts),
    )
    .unwrap()
}

pub fn secret_client(ts: &TestServer, vault: &str) -> SecretClient {
    let mut opts = SecretClientOptions::default();
    opts.client_options = client_options(ts, vault);
    SecretClient::new(&ts.vault_url(vault), credential(ts, vault), Some(opts)).unwrap()
}

/// The HTTP status of a failed SDK call.
pub fn status(e: &azure_core::Error) -> u16 {
    e.http_status().map(u16::from).unwrap_or(0)
}

pub fn key_client(ts: &TestServer, vault: &str) -> azure_security_keyvault_keys::KeyClient {
    let mut opts = azure_security_keyvault_keys::KeyClientOptions::default();
    opts.client_options = client_options(ts, vault);
    azure_security_keyvault_keys::KeyClient::new(
        &ts.vault_url(vault),
        credential(ts, vault),
        Some(opts),
    )
    .unwrap()
}

pub fn certificate_client(
    ts: &TestServer,
    vault: &str,
) -> azure_security_keyvault_certificates::CertificateClient {
    let mut opts = azure_security_keyvault_certificates::CertificateClientOptions::default();
    opts.client_options = client_options(ts, vault);
    azure_security_keyvault_certificates::CertificateClient::new(
        &ts.vault_url(vault),
        credential(ts, vault),
        Some(opts),
    )
    .unwrap()
}
