//! Byte streams kept in the queue as numbered chunks: an import's input (uploaded before the
//! job is queued, so any worker on any host can read it) and an export's result.
//!
//! Chunks are at most [`CHUNK_SIZE`] bytes: small enough for one Redis value or SQL row to
//! be written within the store timeout, large enough that a 1 GiB import is a thousand rows.
//! An export writes its result under a part named after its lease (`result-<token>`), so a
//! worker that lost its lease can never mix its bytes into the next holder's result; the
//! job's `result` names the part that won.

use crate::store::{Store, StoreError, job::JobId};

pub const CHUNK_SIZE: usize = 1 << 20;

/// The part an import's body is stored under.
pub const INPUT: &str = "input";

/// Appends bytes to a part, one chunk at a time.
pub struct ChunkWriter {
    store: Store,
    job: JobId,
    part: String,
    next: u32,
    buffer: Vec<u8>,
    written: u64,
}

impl ChunkWriter {
    pub fn new(store: Store, job: JobId, part: impl Into<String>) -> ChunkWriter {
        ChunkWriter {
            store,
            job,
            part: part.into(),
            next: 0,
            buffer: Vec::with_capacity(CHUNK_SIZE),
            written: 0,
        }
    }

    /// Adds `bytes`, storing every chunk that fills up.
    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            let room = CHUNK_SIZE - self.buffer.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.buffer.extend_from_slice(now);
            bytes = rest;
            if self.buffer.len() == CHUNK_SIZE {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Stores what is buffered; returns the bytes written in all.
    pub async fn finish(mut self) -> Result<u64, StoreError> {
        self.flush().await?;
        Ok(self.written)
    }

    /// Bytes handed to [`ChunkWriter::write`] so far.
    pub fn len(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.store
            .put_chunk(&self.job, &self.part, self.next, &self.buffer)
            .await?;
        self.next += 1;
        self.written += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }
}

/// Reads a part back, chunk by chunk.
pub struct ChunkReader {
    store: Store,
    job: JobId,
    part: String,
    next: u32,
}

impl ChunkReader {
    pub fn new(store: Store, job: JobId, part: impl Into<String>) -> ChunkReader {
        ChunkReader {
            store,
            job,
            part: part.into(),
            next: 0,
        }
    }

    /// The next chunk, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        let chunk = self.store.chunk(&self.job, &self.part, self.next).await?;
        if chunk.is_some() {
            self.next += 1;
        }
        Ok(chunk)
    }
}
