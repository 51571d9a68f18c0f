//! Azure Blob Storage as a place for whole-vault backups, as Azure's full backup uses it: a container named by its
//! URL and a SAS token, a folder per backup (`mhsm-{vault}-{timestamp}`), and in it one blob holding Keyhaven's
//! vault-backup stream, uploaded block by block (constant memory) and downloaded as a stream to restore.

mod client;
mod container;
mod error;
mod upload;

pub(crate) use client::StorageClient;
pub(crate) use container::{Container, Folder, BACKUP_BLOB};
pub(crate) use error::StorageError;
pub(crate) use upload::BlockWriter;

use std::collections::HashMap;
use std::sync::Mutex;

/// Which of Azure's operations a job runs (its status document's wording depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StorageOperation {
    /// `POST /backup` into a container.
    FullBackup,
    /// `POST /prebackup`: can a backup be written there?
    PreBackup,
    /// `PUT /restore` from a container.
    FullRestore,
    /// `PUT /prerestore`: would that restore succeed?
    PreRestore,
    /// `PUT /keys/{name}/restore`.
    SelectiveKeyRestore,
}

/// What the status of a storage job adds to a vault job's.
#[derive(Debug, Clone)]
pub(crate) struct StorageJob {
    pub operation: StorageOperation,
    /// The backup's folder URL (no token): reported by a backup when it has succeeded.
    pub folder_url: Option<String>,
}

/// The storage client and the storage jobs of this node (their progress is kept with the other vault jobs).
pub(crate) struct StorageBackups {
    pub client: StorageClient,
    jobs: Mutex<HashMap<String, StorageJob>>,
}

impl StorageBackups {
    pub fn new(client: StorageClient) -> StorageBackups {
        StorageBackups {
            client,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    pub fn note(&self, job_id: &str, job: StorageJob) {
        if let Ok(mut t) = self.jobs.lock() {
            t.insert(job_id.to_string(), job);
        }
    }

    pub fn get(&self, job_id: &str) -> Option<StorageJob> {
        self.jobs.lock().ok().and_then(|t| t.get(job_id).cloned())
    }
}
