//! A whole-vault backup written straight into one block blob: [`BlockWriter`] is the `Write` the backup stream
//! goes to (on a blocking thread); every full block is sent with Put Block as it fills, and
//! [`BlockWriter::finish`] commits them with Put Block List. Memory stays at one block however large the vault.

use super::client::StorageClient;
use super::container::{Container, Folder};
use super::StorageError;
use bytes::Bytes;
use std::io::Write;
use tokio::runtime::Handle;

/// Bytes per block (Azure allows up to 50,000 blocks per blob: 195 GiB at this size).
pub(crate) const BLOCK_BYTES: usize = 4 << 20;
const MAX_BLOCKS: u32 = 50_000;

/// Uploads what is written to it as the blocks of one blob. Runs on a blocking thread (it waits for each block's
/// upload on `rt`).
pub(crate) struct BlockWriter {
    client: StorageClient,
    container: Container,
    folder: Folder,
    blob: &'static str,
    rt: Handle,
    buf: Vec<u8>,
    blocks: u32,
    bytes: u64,
    /// The first storage failure (the stream sees it only as an I/O error).
    failure: Option<StorageError>,
}

impl BlockWriter {
    pub fn new(
        client: StorageClient,
        container: Container,
        folder: Folder,
        blob: &'static str,
        rt: Handle,
    ) -> BlockWriter {
        BlockWriter {
            client,
            container,
            folder,
            blob,
            rt,
            buf: Vec::with_capacity(BLOCK_BYTES),
            blocks: 0,
            bytes: 0,
            failure: None,
        }
    }

    /// The storage failure that stopped the stream, if one did.
    pub fn failure(&self) -> Option<&StorageError> {
        self.failure.as_ref()
    }

    fn send_block(&mut self) -> Result<(), StorageError> {
        if self.blocks >= MAX_BLOCKS {
            return Err(StorageError::TooLarge(self.bytes));
        }
        let data = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(BLOCK_BYTES),
        ));
        self.rt.block_on(self.client.put_block(
            &self.container,
            &self.folder,
            self.blob,
            self.blocks,
            data,
        ))?;
        self.blocks += 1;
        Ok(())
    }

    fn fail(&mut self, e: StorageError) -> std::io::Error {
        let io = std::io::Error::other(e.to_string());
        self.failure.get_or_insert(e);
        io
    }

    /// Sends the last block and commits the blob; returns its size.
    pub fn finish(mut self) -> Result<u64, StorageError> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        if !self.buf.is_empty() || self.blocks == 0 {
            self.send_block()?;
        }
        self.rt.block_on(self.client.put_block_list(
            &self.container,
            &self.folder,
            self.blob,
            self.blocks,
        ))?;
        Ok(self.bytes)
    }
}

impl Write for BlockWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.failure.is_some() {
            return Err(std::io::Error::other("the upload to Blob Storage failed"));
        }
        let n = data.len().min(BLOCK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.bytes += n as u64;
        if self.buf.len() == BLOCK_BYTES {
            if let Err(e) = self.send_block() {
                return Err(self.fail(e));
            }
        }
        Ok(n)
    }

    /// Blocks go out when full (a partial block is sent only by [`BlockWriter::finish`]).
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
