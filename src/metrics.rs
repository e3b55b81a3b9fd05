//! Prometheus metrics, one registry per running app.
//!
//! A registry per [`Metrics`] value (rather than the global default registry) keeps several
//! apps in one process apart, which is what the tests do. HTTP metrics are labelled by the
//! *matched route* (`/count`), never the raw path, so a scan of random URLs cannot blow up the
//! number of series. Store metrics come from the [`crate::store::Store`] facade, which reports
//! every call to [`Metrics`] as its [`StoreObserver`], so backends stay free of instrumentation
//! code.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::{
    jobs::JobObserver,
    live::LiveObserver,
    store::{
        StoreCall, StoreObserver,
        job::{JobCount, JobKind, JobStatus},
    },
};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    store_operations: IntCounterVec,
    store_errors: IntCounterVec,
    store_duration: HistogramVec,
    log_lines_dropped: IntCounter,
    job_runs: IntCounterVec,
    job_duration: HistogramVec,
    jobs: IntGaugeVec,
    job_queue_depth: IntGauge,
    live_streams: IntGauge,
    live_counters_watched: IntGauge,
}

/// Job run times from a second to three hours.
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 10800.0,
];

/// Latency buckets from 0.5 ms to 10 s: a counter increment is well under a millisecond on a
/// local store, and a dead store answers at the store timeout (2 s by default).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Metrics {
        // The definitions below are constants; registering them can only fail on a duplicate
        // name, which is a bug in this function, not a runtime condition.
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by matched route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by matched route",
            )
            .buckets(BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric definition");
        let store_operations = IntCounterVec::new(
            Opts::new(
                "store_operations_total",
                "Counter store operations by backend",
            ),
            &["backend", "operation"],
        )
        .expect("valid metric definition");
        let store_errors = IntCounterVec::new(
            Opts::new(
                "store_errors_total",
                "Failed counter store operations by backend and kind",
            ),
            &["backend", "operation", "kind"],
        )
        .expect("valid metric definition");
        let store_duration = HistogramVec::new(
            HistogramOpts::new(
                "store_operation_duration_seconds",
                "Counter store latency by backend and operation",
            )
            .buckets(BUCKETS.to_vec()),
            &["backend", "operation"],
        )
        .expect("valid metric definition");
        let log_lines_dropped = IntCounter::new(
            "log_lines_dropped_total",
            "Log lines dropped because the log writer fell behind",
        )
        .expect("valid metric definition");
        let job_runs = IntCounterVec::new(
            Opts::new(
                "job_runs_total",
                "Job runs by this process's workers, by kind and outcome (succeeded, failed, retried, cancelled, released, lease_lost)",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric definition");
        let job_duration = HistogramVec::new(
            HistogramOpts::new(
                "job_duration_seconds",
                "How long job runs by this process's workers took, by kind",
            )
            .buckets(JOB_BUCKETS.to_vec()),
            &["kind"],
        )
        .expect("valid metric definition");
        let jobs = IntGaugeVec::new(
            Opts::new(
                "jobs",
                "Jobs in the queue (every worker's) by kind and status, read when scraped",
            ),
            &["kind", "status"],
        )
        .expect("valid metric definition");
        let job_queue_depth = IntGauge::new(
            "job_queue_depth",
            "Jobs queued and not yet running, read when scraped",
        )
        .expect("valid metric definition");
        let live_streams = IntGauge::new("live_streams", "Live event streams open in this process")
            .expect("valid metric definition");
        let live_counters_watched = IntGauge::new(
            "live_counters_watched",
            "Counters followed by this process's live event streams",
        )
        .expect("valid metric definition");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(store_operations.clone()),
            Box::new(store_errors.clone()),
            Box::new(store_duration.clone()),
            Box::new(log_lines_dropped.clone()),
            Box::new(job_runs.clone()),
            Box::new(job_duration.clone()),
            Box::new(jobs.clone()),
            Box::new(job_queue_depth.clone()),
            Box::new(live_streams.clone()),
            Box::new(live_counters_watched.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            store_operations,
            store_errors,
            store_duration,
            log_lines_dropped,
            job_runs,
            job_duration,
            jobs,
            job_queue_depth,
            live_streams,
            live_counters_watched,
        }
    }

    /// Sets the queue gauges from the store's counts (every pair, so a status that emptied
    /// reads 0 rather than its last value).
    pub fn set_job_counts(&self, counts: &[JobCount]) {
        let mut queued = 0;
        for kind in JobKind::ALL {
            for status in JobStatus::ALL {
                let count = counts
                    .iter()
                    .find(|count| count.kind == *kind && count.status == *status)
                    .map_or(0, |count| count.count);
                let count = i64::try_from(count).unwrap_or(i64::MAX);
                if *status == JobStatus::Queued {
                    queued += count;
                }
                self.jobs
                    .with_label_values(&[kind.as_str(), status.as_str()])
                    .set(count);
            }
        }
        self.job_queue_depth.set(queued);
    }

    /// Counts a request and its latency. `method` is a [`method_label`]; `route` the matched
    /// route, or `unmatched`.
    pub fn observe_request(&self, method: &'static str, route: &str, status: &str, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, status])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        // The log writer counts its drops itself; bring the metric up to that count.
        let dropped = crate::telemetry::dropped_lines();
        let reported = self.log_lines_dropped.get();
        if dropped > reported {
            self.log_lines_dropped.inc_by(dropped - reported);
        }
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for I/O reasons; an error here would mean a metric
        // with invalid UTF-8 labels, which our fixed label values cannot produce.
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The `method` label of a request: its method when it is one of the standard nine, `other`
/// otherwise. A client can send any token as a method; labelled as sent, each would be a new
/// series, kept for the life of the process.
pub fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|standard| *standard == method)
        .unwrap_or("other")
}

/// Content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl StoreObserver for Metrics {
    fn observe(&self, call: &StoreCall<'_>) {
        let (backend, operation) = (call.backend.as_str(), call.operation);
        self.store_operations
            .with_label_values(&[backend, operation])
            .inc();
        self.store_duration
            .with_label_values(&[backend, operation])
            .observe(call.elapsed.as_secs_f64());
        if let Some(err) = call.error {
            self.store_errors
                .with_label_values(&[backend, operation, err.kind_label()])
                .inc();
        }
    }
}

