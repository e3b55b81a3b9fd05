//! `/hello`: the "Hello from PostgreSQL" check of the Flask + Postgres tutorial.

use axum::{Router, extract::State, routing::get};

use super::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/hello", get(hello))
}

/// The greeting, as PostgreSQL returned it; 503 when no PostgreSQL is configured or it is down.
async fn hello(State(state): State<AppState>) -> Result<String, AppError> {
    let greeter = state
        .greeter
        .as_ref()
        .ok_or(AppError::PostgresNotConfigured)?;
    Ok(greeter.hello().await?)
}
