//! Certificates: create, import, get, list, versions, update, policy, the pending operation (get, cancel, delete,
//! merge), contacts, issuers, delete, deleted, recover, purge, backup, restore.

use crate::secrets::with_version;
use crate::vault::segment;
use crate::{ClientError, Pager, VaultClient};
use keyhaven_azure_api::certificates::{
    CertificateBundle, CertificateCreateParameters, CertificateImportParameters, CertificateItem,
    CertificateMergeParameters, CertificateOperationDto, CertificateOperationUpdateParameter,
    CertificateUpdateParameters, ContactsDto, IssuerBundle, IssuerItem,
};
use reqwest::Method;
use serde_json::Value;

const LIVE: &str = "certificates";
const DELETED: &str = "deletedcertificates";
const CONTACTS: &str = "contacts";
const ISSUERS: &str = "issuers";
const PENDING: &str = "pending";

fn name(n: &str) -> Result<&str, ClientError> {
    segment("certificate name", n)
}

fn issuer(n: &str) -> Result<&str, ClientError> {
    segment("issuer name", n)
}

impl VaultClient {
    /// `POST /certificates/{name}/create`: starts the create operation (answered as in progress; issuer `Self`
    /// completes at once, issuer `Unknown` waits for a merge). See [`VaultClient::get_certificate_operation`].
    pub async fn create_certificate(
        &self,
        name_: &str,
        params: &CertificateCreateParameters,
    ) -> Result<CertificateOperationDto, ClientError> {
        self.call(Method::POST, &[LIVE, name(name_)?, "create"], Some(params))
            .await
    }

    /// `POST /certificates/{name}/import`: a PKCS#12 (base64) or PEM certificate with its private key.
    pub async fn import_certificate(
        &self,
        name_: &str,
        params: &CertificateImportParameters,
    ) -> Result<CertificateBundle, ClientError> {
        self.call(Method::POST, &[LIVE, name(name_)?, "import"], Some(params))
            .await
    }

    /// `GET /certificates/{name}[/{version}]`: with its policy (the latest without a version).
    pub async fn get_certificate(
        &self,
        name_: &str,
        version: Option<&str>,
    ) -> Result<CertificateBundle, ClientError> {
        self.call_without_body(Method::GET, &with_version(LIVE, name(name_)?, version)?)
            .await
    }

