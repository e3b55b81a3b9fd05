//! The container files, checked without a Docker engine (the README's "Run with Docker
//! Compose" section).
//!
//! - The web service's environment, as compose would give it (interpolated with
//!   `.env.example`), names only variables tally understands and holds only values it
//!   accepts, for every `COUNTER_STORE`: a typo in compose fails here, not on a user's first
//!   `docker compose up`.
//! - The topology rules the schema cannot see (networks, volumes, healthchecks, published
//!   ports).
//! - A native rehearsal: throwaway PostgreSQL and Redis stand in for `db` and `redis`, and
//!   `tally` runs with the web service's environment, host names swapped for theirs, and
//!   `tally worker` with the worker's (the same) runs the jobs the web service queues.
//!
//! Structure against the Compose schema and the Dockerfile's lint are CI's job
//! (`check-jsonschema`, `hadolint`), see `.ci/run`.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
};

use clap::CommandFactory;
use reqwest::StatusCode;
use yaml_rust2::{Yaml, YamlLoader};

use crate::{
    helpers::{TallyProcess, tally_command, visitor_count},
    servers::{PostgresServer, RedisServer},
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(file: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(file))
        .unwrap_or_else(|err| panic!("read {file}: {err}"))
}

fn parse_yaml(text: &str) -> Yaml {
    YamlLoader::load_from_str(text)
        .expect("valid YAML")
        .into_iter()
        .next()
        .expect("one YAML document")
}

