//! `tally healthcheck`: asks a running server's `/healthz`, for container HEALTHCHECKs, where
//! the runtime image has no curl.

use std::{process::ExitCode, time::Duration};

/// 0 when `url` answers 200, 1 otherwise; the verdict goes to stdout, a failure to stderr.
pub async fn run(url: &str) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            eprintln!("unhealthy: cannot create an HTTP client: {err}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("healthy: {url} answered {}", response.status());
            ExitCode::SUCCESS
        }
        Ok(response) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unhealthy: cannot reach {url}: {err}");
            ExitCode::FAILURE
        }
    }
}
