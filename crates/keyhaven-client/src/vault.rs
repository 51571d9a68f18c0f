//! The Azure data plane of one vault, reached as `https://{vault}.{dns-suffix}:{port}` — also where that name
//! does not resolve: the client connects to the server's address and sends the vault's host name.

use crate::{send, Client, ClientError};
use keyhaven_azure_api::{b64url, BackupBlob};
use reqwest::Method;
use serde_json::Value;

const API_VERSION: &str = "api-version=7.5";

/// A vault's data plane.
pub struct VaultClient<'a> {
    client: &'a Client,
    http: reqwest::Client,
    base: String,
    resource: String,
}

impl Client {
    /// The data plane of a vault, by name (`https://{name}.{suffix}:{port}`) or by URL.
    pub async fn vault(
        &self,
        name: Option<&str>,
        url: Option<&str>,
    ) -> Result<VaultClient<'_>, ClientError> {
        let server = reqwest::Url::parse(&self.server)
            .map_err(|e| ClientError::Config(format!("--server: {e}")))?;
        let port = server.port_or_known_default().unwrap_or(443);
        let base = match (url, name) {
            (Some(u), _) => u.trim_end_matches('/').to_string(),
            (None, Some(n)) => {
                let suffix = self.deployment().await?.dns_suffix;
                if port == 443 {
                    format!("https://{n}.{suffix}")
                } else {
                    format!("https://{n}.{suffix}:{port}")
                }
            }
            (None, None) => {
                return Err(ClientError::Config(
                    "name a vault with --vault-name or --vault-url".into(),
                ))
            }
        };
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| ClientError::Config(format!("vault URL {base}: {e}")))?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        let mut b = crate::http_builder(self.ca_pem.as_deref())?;
        // Reach the vault's host at the server's address when the name does not resolve (e.g. *.vault.localhost).
        if tokio::net::lookup_host((host.as_str(), port))
            .await
            .map(|mut a| a.next().is_none())
            .unwrap_or(true)
        {
            let server_host = server.host_str().unwrap_or("localhost");
            if let Some(addr) = tokio::net::lookup_host((server_host, port))
                .await
                .ok()
                .and_then(|mut a| a.find(|a| a.is_ipv4()).or(None))
            {
                b = b.resolve(&host, addr);
            }
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
        let suffix_host = host
            .split_once('.')
            .map(|(_, s)| s.to_string())
            .unwrap_or(host.clone());
        let resource = match parsed.port() {
            Some(p) if p != 443 => format!("https://{suffix_host}:{p}"),
            _ => format!("https://{suffix_host}"),
        };
        Ok(VaultClient {
            client: self,
            http,
            base,
            resource,
        })
    }
}

impl VaultClient<'_> {
    pub fn base(&self) -> &str {
        &self.base
    }

    /// One call; `path` starts with `/` and has no query.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ClientError> {
        let token = self.client.token(&self.resource).await?;
        let url = if path.contains('?') {
            format!("{}{path}&{API_VERSION}", self.base)
        } else {
            format!("{}{path}?{API_VERSION}", self.base)
        };
        send(&self.http, method, &url, &token, body).await
    }

    /// Every item of a listing, following `nextLink`.
    pub async fn list_all(&self, path: &str) -> Result<Vec<Value>, ClientError> {
        let token = self.client.token(&self.resource).await?;
        let mut url = format!("{}{path}?{API_VERSION}", self.base);
        let mut out = Vec::new();
        loop {
            let page: Option<Value> = send(&self.http, Method::GET, &url, &token, None).await?;
            let page = page.unwrap_or(Value::Null);
            if let Some(items) = page["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            match page["nextLink"].as_str() {
                Some(next) if !next.is_empty() => url = next.to_string(),
                _ => return Ok(out),
            }
        }
    }

    /// The raw backup blob of an object (`collection` is `secrets`, `keys` or `certificates`).
    pub async fn backup(&self, collection: &str, name: &str) -> Result<Vec<u8>, ClientError> {
        let v = self
            .call(Method::POST, &format!("/{collection}/{name}/backup"), None)
            .await?
            .unwrap_or(Value::Null);
        let b: BackupBlob = serde_json::from_value(v)
            .map_err(|_| ClientError::Protocol("the backup answer has no value".into()))?;
        b64url::decode(&b.value)
            .ok_or_else(|| ClientError::Protocol("the backup blob is not base64url".into()))
    }

    /// Restores a raw backup blob.
    pub async fn restore(&self, collection: &str, blob: &[u8]) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "value": b64url::encode(blob) });
        Ok(self
            .call(Method::POST, &format!("/{collection}/restore"), Some(&body))
            .await?
            .unwrap_or(Value::Null))
    }
}

