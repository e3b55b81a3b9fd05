//! A streamed request body cut at a byte limit (`IMPORT_LIMIT`), and at
//! [`IMPORT_IDLE_TIMEOUT`] of silence: how the two routes that take a body of any size read
//! it, `POST /api/v1/import` (applied line by line) and `POST /api/v1/jobs/import` (stored
//! as chunks for a job).
//!
//! Both are served outside the request deadline (a large body may take minutes), so these two
//! bounds are what keeps a client from holding one open for ever.

use std::time::Duration;

use axum::body::{BodyDataStream, Bytes};
use futures_util::StreamExt;

use crate::web::AppError;

/// The longest the client may send nothing while a streamed body is read.
pub const IMPORT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the body gave.
pub enum Read {
    Data(Bytes),
    End,
    /// The body passed the limit; what came before the limit was handed out.
    OverLimit,
}

/// The request body, read chunk by chunk, cut at a limit.
pub struct LimitedBody {
    body: BodyDataStream,
    /// Bytes that may still be read.
    left: u64,
    limit: u64,
    over: bool,
}

impl LimitedBody {
    pub fn new(body: BodyDataStream, limit: u64) -> LimitedBody {
        LimitedBody {
            body,
            left: limit,
            limit,
            over: false,
        }
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// True while no byte has been read: an empty body, once [`Read::End`] came.
    pub fn nothing_read(&self) -> bool {
        self.left == self.limit
    }

    pub async fn read(&mut self) -> Result<Read, AppError> {
        if self.over {
            return Ok(Read::OverLimit);
        }
        let next = tokio::time::timeout(IMPORT_IDLE_TIMEOUT, self.body.next())
            .await
            .map_err(|_elapsed| AppError::BodyTimedOut {
                after: IMPORT_IDLE_TIMEOUT,
            })?;
        let mut chunk = match next {
            None => return Ok(Read::End),
            Some(Ok(chunk)) => chunk,
            Some(Err(err)) => {
                return Err(AppError::BadRequest(format!(
                    "cannot read the request body: {err}"
                )));
            }
        };
        let size = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        if size > self.left {
            self.over = true;
            chunk.truncate(usize::try_from(self.left).unwrap_or(usize::MAX));
            if chunk.is_empty() {
                return Ok(Read::OverLimit);
            }
        }
        self.left -= u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        Ok(Read::Data(chunk))
    }

    /// Reads and drops the rest of the body, up to the limit, while the early answer goes
    /// out. A client that sends its whole body before it reads the answer (many do; curl
    /// does not) would otherwise find the connection closed under it and never see why its
    /// request stopped.
    pub async fn drain(mut self) {
        while let Ok(Read::Data(_)) = self.read().await {}
    }
}
