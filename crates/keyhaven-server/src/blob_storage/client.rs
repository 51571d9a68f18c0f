//! The few Blob Storage operations a backup needs, authorized by the container's SAS token: Put Block, Put Block
//! List (commit, never over an existing blob) and Get Blob (streamed to a file). Transient
//! failures (connection errors, 408, 429, 5xx) are retried a few times.

use super::container::{Container, Folder};
use super::StorageError;
use crate::ServerError;
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The storage REST version spoken (any later service accepts it).
const STORAGE_VERSION: &str = "2021-08-06";
/// Attempts per storage call on transient failures.
const ATTEMPTS: u32 = 4;

/// An HTTP client for Blob Storage: the system's trust store plus the configured CA file; no redirects (they
/// would carry the token elsewhere).
#[derive(Clone)]
pub(crate) struct StorageClient {
    http: reqwest::Client,
}

/// Whether TLS refused the endpoint (an untrusted or wrong certificate): asking again would not help.
fn refused_by_tls(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        // I/O errors report their inner error's causes, not the inner error: look inside each layer.
        let mut layer: &(dyn std::error::Error + 'static) = s;
        loop {
            if layer.downcast_ref::<rustls::Error>().is_some() {
                return true;
            }
            match layer
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
            {
                Some(inner) => layer = inner,
                None => break,
            }
        }
        source = s.source();
    }
    false
}

fn transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

impl StorageClient {
    /// A client trusting the system's roots and, when given, the certificates of `ca_file` (PEM).
    pub fn new(ca_file: Option<&Path>) -> Result<StorageClient, ServerError> {
        let b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none());
        let b = crate::outbound::trusting(b, ca_file, "storage-ca-file")?;
        let http = b
            .build()
            .map_err(|e| ServerError::Config(format!("the Blob Storage client: {e}")))?;
        Ok(StorageClient { http })
    }

    /// Sends one storage request (retrying transient failures); returns the answer when its status is a success.
    async fn call(
        &self,
        operation: &'static str,
        c: &Container,
        method: Method,
        url: reqwest::Url,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, StorageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header("x-ms-version", STORAGE_VERSION);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            } else if method == Method::PUT {
                req = req.header(reqwest::header::CONTENT_LENGTH, "0");
            }
            let outcome = req.send().await;
            let retry = match &outcome {
                Ok(r) => transient(r.status()),
                Err(e) => {
                    (e.is_connect() || e.is_timeout() || e.is_request()) && !refused_by_tls(e)
                }
            };
            if retry && attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                continue;
            }
            let resp = outcome.map_err(|e| StorageError::unreachable(&c.host(), e))?;
            if resp.status().is_success() {
                return Ok(resp);
            }
            return Err(StorageError::Refused {
                operation,
                status: resp.status().as_u16(),
                code: resp
                    .headers()
                    .get("x-ms-error-code")
                    .and_then(|v| v.to_str().ok())
                    .map(|s| s.chars().take(80).collect()),
            });
        }
    }

    /// Put Block: block `index` of `blob` in `folder` (uncommitted until [`Self::put_block_list`]).
    pub async fn put_block(
        &self,
        c: &Container,
        folder: &Folder,
        blob: &str,
        index: u32,
        data: Bytes,
    ) -> Result<(), StorageError> {
        let id = block_id(index);
        let url = c.blob_url(folder, blob, &[("comp", "block"), ("blockid", &id)]);
        self.call("Put Block", c, Method::PUT, url, &[], Some(data))
            .await
            .map(drop)
    }

    /// Put Block List: commits blocks `0..count` as `blob`, refused if the blob exists (a backup is never
    /// overwritten).
    pub async fn put_block_list(
        &self,
        c: &Container,
        folder: &Folder,
        blob: &str,
        count: u32,
    ) -> Result<(), StorageError> {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for i in 0..count {
            xml.push_str("<Latest>");
            xml.push_str(&block_id(i));
            xml.push_str("</Latest>");
        }
        xml.push_str("</BlockList>");
        let url = c.blob_url(folder, blob, &[("comp", "blocklist")]);
        self.call(
            "Put Block List",
            c,
            Method::PUT,
            url,
            &[
                ("content-type", "application/xml"),
                ("x-ms-blob-content-type", "application/octet-stream"),
                ("if-none-match", "*"),
            ],
            Some(Bytes::from(xml)),
        )
        .await
        .map(drop)
    }

    /// Get Blob, streamed into a new file at `to` (fsync'd); returns its size.
    pub async fn download(
        &self,
        c: &Container,
        folder: &Folder,
        blob: &str,
        to: &Path,
    ) -> Result<u64, StorageError> {
        let url = c.blob_url(folder, blob, &[]);
        let mut resp = self
            .call("Get Blob", c, Method::GET, url, &[], None)
            .await
            .map_err(|e| not_found(e, folder))?;
        let local = |e: std::io::Error| StorageError::Local(format!("storing the download: {e}"));
        let mut file = tokio::fs::File::create(to).await.map_err(local)?;
        let mut n = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| StorageError::unreachable(&c.host(), e))?
        {
            n += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.sync_all().await.map_err(local)?;
        Ok(n)
    }
}

fn not_found(e: StorageError, folder: &Folder) -> StorageError {
    match e {
        StorageError::Refused { status: 404, .. } => {
            StorageError::NotFound(folder.as_str().to_string())
        }
        other => other,
    }
}

/// Block ids: base64 of a fixed-width number (every id of a blob must have the same length).
fn block_id(index: u32) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("block-{index:010}"))
}
