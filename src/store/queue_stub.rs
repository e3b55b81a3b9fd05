//! TEMPORARY (branch `jobs` only): placeholder queue impls until each backend has its own.
macro_rules! queue_stub {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::JobQueue for $ty {
            async fn enqueue(
                &self,
                _: &$crate::store::job::NewJob,
            ) -> Result<($crate::store::job::JobRecord, bool), $crate::store::StoreError> {
                todo!()
            }
            async fn job(
                &self,
                _: &$crate::store::job::JobId,
            ) -> Result<Option<$crate::store::job::JobRecord>, $crate::store::StoreError> {
                todo!()
            }
            async fn jobs(
                &self,
                _: Option<$crate::store::job::JobStatus>,
                _: Option<&$crate::store::job::JobId>,
                _: usize,
            ) -> Result<Vec<$crate::store::job::JobRecord>, $crate::store::StoreError> {
                todo!()
            }
            async fn settle_expired(&self, _: i64) -> Result<u64, $crate::store::StoreError> {
                todo!()
            }
            async fn claim(
                &self,
                _: &str,
                _: &str,
                _: i64,
                _: i64,
            ) -> Result<Option<$crate::store::job::JobRecord>, $crate::store::StoreError> {
                todo!()
            }
            async fn heartbeat(
                &self,
                _: &$crate::store::job::Lease,
                _: &$crate::store::job::Progress,
                _: Option<&str>,
                _: i64,
                _: i64,
            ) -> Result<$crate::store::job::Held, $crate::store::StoreError> {
                todo!()
            }
            async fn finish(
                &self,
                _: &$crate::store::job::Lease,
                _: &$crate::store::job::JobEnd,
                _: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                todo!()
            }
            async fn cancel(
                &self,
                _: &$crate::store::job::JobId,
                _: i64,
            ) -> Result<Option<$crate::store::job::JobRecord>, $crate::store::StoreError> {
                todo!()
            }
            async fn retry(
                &self,
                _: &$crate::store::job::JobId,
                _: i64,
            ) -> Result<Option<$crate::store::job::JobRecord>, $crate::store::StoreError> {
                todo!()
            }
            async fn purge(&self, _: i64) -> Result<u64, $crate::store::StoreError> {
                todo!()
            }
            async fn count_jobs(
                &self,
            ) -> Result<Vec<$crate::store::job::JobCount>, $crate::store::StoreError> {
                todo!()
            }
            async fn worker_seen(
                &self,
                _: &$crate::store::job::WorkerRecord,
            ) -> Result<(), $crate::store::StoreError> {
                todo!()
            }
            async fn worker_gone(&self, _: &str) -> Result<(), $crate::store::StoreError> {
                todo!()
            }
            async fn workers(
                &self,
                _: i64,
            ) -> Result<Vec<$crate::store::job::WorkerRecord>, $crate::store::StoreError> {
                todo!()
            }
            async fn put_chunk(
                &self,
                _: &$crate::store::job::JobId,
                _: &str,
                _: u32,
                _: &[u8],
            ) -> Result<(), $crate::store::StoreError> {
                todo!()
            }
            async fn chunk(
                &self,
                _: &$crate::store::job::JobId,
                _: &str,
                _: u32,
            ) -> Result<Option<Vec<u8>>, $crate::store::StoreError> {
                todo!()
            }
            async fn drop_chunks(
                &self,
                _: &$crate::store::job::JobId,
                _: &str,
            ) -> Result<(), $crate::store::StoreError> {
                todo!()
            }
        }
    };
}
queue_stub!(super::redis::RedisStore);
