//! A Blob Storage container as a caller names it: its URL and SAS token, checked once. Storage is reached over
//! HTTPS; plain HTTP only to a loopback address (Azurite in tests and on a developer's machine).

use super::StorageError;
use crate::outbound::is_loopback;
use reqwest::Url;

/// Where the backup of a folder lives inside it: one blob.
pub(crate) const BACKUP_BLOB: &str = "keyhaven-vault-backup.khvs";

/// A container and the SAS token that opens it.
#[derive(Clone)]
pub(crate) struct Container {
    /// `scheme://host[:port]/path-to-container`, without query, fragment or trailing slash.
    base: Url,
    /// The SAS query (without `?`). A credential: never shown.
    sas: String,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("url", &self.url())
            .field("sas", &"<redacted>")
            .finish()
    }
}

impl Container {
    /// `uri` (the container's URL) and `token` (its SAS; when absent, the URL's own query is taken as the SAS).
    pub fn parse(uri: &str, token: Option<&str>) -> Result<Container, StorageError> {
        let bad = |m: String| StorageError::BadLocation(m);
        let mut base = Url::parse(uri.trim()).map_err(|e| {
            bad(format!(
                "storageResourceUri is not a URL ({e}); give the container's URL, e.g. \
                 https://ACCOUNT.blob.core.windows.net/CONTAINER."
            ))
        })?;
        let shown = format!(
            "{}://{}",
            base.scheme(),
            base.host_str().unwrap_or_default()
        );
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) => {}
            "http" => {
                return Err(bad(format!(
                    "Blob Storage must be reached over https; plain http is allowed only to a loopback address \
                     (as for Azurite), not to {shown}."
                )))
            }
            _ => {
                return Err(bad(format!(
                    "storageResourceUri must be an https URL, not {shown}."
                )))
            }
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(bad("storageResourceUri has no host.".into()));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad(
                "storageResourceUri must not carry a user name or password; pass a SAS token."
                    .into(),
            ));
        }
        let sas = match token.map(|t| t.trim().trim_start_matches('?')) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => base.query().unwrap_or_default().to_string(),
        };
        if sas.is_empty() {
            return Err(bad(
                "A SAS token for the container is required (token).".into()
            ));
        }
        if sas.chars().any(|c| c.is_control() || c == ' ' || c == '#') {
            return Err(bad("The SAS token is not a URL query string.".into()));
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = base.path().trim_end_matches('/').to_string();
        if path.is_empty() {
            return Err(bad(
                "storageResourceUri names no container: give the container's URL, e.g. \
                 https://ACCOUNT.blob.core.windows.net/CONTAINER."
                    .into(),
            ));
        }
        base.set_path(&path);
        Ok(Container { base, sas })
    }

    /// The container's URL (no token).
    pub fn url(&self) -> String {
        self.base.to_string()
    }

    /// The host, for messages.
    pub fn host(&self) -> String {
        self.base.host_str().unwrap_or_default().to_string()
    }

    /// A folder's URL (no token): what a finished backup reports, and what a restore is given back.
    pub fn folder_url(&self, folder: &Folder) -> String {
        format!("{}/{}", self.url(), folder.0)
    }

    /// The URL of `blob` in `folder`, with the SAS and `extra` query parameters.
    pub(crate) fn blob_url(&self, folder: &Folder, blob: &str, extra: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty().extend(folder.0.split('/')).push(blob);
        }
        let mut q = self.sas.clone();
        for (k, v) in extra {
            q.push('&');
            q.extend(form_urlencoded::byte_serialize(k.as_bytes()));
            q.push('=');
            q.extend(form_urlencoded::byte_serialize(v.as_bytes()));
        }
        url.set_query(Some(&q));
        url
    }
}

/// A backup's folder inside a container: segments of letters, digits, `-`, `_` and `.` separated by `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Folder(String);

impl Folder {
    /// A folder named by a caller (a restore's `folderToRestore`).
    pub fn parse(s: &str) -> Result<Folder, StorageError> {
        let s = s.trim().trim_matches('/');
        let ok_segment = |seg: &str| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if s.is_empty() || s.len() > 512 || !s.split('/').all(ok_segment) {
            return Err(StorageError::BadLocation(format!(
                "'{}' is not a backup folder name (letters, digits, '-', '_', '.' and '/').",
                s.chars().take(80).collect::<String>()
            )));
        }
        Ok(Folder(s.to_string()))
    }

    /// A new backup's folder, named as Azure names them: `mhsm-{vault}-{yyyyMMddHHmmssfff}` (UTC).
    pub fn for_backup(vault: &str, unix_secs: i64, millis: u32) -> Folder {
        let days = unix_secs.div_euclid(86_400);
        let secs = unix_secs.rem_euclid(86_400);
        let (y, m, d) = keyhaven_model::time::civil_from_days(days);
        Folder(format!(
            "mhsm-{vault}-{y:04}{m:02}{d:02}{:02}{:02}{:02}{:03}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            millis % 1000
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        for ok in [
            "https://acct.blob.core.windows.net/backups",
            "http://127.0.0.1:10000/devstoreaccount1/backups",
            "http://[::1]:10000/devstoreaccount1/backups",
            "http://localhost:10000/devstoreaccount1/backups/",
        ] {
            let c = Container::parse(ok, Some("?sv=1&sig=x")).unwrap();
            assert!(!c.url().ends_with('/'), "{ok}");
        }
        for bad in [
            "http://10.0.0.5/acct/backups",
            "http://acct.blob.core.windows.net/backups",
            "ftp://127.0.0.1/x",
            "https://acct.blob.core.windows.net",
            "https://user:pw@acct.blob.core.windows.net/c",
            "not a url",
        ] {
            let e = Container::parse(bad, Some("sig=x")).unwrap_err();
            assert!(e.is_bad_request(), "{bad}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
        assert!(Container::parse("https://a.blob.core.windows.net/c", None).is_err());
        assert!(Container::parse("https://a.blob.core.windows.net/c", Some(" ")).is_err());
    }

    #[test]
    fn the_token_is_in_blob_urls_only() {
        let c = Container::parse("https://a.blob.core.windows.net/c?sig=QUERY", None).unwrap();
        let f = Folder::parse("mhsm-v-20260101000000000").unwrap();
        assert_eq!(
            c.folder_url(&f),
            "https://a.blob.core.windows.net/c/mhsm-v-20260101000000000"
        );
        assert!(!format!("{c:?}").contains("QUERY"));
        let u = c.blob_url(&f, BACKUP_BLOB, &[("comp", "block"), ("blockid", "MA==")]);
        assert_eq!(
            u.as_str(),
            "https://a.blob.core.windows.net/c/mhsm-v-20260101000000000/keyhaven-vault-backup.khvs\
             ?sig=QUERY&comp=block&blockid=MA%3D%3D"
        );
    }

    #[test]
    fn folders() {
        assert_eq!(
            Folder::for_backup("payments", 1_772_323_200 + 3_723, 45).as_str(),
            "mhsm-payments-20260301010203045"
        );
        assert!(
            Folder::parse("backups/mhsm-x-1").is_ok(),
            "Azurite's path style"
        );
        for bad in ["", "../x", "a//b", "a/./b", "a b", "a?sig=1", "a%2e"] {
            assert!(Folder::parse(bad).is_err(), "{bad}");
        }
    }
}
