//! The yardstick of tally's benchmark: the least a visitor counter on the same stack can do.
//!
//! `GET /count` is one `INCR visitor_count` through a redis-rs `ConnectionManager` (one
//! multiplexed connection, as tally's Redis store has) answering `Visitor count: N`;
//! `GET /healthz` answers `ok` and touches nothing. No middleware at all: no logging, request
//! ids, metrics, deadlines, CORS or connection limits. Whatever tally spends beyond this, on
//! the same axum, tokio and redis-rs, is the cost of its own layers, which is what the §10
//! ratios of the design measure. It is deliberately not configurable beyond where to listen and
//! which Redis to use, so that nobody tunes the yardstick.
//!
//! Usage: `tally-bench-reference [--port N] [--redis-url URL]`, or `PORT` and `REDIS_URL` in
//! the environment (a flag wins); defaults 5001 and `redis://127.0.0.1:6379`. It listens on
//! 127.0.0.1 (`HOST` to change it).

use std::net::IpAddr;
use std::process::ExitCode;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use redis::aio::ConnectionManager;

/// Where to listen and which Redis to count in.
struct Settings {
    host: IpAddr,
    port: u16,
    redis_url: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match settings(std::env::args().skip(1).collect()) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("tally-bench-reference: {message}");
            return ExitCode::from(2);
        }
    };
    match serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tally-bench-reference: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the flags, then the environment, then the defaults.
fn settings(args: Vec<String>) -> Result<Settings, String> {
    let mut port = std::env::var("PORT").ok();
    let mut redis_url = std::env::var("REDIS_URL").ok();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = Some(value),
            "--redis-url" => redis_url = Some(value),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?,
        None => 5001,
    };
    let host = match std::env::var("HOST") {
        Ok(host) => host
            .parse()
            .map_err(|_| format!("HOST {host:?} is not an IP address"))?,
        Err(_) => IpAddr::from([127, 0, 0, 1]),
    };
    Ok(Settings {
        host,
        port,
        redis_url: redis_url.unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
    })
}

async fn serve(settings: Settings) -> Result<(), String> {
    let client = redis::Client::open(settings.redis_url.as_str())
        .map_err(|e| format!("REDIS_URL {:?}: {e}", settings.redis_url))?;
    let redis = ConnectionManager::new(client)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", settings.redis_url))?;
    let app = Router::new()
        .route("/count", get(count))
        .route("/healthz", get(healthz))
        .with_state(redis);
    let listener = tokio::net::TcpListener::bind((settings.host, settings.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", settings.host, settings.port))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    eprintln!("tally-bench-reference listening on http://{address}");
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// One `INCR`; a Redis error is a 503, as tally answers it.
async fn count(State(mut redis): State<ConnectionManager>) -> (StatusCode, String) {
    let reply: redis::RedisResult<i64> = redis::cmd("INCR")
        .arg("visitor_count")
        .query_async(&mut redis)
        .await;
    match reply {
        Ok(count) => (StatusCode::OK, format!("Visitor count: {count}")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("redis: {e}")),
    }
}

async fn healthz() -> &'static str {
    "ok"
}