    /// `GET /certificates[?includePending=true]`: pending certificates only when asked for, as Azure.
    pub fn list_certificates(&self, include_pending: bool) -> Pager<'_, CertificateItem> {
        let query: &[(&str, &str)] = match include_pending {
            true => &[("includePending", "true")],
            false => &[],
        };
        Pager::new(self, self.url(&[LIVE], query))
    }

    /// `GET /certificates/{name}/versions`.
    pub fn list_certificate_versions(
        &self,
        name_: &str,
    ) -> Result<Pager<'_, CertificateItem>, ClientError> {
        Ok(Pager::new(
            self,
            self.url(&[LIVE, name(name_)?, "versions"], &[]),
        ))
    }

    /// `PATCH /certificates/{name}[/{version}]`: attributes, tags, policy.
    pub async fn update_certificate(
        &self,
        name_: &str,
        version: Option<&str>,
        params: &CertificateUpdateParameters,
    ) -> Result<CertificateBundle, ClientError> {
        self.call(
            Method::PATCH,
            &with_version(LIVE, name(name_)?, version)?,
            Some(params),
        )
        .await
    }

    /// `GET /certificates/{name}/policy`.
    pub async fn get_certificate_policy(&self, name_: &str) -> Result<Value, ClientError> {
        self.call_without_body(Method::GET, &[LIVE, name(name_)?, "policy"])
            .await
    }

    /// `PATCH /certificates/{name}/policy`: the fields given replace the policy's.
    pub async fn update_certificate_policy(
        &self,
        name_: &str,
        policy: &Value,
    ) -> Result<Value, ClientError> {
        self.call(Method::PATCH, &[LIVE, name(name_)?, "policy"], Some(policy))
            .await
    }

    /// `GET /certificates/{name}/pending`: the create operation (with its signing request, `csr`).
    pub async fn get_certificate_operation(
        &self,
        name_: &str,
    ) -> Result<CertificateOperationDto, ClientError> {
        self.call_without_body(Method::GET, &[LIVE, name(name_)?, PENDING])
            .await
    }

    /// `PATCH /certificates/{name}/pending`: requests (or withdraws) cancellation.
    pub async fn update_certificate_operation(
        &self,
        name_: &str,
        params: &CertificateOperationUpdateParameter,
    ) -> Result<CertificateOperationDto, ClientError> {
        self.call(Method::PATCH, &[LIVE, name(name_)?, PENDING], Some(params))
            .await
    }

    /// `DELETE /certificates/{name}/pending`.
    pub async fn delete_certificate_operation(
        &self,
        name_: &str,
    ) -> Result<CertificateOperationDto, ClientError> {
        self.call_without_body(Method::DELETE, &[LIVE, name(name_)?, PENDING])
            .await
    }

    /// `POST /certificates/{name}/pending/merge`: the certificate (chain) an outside authority signed.
    pub async fn merge_certificate(
        &self,
        name_: &str,
        params: &CertificateMergeParameters,
    ) -> Result<CertificateBundle, ClientError> {
        self.call(
            Method::POST,
            &[LIVE, name(name_)?, PENDING, "merge"],
            Some(params),
        )
        .await
    }

    /// `GET /certificates/contacts`.
    pub async fn get_certificate_contacts(&self) -> Result<ContactsDto, ClientError> {
        self.call_without_body(Method::GET, &[LIVE, CONTACTS]).await
    }

    /// `PUT /certificates/contacts`.
    pub async fn set_certificate_contacts(
        &self,
        contacts: &ContactsDto,
    ) -> Result<ContactsDto, ClientError> {
        self.call(Method::PUT, &[LIVE, CONTACTS], Some(contacts))
            .await
    }

    /// `DELETE /certificates/contacts`.
    pub async fn delete_certificate_contacts(&self) -> Result<ContactsDto, ClientError> {
        self.call_without_body(Method::DELETE, &[LIVE, CONTACTS])
            .await
    }

    /// `GET /certificates/issuers`.
    pub fn list_certificate_issuers(&self) -> Pager<'_, IssuerItem> {
        Pager::new(self, self.url(&[LIVE, ISSUERS], &[]))
    }

    /// `GET /certificates/issuers/{name}`.
    pub async fn get_certificate_issuer(&self, name: &str) -> Result<IssuerBundle, ClientError> {
        self.call_without_body(Method::GET, &[LIVE, ISSUERS, issuer(name)?])
            .await
    }

    /// `PUT /certificates/issuers/{name}`: creates or replaces an issuer.
    pub async fn set_certificate_issuer(
        &self,
        name: &str,
        params: &IssuerBundle,
    ) -> Result<IssuerBundle, ClientError> {
        self.call(Method::PUT, &[LIVE, ISSUERS, issuer(name)?], Some(params))
            .await
    }

    /// `PATCH /certificates/issuers/{name}`: changes the fields given.
    pub async fn update_certificate_issuer(
        &self,
        name: &str,
        params: &IssuerBundle,
    ) -> Result<IssuerBundle, ClientError> {
        self.call(Method::PATCH, &[LIVE, ISSUERS, issuer(name)?], Some(params))
            .await
    }

    /// `DELETE /certificates/issuers/{name}`.
    pub async fn delete_certificate_issuer(&self, name: &str) -> Result<IssuerBundle, ClientError> {
        self.call_without_body(Method::DELETE, &[LIVE, ISSUERS, issuer(name)?])
            .await
    }

    /// `DELETE /certificates/{name}`: soft delete, with its key and secret.
    pub async fn delete_certificate(&self, name_: &str) -> Result<CertificateBundle, ClientError> {
        self.call_without_body(Method::DELETE, &[LIVE, name(name_)?])
            .await
    }

    /// `GET /deletedcertificates/{name}`.
    pub async fn get_deleted_certificate(
        &self,
        name_: &str,
    ) -> Result<CertificateBundle, ClientError> {
        self.call_without_body(Method::GET, &[DELETED, name(name_)?])
            .await
    }

    /// `GET /deletedcertificates`.
    pub fn list_deleted_certificates(&self) -> Pager<'_, CertificateItem> {
        Pager::new(self, self.url(&[DELETED], &[]))
    }

    /// `POST /deletedcertificates/{name}/recover`.
    pub async fn recover_deleted_certificate(
        &self,
        name_: &str,
    ) -> Result<CertificateBundle, ClientError> {
        self.call_without_body(Method::POST, &[DELETED, name(name_)?, "recover"])
            .await
    }

    /// `DELETE /deletedcertificates/{name}`.
    pub async fn purge_deleted_certificate(&self, name_: &str) -> Result<(), ClientError> {
        self.purge(DELETED, name(name_)?).await
    }

    /// `POST /certificates/{name}/backup`: the raw blob (all versions, with its key and secret).
    pub async fn backup_certificate(&self, name_: &str) -> Result<Vec<u8>, ClientError> {
        self.backup(LIVE, name(name_)?).await
    }

    /// `POST /certificates/restore`.
    pub async fn restore_certificate(&self, blob: &[u8]) -> Result<CertificateBundle, ClientError> {
        self.restore(LIVE, blob).await
    }
}