impl LiveObserver for Metrics {
    fn streams_changed(&self, by: i64) {
        self.live_streams.add(by);
    }

    fn watched_changed(&self, by: i64) {
        self.live_counters_watched.add(by);
    }
}

impl JobObserver for Metrics {
    fn job_ended(&self, kind: JobKind, outcome: &str, elapsed: Duration) {
        self.job_runs
            .with_label_values(&[kind.as_str(), outcome])
            .inc();
        self.job_duration
            .with_label_values(&[kind.as_str()])
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `http_requests_total` lines of `metrics`' page.
    fn request_lines(metrics: &Metrics) -> Vec<String> {
        metrics
            .render()
            .lines()
            .filter(|line| line.starts_with("http_requests_total{"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn each_series_counts_its_own_requests() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.observe_request("GET", "/count", "200", 0.001);
        }
        metrics.observe_request("GET", "/count", "503", 2.0);
        metrics.observe_request("POST", "/count", "200", 0.001);
        metrics.observe_request("GET", "/healthz", "200", 0.0001);
        // Another app's metrics in the same process keep their own series.
        let other = Metrics::new();
        other.observe_request("GET", "/count", "200", 0.001);
        assert_eq!(
            request_lines(&metrics),
            [
                r#"http_requests_total{method="GET",route="/count",status="200"} 3"#,
                r#"http_requests_total{method="GET",route="/count",status="503"} 1"#,
                r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
                r#"http_requests_total{method="POST",route="/count",status="200"} 1"#,
            ]
        );
        assert_eq!(
            request_lines(&other),
            [r#"http_requests_total{method="GET",route="/count",status="200"} 1"#]
        );
        let page = metrics.render();
        assert!(
            page.contains(r#"http_request_duration_seconds_count{method="GET",route="/count"} 4"#),
            "{page}"
        );
    }

    #[test]
    fn methods_are_labelled_as_sent_only_when_standard() {
        for method in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
        ] {
            assert_eq!(method_label(method), method);
        }
        for method in ["FROB", "get", "PROPFIND", ""] {
            assert_eq!(method_label(method), "other", "{method}");
        }
    }
}
