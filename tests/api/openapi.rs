//! The OpenAPI document of `/api/v1` (the README's "Counting API"): served, equal to its
//! snapshot, and exact enough that schemathesis (PyPI), run against a live tally on the
//! embedded SQLite store and on PostgreSQL, finds every answer conforming.

use std::{path::PathBuf, process::Command};

use reqwest::StatusCode;
use tally::store::Backend;

use crate::helpers::{StoreFixture, TallyProcess, spawn_app};

const SNAPSHOT: &str = "tests/data/openapi.json";

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT)
}

/// The document served is the one generated from the code, and equals the committed
/// snapshot; `UPDATE_SNAPSHOTS=1 cargo test openapi` rewrites the snapshot after a deliberate
/// change (review its diff like code).
#[tokio::test]
async fn the_document_is_served_and_matches_its_snapshot() {
    let app = spawn_app(tally::config::Config::with_store(
        tally::store::StoreSpec::Memory,
    ))
    .await;
    let reply = app.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let served = reply.json();
    assert_eq!(served["openapi"], "3.1.0");
    let pretty = serde_json::to_string_pretty(&*tally::web::OPENAPI).expect("serialize") + "\n";
    let generated: serde_json::Value = serde_json::from_str(&pretty).expect("parse");
    assert_eq!(
        served, generated,
        "the served document is the generated one"
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(snapshot_path(), &pretty).expect("write the snapshot");
    }
    let snapshot = std::fs::read_to_string(snapshot_path())
        .unwrap_or_else(|err| panic!("read {SNAPSHOT} ({err}); UPDATE_SNAPSHOTS=1 writes it"));
    assert!(
        snapshot == pretty,
        "the OpenAPI document changed; if that was meant, run UPDATE_SNAPSHOTS=1 cargo test openapi and review the diff of {SNAPSHOT}"
    );
    for path in [
        "/api/v1/counters/{namespace}",
        "/api/v1/counters/{namespace}/{key}",
        "/api/v1/counters/{namespace}/{key}/hit",
        "/api/v1/counters/{namespace}/{key}/add",
        "/api/v1/counters/{namespace}/{key}/badge.svg",
        "/api/v1/counters/{namespace}/{key}/pixel.gif",
        "/api/v1/counters/{namespace}/{key}/events",
        "/api/v1/export",
        "/api/v1/import",
        "/api/v1/stats",
        "/api/v1/jobs",
        "/api/v1/jobs/import",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/jobs/{id}/retry",
        "/api/v1/jobs/{id}/result",
        "/api/v1/jobs/{id}/events",
        "/api/v1/workers",
    ] {
        assert!(served["paths"][path].is_object(), "{path} is documented");
    }
    // Links (schemathesis infers them) name operations by id: two handlers of the same name
    // in different modules must not share one.
    let mut ids: Vec<&str> = served["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|methods| methods.as_object().expect("methods").values())
        .map(|operation| operation["operationId"].as_str().expect("an operationId"))
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds are unique: {ids:?}");
}

/// schemathesis with all its checks (but the two `tests/schemathesis/schemathesis.toml`
/// explains) against a live `tally` on `backend`: no 5xx, every answer documented.
async fn schemathesis_passes_on(backend: Backend) {
    let Some(schemathesis) = std::env::var_os("SCHEMATHESIS") else {
        panic!(
            "set SCHEMATHESIS to the schemathesis executable: python3 -m venv /tmp/st && /tmp/st/bin/pip install 'schemathesis==4.32.5' && SCHEMATHESIS=/tmp/st/bin/schemathesis cargo test -- --ignored schemathesis"
        );
    };
    let fixture = StoreFixture::new(backend).await;
    let url = fixture.url.clone().expect("a persistent store has a URL");
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = "schemathesis-admin-token";
    let tally = TallyProcess::start(
        dir.path(),
        &[
            ("DATABASE_URI", &url),
            ("ADMIN_TOKEN", admin),
            // One client sends every request: the limit would answer most of them 429.
            ("RATE_LIMIT", "off"),
            // No job runs: schemathesis queues copies into targets it made up, and the
            // answers it checks do not depend on a worker (see schemathesis.toml).
            ("WORKERS", "0"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/schemathesis.toml");
    let document = tally.url("/api/v1/openapi.json");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .args(["--config-file"])
            .arg(config)
            .args(["run", &document])
            .args(["--header", &format!("Authorization: Bearer {admin}")])
            // One worker: schemathesis 4.32's coverage phase can fail internally with two.
            .args(["--workers", "1", "--max-examples", "40", "--seed", "1"])
            .env("NO_COLOR", "1")
            .output()
    })
    .await
    .expect("join")
    .expect("run schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis on {backend}:\n{report}"
    );
    assert!(
        report.contains("Tested:"),
        "schemathesis ran nothing:\n{report}"
    );
}

#[tokio::test]
#[ignore = "needs schemathesis (PyPI); .ci/run installs it and runs the ignored tests"]
async fn schemathesis_finds_every_answer_conforming_on_sqlite() {
    schemathesis_passes_on(Backend::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs schemathesis (PyPI); .ci/run installs it and runs the ignored tests"]
async fn schemathesis_finds_every_answer_conforming_on_postgres() {
    schemathesis_passes_on(Backend::Postgres).await;
}
