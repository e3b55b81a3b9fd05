//! `import`: the NDJSON uploaded with the job (stored as chunks before it was queued), applied
//! line by line with `restore_many`, a page of whole lines at a time.
//!
//! An import sets values, so running it twice changes nothing more than running it once, and
//! a job taken over after a crash simply starts again from its first line. Counters without
//! times get the time the job was *queued*, not the time a line happened to be applied, so
//! that a retry writes exactly what the first attempt wrote.
//!
//! A malformed line fails the job for good (retrying cannot fix the file) with a message that
//! names the line; the whole lines before it have been applied and the message says how many.

use serde_json::{Value, json};

use super::{
    JobError,
    chunks::{ChunkReader, INPUT},
    kinds::PAGE,
    running::Running,
};
use crate::{
    store::{CounterRecord, Store},
    web::api::{
        counter_line::parse_import_line,
        line_splitter::{LineSplitter, LineTooLong},
    },
};

/// The longest line accepted, as for `POST /api/v1/import`.
const MAX_LINE: usize = 64 * 1024;

pub async fn run(store: &Store, running: &Running) -> Result<Value, JobError> {
    let job = &running.job;
    let total = job.params.get("bytes").and_then(Value::as_u64);
    let mut import = Import {
        store,
        running,
        now: job.created_at,
        batch: Vec::with_capacity(PAGE),
        imported: 0,
        read: 0,
        total,
    };
    let mut reader = ChunkReader::new(store.clone(), job.id, INPUT);
    let mut lines = LineSplitter::new(MAX_LINE);
    while let Some(chunk) = reader.next().await? {
        running.safe_point()?;
        import.read += chunk.len() as u64;
        lines.push(&chunk);
        while let Some(line) = lines.next_line() {
            let (number, line) = line.map_err(too_long)?;
            import.line(number, line).await?;
        }
        import.flush().await?;
    }
    if let Some(last) = lines.finish() {
        let (number, line) = last.map_err(too_long)?;
        import.line(number, line).await?;
    }
    import.flush().await?;
    Ok(json!({ "imported": import.imported }))
}

struct Import<'a> {
    store: &'a Store,
    running: &'a Running,
    now: i64,
    batch: Vec<CounterRecord>,
    imported: u64,
    read: u64,
    total: Option<u64>,
}

impl Import<'_> {
    async fn line(&mut self, number: u64, line: &[u8]) -> Result<(), JobError> {
        match parse_import_line(number, line, self.now) {
            Ok(Some(record)) => {
                self.batch.push(record);
                if self.batch.len() == PAGE {
                    self.flush().await?;
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(message) => {
                // The whole lines before this one are applied; then the job fails naming it.
                self.flush().await?;
                Err(JobError::failed(format!(
                    "{message}; {} counters before it were imported",
                    self.imported
                )))
            }
        }
    }

    async fn flush(&mut self) -> Result<(), JobError> {
        if !self.batch.is_empty() {
            self.store.restore_many(&self.batch).await?;
            self.imported += self.batch.len() as u64;
            self.batch.clear();
        }
        self.running.step(
            self.read,
            self.total,
            format!("{} counters imported", self.imported),
            None,
        );
        Ok(())
    }
}

fn too_long(err: LineTooLong) -> JobError {
    JobError::failed(format!(
        "line {}: longer than {MAX_LINE} bytes; a counter's line is a few hundred",
        err.number
    ))
}