/// `NAME=value` lines of an env file (comments and blank lines skipped).
fn env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// Compose's interpolation: `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `$NAME`, `$$`.
fn interpolate(value: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').expect("unclosed ${ in compose value");
            let expr = &after[..end];
            rest = &after[end + 1..];
            let (name, default, empty_too) = if let Some((name, default)) = expr.split_once(":-") {
                (name, Some(default), true)
            } else if let Some((name, default)) = expr.split_once('-') {
                (name, Some(default), false)
            } else {
                (expr, None, false)
            };
            let value = vars.get(name).filter(|v| !(empty_too && v.is_empty()));
            out.push_str(value.map(String::as_str).or(default).unwrap_or(""));
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push_str(vars.get(&rest[..end]).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

fn scalar(value: &Yaml) -> String {
    match value {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(n) => n.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A service's `environment` (map or list form), interpolated with `vars`.
fn service_environment(
    compose: &Yaml,
    service: &str,
    vars: &HashMap<String, String>,
) -> BTreeMap<String, String> {
    let env = &compose["services"][service]["environment"];
    let mut out = BTreeMap::new();
    match env {
        Yaml::Hash(map) => {
            for (name, value) in map {
                out.insert(scalar(name), interpolate(&scalar(value), vars));
            }
        }
        Yaml::Array(items) => {
            for item in items {
                let item = scalar(item);
                let (name, value) = item.split_once('=').unwrap_or((&item, ""));
                out.insert(name.to_owned(), interpolate(value, vars));
            }
        }
        Yaml::BadValue | Yaml::Null => {}
        other => panic!("{service}.environment is neither a map nor a list: {other:?}"),
    }
    out
}

/// `ENV NAME=value …` of the Dockerfile's runtime stage (the last `FROM`).
fn dockerfile_runtime_env() -> BTreeMap<String, String> {
    let dockerfile = read("Dockerfile");
    let joined = dockerfile.replace("\\\n", " ");
    let runtime = joined.rsplit("\nFROM ").next().expect("a FROM line");
    runtime
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ENV "))
        .flat_map(|assignments| assignments.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Every environment variable the web container's commands (`serve`, and `healthcheck` for
/// the HEALTHCHECK) read, from tally's own command-line definition so that this list cannot
/// drift from the code, plus the `DATABASE_URL` alias. `tally tick`'s own settings are not
/// among them: giving them to the web service would be a mistake.
fn variables_tally_understands() -> HashSet<String> {
    let mut names = HashSet::from(["DATABASE_URL".to_owned()]);
    for arg in tally::cli::Cli::command().get_arguments() {
        if let Some(env) = arg.get_env() {
            names.insert(env.to_string_lossy().into_owned());
        }
    }
    names
}

/// What is wrong with an environment for tally: unknown variables, and the verdict of
/// `tally config` (which exits 2 with one line for any value tally would reject).
fn problems_with(environment: &BTreeMap<String, String>) -> Vec<String> {
    let known = variables_tally_understands();
    let mut problems: Vec<String> = environment
        .keys()
        .filter(|name| !known.contains(*name))
        .map(|name| format!("tally does not read {name}"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tally_command(dir.path())
        .arg("config")
        .envs(environment)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run tally config");
    if !output.status.success() {
        problems.push(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    problems
}

fn store_line(environment: &BTreeMap<String, String>) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tally_command(dir.path())
        .arg("config")
        .envs(environment)
        .stdout(std::process::Stdio::piped())
        .output()
        .expect("run tally config");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("store: ").map(str::to_owned))
        .unwrap_or_default()
}

fn example_vars() -> HashMap<String, String> {
    env_file(&read(".env.example"))
}

/// The web service's environment as the container sees it: the image's `ENV`, overridden
/// by compose's `environment`, for the given files merged in order.
fn web_environment(files: &[&str], vars: &HashMap<String, String>) -> BTreeMap<String, String> {
    let mut environment = dockerfile_runtime_env();
    for file in files {
        environment.extend(service_environment(&parse_yaml(&read(file)), "web", vars));
    }
    environment
}

/// The web service's environment is accepted by tally for every counter store, with the
/// defaults, with `.env.example`, and with the development overlay.
#[test]
fn compose_gives_tally_only_variables_and_values_it_accepts() {
    let no_env = HashMap::new();
    for vars in [no_env, example_vars()] {
        for files in [
            &["docker-compose.yml"][..],
            &["docker-compose.yml", "docker-compose.dev.yml"],
        ] {
            let environment = web_environment(files, &vars);
            assert_eq!(
                problems_with(&environment),
                Vec::<String>::new(),
                "{files:?}"
            );
            assert_eq!(
                store_line(&environment),
                "postgres at tally@db:5432/tally",
                "{files:?}"
            );
            for (store, expected) in [
                ("redis", "redis at redis:6379"),
                ("sqlite", "sqlite at /data/tally.db"),
                ("memory", "memory"),
                ("postgres", "postgres at tally@db:5432/tally"),
            ] {
                let mut vars = vars.clone();
                vars.insert("COUNTER_STORE".to_owned(), store.to_owned());
                let environment = web_environment(files, &vars);
                assert_eq!(problems_with(&environment), Vec::<String>::new(), "{store}");
                assert_eq!(store_line(&environment), expected);
            }
        }
    }
}

/// The check above does catch a typo in a name and a value tally would reject.
#[test]
fn the_compose_check_catches_unknown_names_and_rejected_values() {
    let typo = parse_yaml("services:\n  web:\n    environment:\n      COUNTER_STOR: redis\n");
    let problems = problems_with(&service_environment(&typo, "web", &HashMap::new()));
    assert_eq!(
        problems,
        vec!["tally does not read COUNTER_STOR".to_owned()]
    );

    let tick_only = parse_yaml("services:\n  web:\n    environment:\n      TICK_INTERVAL: 1s\n");
    let problems = problems_with(&service_environment(&tick_only, "web", &HashMap::new()));
    assert_eq!(
        problems,
        vec!["tally does not read TICK_INTERVAL".to_owned()]
    );

    let bad_value =
        parse_yaml("services:\n  web:\n    environment:\n      - STORE_TIMEOUT=${T:-soon}\n");
    let problems = problems_with(&service_environment(&bad_value, "web", &HashMap::new()));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("STORE_TIMEOUT"), "{problems:?}");
}

#[test]
fn interpolation_follows_compose() {
    let vars = HashMap::from([
        ("SET".to_owned(), "x".to_owned()),
        ("EMPTY".to_owned(), String::new()),
    ]);
    assert_eq!(
        interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}", &vars),
        "x/d/d/"
    );
    assert_eq!(interpolate("$SET-$$HOME-${UNSET}", &vars), "x-$HOME-");
}

/// The topology the README's "Run with Docker Compose" section describes, beyond what the
/// schema checks.
#[test]
fn compose_topology_follows_the_design() {
    let compose = parse_yaml(&read("docker-compose.yml"));
    let services = &compose["services"];
    for service in ["db", "redis", "web", "worker"] {
        let networks = services[service]["networks"]
            .as_vec()
            .expect("networks list");
        assert_eq!(networks, &vec![Yaml::String("backend".into())], "{service}");
    }
    assert_eq!(
        compose["networks"]["backend"]["driver"].as_str(),
        Some("bridge")
    );

    // PostgreSQL: pinned major, db_data at the path that major expects, TCP healthcheck.
    let image = services["db"]["image"].as_str().expect("db image");
    let major: u32 = image
        .strip_prefix("postgres:")
        .and_then(|tag| tag.split(['-', '.']).next())
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("db image {image} does not pin a postgres major"));
    let data_path = if major >= 18 {
        "/var/lib/postgresql"
    } else {
        "/var/lib/postgresql/data"
    };
    let db_volumes = services["db"]["volumes"].as_vec().expect("db volumes");
    assert!(
        db_volumes.contains(&Yaml::String(format!("db_data:{data_path}"))),
        "{db_volumes:?}"
    );
    let db_check = format!("{:?}", services["db"]["healthcheck"]["test"]);
    assert!(db_check.contains("pg_isready -h 127.0.0.1"), "{db_check}");

    // Redis: append-only on its own volume at /data, redis-cli ping.
    let command = format!("{:?}", services["redis"]["command"]);
    assert!(
        command.contains("--appendonly") && command.contains("yes"),
        "{command}"
    );
    let redis_volumes = services["redis"]["volumes"]
        .as_vec()
        .expect("redis volumes");
    assert!(
        redis_volumes
            .iter()
            .any(|v| v.as_str().is_some_and(|v| v.ends_with(":/data")))
    );
    let redis_check = format!("{:?}", services["redis"]["healthcheck"]["test"]);
    assert!(
        redis_check.contains("redis-cli") && redis_check.contains("ping"),
        "{redis_check}"
    );

    // Only the web service is published; it waits for healthy dependencies.
    assert!(services["db"]["ports"].is_badvalue() && services["redis"]["ports"].is_badvalue());
    assert_eq!(services["web"]["build"].as_str(), Some("."));
    for dependency in ["db", "redis"] {
        let condition = services["web"]["depends_on"][dependency]["condition"].as_str();
        assert_eq!(condition, Some("service_healthy"), "{dependency}");
    }
    for volume in ["db_data", "redis_data"] {
        assert!(
            !compose["volumes"][volume].is_badvalue(),
            "named volume {volume}"
        );
    }

    // The worker: the web image running `tally worker`, with web's environment, after healthy
    // stores; web runs no jobs itself.
    let worker = &services["worker"];
    assert_eq!(worker["image"].as_str(), services["web"]["image"].as_str());
    assert_eq!(worker["build"].as_str(), Some("."));
    assert_eq!(
        worker["command"].as_vec().expect("worker command"),
        &vec![Yaml::String("worker".into())]
    );
    for dependency in ["db", "redis"] {
        let condition = worker["depends_on"][dependency]["condition"].as_str();
        assert_eq!(condition, Some("service_healthy"), "worker: {dependency}");
    }
    let vars = example_vars();
    let web_env = service_environment(&compose, "web", &vars);
    assert_eq!(web_env.get("WORKERS").map(String::as_str), Some("0"));
    assert_eq!(service_environment(&compose, "worker", &vars), web_env);

    // The development overlay publishes PostgreSQL on loopback only.
    let dev = parse_yaml(&read("docker-compose.dev.yml"));
    for port in dev["services"]["db"]["ports"]
        .as_vec()
        .expect("dev db ports")
    {
        let port = interpolate(&scalar(port), &vars);
        assert!(port.starts_with("127.0.0.1:"), "{port}");
    }
    // ... and keeps its (root-owned) SQLite files out of the production volume.
    let dev_volumes = format!("{:?}", dev["services"]["web"]["volumes"]);
    assert!(
        dev_volumes.contains(":/data") && !dev_volumes.contains("tally_data"),
        "{dev_volumes}"
    );
    assert_eq!(
        service_environment(&dev, "web", &vars)
            .get("RUST_LOG")
            .map(|v| v.starts_with("debug")),
        Some(true)
    );
    // ... and mounts the source into the worker too, which rebuilds and runs `worker`.
    let dev_worker = format!("{:?}", dev["services"]["worker"]["volumes"]);
    assert!(dev_worker.contains(".:/app"), "{dev_worker}");
    let dev_command = format!("{:?}", dev["services"]["worker"]["command"]);
    assert!(dev_command.contains("run -- worker"), "{dev_command}");
}

/// `.dockerignore` keeps secrets and build output out of the context, and the embedded files in.
#[test]
fn dockerignore_keeps_what_the_build_needs() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.trim_end_matches('/').to_owned())
        .collect();
    for kept_out in ["target", ".git", ".env"] {
        assert!(
            ignored.iter().any(|line| line == kept_out),
            "{kept_out} is not ignored"
        );
    }
    for needed in [
        "src",
        "migrations",
        "frontend",
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
    ] {
        assert!(
            !ignored.iter().any(|line| line == needed),
            "{needed} must reach the build"
        );
    }
}

/// compose's topology, natively: throwaway PostgreSQL and Redis as `db` and `redis`, tally with
/// the web service's environment; both stores; counts survive a restart of everything.
#[tokio::test]
async fn compose_topology_rehearsal() {
    let vars = example_vars();
    let postgres = PostgresServer::start();
    let redis = RedisServer::start_persistent();
    // What the postgres image's entrypoint does with POSTGRES_USER/PASSWORD/DB.
    let (user, password, database) = (
        &vars["POSTGRES_USER"],
        &vars["POSTGRES_PASSWORD"],
        &vars["POSTGRES_DB"],
    );
    {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&postgres.admin_url())
            .await
            .expect("connect");
        for statement in [
            format!("CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'"),
            format!("CREATE DATABASE \"{database}\" OWNER \"{user}\""),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .expect("set up like the image");
        }
    }

    let data = tempfile::tempdir().expect("temp dir");
    let environment = |store: &str| -> Vec<(String, String)> {
        let mut vars = vars.clone();
        vars.insert("COUNTER_STORE".to_owned(), store.to_owned());
        web_environment(&["docker-compose.yml"], &vars)
            .into_iter()
            // TallyProcess picks a free port itself (the container's is 5000).
            .filter(|(name, _)| name != "PORT")
            .map(|(name, value)| {
                let value = match name.as_str() {
                    "DATABASE_URI" => {
                        value.replace("@db:5432/", &format!("@127.0.0.1:{}/", postgres.port()))
                    }
                    "REDIS_HOST" => "127.0.0.1".to_owned(),
                    "REDIS_PORT" => redis.port().to_string(),
                    // The rehearsal binds loopback; the container binds 0.0.0.0.
                    "HOST" => "127.0.0.1".to_owned(),
                    "SQLITE_PATH" => data.path().join("tally.db").display().to_string(),
                    _ => value,
                };
                (name, value)
            })
            .collect()
    };
    let start = |store: &'static str| {
        let env = environment(store);
        async move {
            let dir = tempfile::tempdir().expect("temp dir");
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let server = TallyProcess::start(dir.path(), &env).await;
            (server, dir)
        }
    };

    let (web, _dir) = start("postgres").await;
    let welcome = web.get("/").await;
    assert!(welcome.body.contains("Welcome to"), "{}", welcome.body);
    assert_eq!(visitor_count(&web.count().await), 1);
    assert_eq!(visitor_count(&web.count().await), 2);
    let hello = web.get("/hello").await;
    assert_eq!(
        (hello.status, hello.body.as_str()),
        (StatusCode::OK, "Hello from Rust and PostgreSQL!")
    );
    assert_eq!(web.get("/readyz").await.json()["store"], "postgres");
    // web runs no jobs (WORKERS=0); the worker service, with the same environment, does.
    let worker_dir = tempfile::tempdir().expect("temp dir");
    let env = environment("postgres");
    let mut worker = tally_command(worker_dir.path())
        .arg("worker")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .spawn()
        .expect("spawn tally worker");
    let queue = {
        let uri = &env
            .iter()
            .find(|(name, _)| name == "DATABASE_URI")
            .expect("DATABASE_URI")
            .1;
        let options: sqlx::postgres::PgConnectOptions = uri.parse().expect("a postgres URI");
        tally::store::open(
            &tally::store::StoreSpec::Postgres(options),
            std::time::Duration::from_secs(5),
        )
        .expect("open the queue")
    };
    let export = tally::jobs::JobRequest::Export.into_job();
    queue.enqueue(&export).await.expect("enqueue an export");
    let done =
        crate::jobs_worker::finished(&queue, &export.id, std::time::Duration::from_secs(30)).await;
    assert_eq!(
        done.status,
        tally::store::job::JobStatus::Succeeded,
        "{done:?}"
    );
    assert_eq!(
        done.result.as_ref().map(|r| r["counters"].clone()),
        Some(1.into())
    );
    assert!(done.worker.is_none() && done.attempts == 1);
    crate::servers::process::send_signal(&worker, libc::SIGTERM);
    assert!(
        crate::servers::process::wait_for_exit(&mut worker, std::time::Duration::from_secs(10))
            .success()
    );
    queue.close().await;
    drop(web);

    // COUNTER_STORE=redis docker compose up
    let (web, _dir) = start("redis").await;
    assert_eq!(web.get("/readyz").await.json()["store"], "redis");
    assert_eq!(visitor_count(&web.count().await), 1);
    assert_eq!(
        web.get("/hello").await.status,
        StatusCode::OK,
        "/hello still greets from db"
    );
    assert_eq!(web.terminate().code(), Some(0));

    // docker compose down && docker compose up: every process restarts, the volumes stay.
    postgres.stop();
    redis.stop();
    postgres.start_again();
    redis.start_again();
    let (web, _dir) = start("postgres").await;
    assert_eq!(
        visitor_count(&web.count().await),
        3,
        "PostgreSQL kept its count"
    );
    drop(web);
    let (web, _dir) = start("redis").await;
    assert_eq!(
        visitor_count(&web.count().await),
        2,
        "Redis kept its count (append-only file)"
    );
}

/// Every variable the compose files read is documented in `.env.example` (set, or shown
/// commented out with its default).
#[test]
fn env_example_documents_every_variable_compose_reads() {
    let example = read(".env.example");
    let documented: HashSet<String> = example
        .lines()
        .map(|line| line.trim().trim_start_matches('#').trim())
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| name.to_owned())
        .collect();
    for file in ["docker-compose.yml", "docker-compose.dev.yml"] {
        let text = read(file);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("${") {
            rest = &rest[at + 2..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                documented.contains(&name),
                "{file} reads {name}, which .env.example does not document"
            );
        }
    }
    assert!(
        read(".gitignore").lines().any(|line| line.trim() == ".env"),
        ".env is git-ignored"
    );
}