/// How a vault restore treats what it finds.
#[derive(Debug, Clone, Default)]
pub struct VaultRestoreOptions {
    /// `fail`, `skip` or `new-version`.
    pub conflict: Option<String>,
    pub dry_run: bool,
    pub include_deleted: bool,
}

impl VaultClient<'_> {
    /// Starts a whole-vault backup job; returns its status.
    pub async fn start_vault_backup(&self, include_deleted: bool) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "includeDeleted": include_deleted });
        Ok(self
            .call(Method::POST, "/backup", Some(&body))
            .await?
            .unwrap_or(Value::Null))
    }

    /// The status of a job (`operation` is `backup` or `restore`).
    pub async fn job(&self, operation: &str, id: &str) -> Result<Value, ClientError> {
        Ok(self
            .call(Method::GET, &format!("/{operation}/{id}/pending"), None)
            .await?
            .unwrap_or(Value::Null))
    }

    /// Streams a finished backup into `out`, calling `progress` with the bytes received so far.
    pub async fn download_backup(
        &self,
        id: &str,
        out: &mut tokio::fs::File,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, ClientError> {
        use tokio::io::AsyncWriteExt;
        let token = self.client.token(&self.resource).await?;
        let url = format!("{}/backup/{id}/content?{API_VERSION}", self.base);
        let mut resp = self
            .http
            .get(&url)
            .bearer_auth(token.as_str())
            .send()
            .await
            .map_err(|e| ClientError::connect(&url, e))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(ClientError::Api {
                status,
                code: v["error"]["code"].as_str().unwrap_or("Error").to_string(),
                message: v["error"]["message"].as_str().unwrap_or("").to_string(),
            });
        }
        let mut n = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ClientError::connect(&url, e))?
        {
            out.write_all(&chunk)
                .await
                .map_err(|e| ClientError::Config(format!("writing the backup file: {e}")))?;
            n += chunk.len() as u64;
            progress(n);
        }
        Ok(n)
    }

    /// Uploads a whole-vault backup file (streamed) and starts a restore job (or, with `object`, a selective
    /// restore of one object: `("secrets", name)`); returns its status.
    pub async fn start_vault_restore(
        &self,
        file: &std::path::Path,
        options: &VaultRestoreOptions,
        object: Option<(&str, &str)>,
    ) -> Result<Value, ClientError> {
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::Config(format!("reading {}: {e}", file.display())))?;
        let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
        let token = self.client.token(&self.resource).await?;
        let path = match object {
            Some((collection, name)) => format!("/{collection}/{name}/restore"),
            None => "/restore".to_string(),
        };
        let mut q = form_query(&[
            ("conflict", options.conflict.clone()),
            ("dryRun", options.dry_run.then(|| "true".to_string())),
            (
                "includeDeleted",
                options.include_deleted.then(|| "true".to_string()),
            ),
        ]);
        q.push_str(API_VERSION);
        let url = format!("{}{path}?{q}", self.base);
        let resp = self
            .http
            .put(&url)
            .bearer_auth(token.as_str())
            .header("content-type", "application/octet-stream")
            .header("content-length", len)
            .body(reqwest::Body::from(f))
            .send()
            .await
            .map_err(|e| ClientError::connect(&url, e))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(ClientError::Api {
                status: status.as_u16(),
                code: v["error"]["code"].as_str().unwrap_or("Error").to_string(),
                message: v["error"]["message"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(v)
    }
}

impl Client {
    /// Checks a whole-vault backup file through the server (which holds the geography keys); returns its manifest.
    pub async fn verify_vault_backup(
        &self,
        file: &std::path::Path,
        geography: Option<&str>,
    ) -> Result<Value, ClientError> {
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::Config(format!("reading {}: {e}", file.display())))?;
        let token = self.token(&self.server).await?;
        let mut url = format!("{}/_keyhaven/backups/verify", self.server);
        if let Some(g) = geography {
            url.push_str(&format!("?geography={g}"));
        }
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token.as_str())
            .body(reqwest::Body::from(f))
            .send()
            .await
            .map_err(|e| ClientError::connect(&url, e))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(ClientError::Api {
                status: status.as_u16(),
                code: v["error"]["code"].as_str().unwrap_or("Error").to_string(),
                message: v["error"]["message"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(v)
    }
}

fn form_query(pairs: &[(&str, Option<String>)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            s.push_str(&format!("{k}={v}&"));
        }
    }
    s
}
