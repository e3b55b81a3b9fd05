//! Building and running the server: [`App::build`] binds and wires everything, reports the
//! real port, and [`App::run_until_stopped`] serves until Ctrl-C or SIGTERM.
//!
//! The split lets tests bind port 0, ask for the port, and drive the same code the binary
//! runs.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    config::{Config, ServerLimits},
    greeting::Greeter,
    jobs::{self, JobObserver, WorkerOptions},
    live::{Hub, LiveObserver},
    metrics::Metrics,
    server, store,
    web::{self, AppParts, AppState},
};

/// A bound, ready-to-serve tally.
pub struct App {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    request_timeout: Duration,
    limits: ServerLimits,
    /// The in-process job workers (`WORKERS`), started by [`App::run_until`]; `None` for 0.
    workers: Option<WorkerOptions>,
    /// The live counts behind the event streams; `state.store` reports its changes to it.
    hub: Hub,
}

impl App {
    /// Opens the store (without waiting for its server), binds the listener and starts applying
    /// migrations in the background: the server answers `/healthz` even while its store is
    /// down, and the schema is in place as soon as the store is reachable.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        tracing::info!(
            store = %config.store.backend(),
            reason = %config.store_reason,
            "counter store selected"
        );
        let metrics = Arc::new(Metrics::new());
        let metrics_observer: Arc<dyn JobObserver> = metrics.clone();
        let store = store::open(&config.store, config.store_timeout)
            .with_context(|| format!("Failed to open the {} store", config.store.backend()))?
            .with_history_days(config.history_days)
            .observed_by(metrics.clone());
        // The hub reads through a clone made before the store reports changes to it: the
        // reporting store holds the hub, and the hub must not hold it back.
        let live_observer: Arc<dyn LiveObserver> = metrics.clone();
        let hub = Hub::new(store.clone(), config.live, Some(live_observer));
        let store = store.reporting_changes_to(hub.sink());
        let greeter = config
            .hello_postgres
            .clone()
            .map(|options| Arc::new(Greeter::new(options, config.store_timeout)));

        let listener = TcpListener::bind((config.host, config.port))
            .await
            .with_context(|| format!("Failed to bind {}:{}", config.host, config.port))?;
        let address = listener
            .local_addr()
            .context("Failed to read the bound address")?;

        let migrating = store.clone();
        tokio::spawn(async move {
            match migrating.migrate().await {
                Ok(()) => tracing::info!(store = %migrating.backend(), "schema is up to date"),
                Err(err) => tracing::warn!(
                    error = %err,
                    "store not reachable at start; migrations will run on first use"
                ),
            }
        });

        Ok(App {
            listener,
            address,
            state: AppState::new(AppParts {
                store,
                greeter,
                metrics,
                admin: config.admin_token,
                limiter: config
                    .rate_limit
                    .map(|limit| web::RateLimiter::new(limit, config.trusted_proxies.clone())),
                trusted_proxies: config.trusted_proxies,
                import_limit: config.import_limit,
                stats: web::StatsCache::default(),
                job_lease: config.jobs.lease,
                shutdown: web::Shutdown::default(),
            }),
            // A backstop only: store calls are bounded by STORE_TIMEOUT, and nothing else in a
            // request should take long. Generous so it never cuts a legitimate slow store call.
            request_timeout: config.store_timeout * 2 + Duration::from_secs(5),
            limits: config.server,
            workers: (config.jobs.workers > 0).then(|| WorkerOptions {
                observer: Some(metrics_observer.clone()),
                ..WorkerOptions::new(config.jobs.workers, config.jobs.lease)
            }),
            hub,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves (and runs the in-process job workers) until `stop` completes; then stops
    /// accepting, closes the connections with no request in flight, lets requests in flight
    /// finish for up to `SHUTDOWN_TIMEOUT` (then cuts them) while the workers hand back their
    /// jobs, and closes the store's pools.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            address,
            state,
            request_timeout,
            limits,
            workers,
            hub,
        } = self;
        let (stopping, shutdown) = watch::channel(false);
        let workers = workers
            .map(|options| tokio::spawn(jobs::worker::run(state.store.clone(), options, shutdown)));
        // The workers hand back their jobs while the requests drain: one SHUTDOWN_TIMEOUT from
        // the signal bounds both, so they add no time to the shutdown. The event streams (jobs,
        // live counts) never end by themselves: they end when the server stops.
        let stopped_at = Arc::new(std::sync::OnceLock::new());
        let streams = state.shutdown.clone();
        let stop = {
            let stopped_at = stopped_at.clone();
            async move {
                stop.await;
                let _ = stopped_at.set(tokio::time::Instant::now());
                let _ = stopping.send(true);
                streams.begin();
            }
        };
        tracing::info!(
            max_connections = limits.max_connections,
            "listening on http://{address}"
        );
        let app = web::app(state.clone(), request_timeout, hub);
        let shutdown_timeout = limits.shutdown_timeout;
        let served = server::serve(listener, app, limits, stop)
            .await
            .context("The HTTP server failed");
        let left = stopped_at.get().map_or(shutdown_timeout, |at| {
            shutdown_timeout.saturating_sub(at.elapsed())
        });
        if let Some(mut workers) = workers
            && tokio::time::timeout(left, &mut workers).await.is_err()
        {
            tracing::warn!("job workers did not stop in time; their leases will run out");
            workers.abort();
        }
        state.store.close().await;
        if let Some(greeter) = &state.greeter {
            greeter.close().await;
        }
        tracing::info!("stopped");
        served
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM (what `docker stop` sends to PID 1).
///
/// The handlers are installed when this function is called, not when the future is first
/// polled: a SIGTERM that arrives right after tally reports it is listening must stop it
/// gracefully, not kill it by the signal's default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate()).and_then(|terminate| {
            signal(SignalKind::interrupt()).map(|interrupt| (terminate, interrupt))
        });
        async move {
            match handlers {
                Ok((mut terminate, mut interrupt)) => tokio::select! {
                    _ = terminate.recv() => tracing::info!("SIGTERM received: finishing requests in flight"),
                    _ = interrupt.recv() => tracing::info!("Ctrl-C received: finishing requests in flight"),
                },
                Err(err) => {
                    tracing::error!(error = %err, "cannot listen for SIGTERM/Ctrl-C; stop tally with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C received: finishing requests in flight");
    }
}
