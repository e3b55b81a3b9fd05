// Settings that tally must refuse at start, shared by two tests so that they cannot drift
// apart: the unit test `invalid_values_name_their_variable_and_what_is_accepted` in
// src/config/mod.rs checks `Config::from_settings`, and the integration test
// `invalid_settings_exit_2_with_one_line_naming_the_variable` in tests/api/binary.rs runs the
// `tally` binary with each (exit code 2, one line on stderr).
//
// Each case: (the environment, as `NAME=value` pairs; the variable the error line names; a
// text the line must contain, usually from what is accepted). A password, where there is
// one, is `hunter2`: both tests check it never appears.
//
// This file is one Rust expression, pulled in with `include!`: it is compiled only into the
// tests (the library never ships it), and `cargo fmt` does not reach it, so keep its layout
// by hand.
&[
    (&[("ADMIN_TOKEN", "hunter2")], "ADMIN_TOKEN", "at least 16 characters"),
    (&[("HEADER_TIMEOUT", "soon")], "HEADER_TIMEOUT", "2s"),
    (&[("HEADER_TIMEOUT", "0s")], "HEADER_TIMEOUT", "above zero"),
    (&[("KEEPALIVE_TIMEOUT", "-1s")], "KEEPALIVE_TIMEOUT", "2s"),
    (&[("SHUTDOWN_TIMEOUT", "8")], "SHUTDOWN_TIMEOUT", "2s"),
    (&[("MAX_CONNECTIONS", "0")], "MAX_CONNECTIONS", "at least 1"),
    (&[("MAX_CONNECTIONS", "many")], "MAX_CONNECTIONS", "at least 1"),
    (
        &[("COUNTER_STORE", "mongodb")],
        "COUNTER_STORE",
        "postgres, redis, sqlite or memory",
    ),
    (
        &[("COUNTER_STORE", "mongo")],
        "COUNTER_STORE",
        "postgres, redis, sqlite or memory",
    ),
    (
        &[("COUNTER_STORE", "postgres")],
        "DATABASE_URI",
        "COUNTER_STORE=postgres needs",
    ),
    (
        &[("COUNTER_STORE", "redis")],
        "REDIS_HOST",
        "COUNTER_STORE=redis needs",
    ),
    (&[("PORT", "five thousand")], "PORT", "0 to 65535"),
    (&[("PORT", "http")], "PORT", "0 to 65535"),
    (&[("PORT", "70000")], "PORT", "0 to 65535"),
    (
        &[("REDIS_HOST", "cache"), ("REDIS_PORT", "63a79")],
        "REDIS_PORT",
        "1 to 65535",
    ),
    (&[("REDIS_PORT", "0")], "REDIS_PORT", "1 to 65535"),
    (&[("HOST", "my host")], "HOST", "IP address"),
    (&[("HOST", "not a host")], "HOST", "IP address"),
    (&[("STORE_TIMEOUT", "forever")], "STORE_TIMEOUT", "2s"),
    (&[("STORE_TIMEOUT", "soon")], "STORE_TIMEOUT", "2s"),
    (&[("STORE_TIMEOUT", "0s")], "STORE_TIMEOUT", "above zero"),
    (
        &[("DATABASE_URI", "mysql://root:hunter2@db/app")],
        "DATABASE_URI",
        "postgres://",
    ),
    (
        &[("DATABASE_URI", "mysql://u@h/db")],
        "DATABASE_URI",
        "postgres://",
    ),
    (
        &[(
            "DATABASE_URI",
            "postgres://db/app?password=hunter2&sslmode=bogus",
        )],
        "DATABASE_URI",
        "postgres://",
    ),
    (
        &[("DATABASE_URI", "sqlite::memory:")],
        "DATABASE_URI",
        "COUNTER_STORE=memory",
    ),
    (
        &[("DATABASE_URL", "oracle://db")],
        "DATABASE_URL",
        "postgres://",
    ),
    (
        &[("REDIS_URL", "http://cache:6379")],
        "REDIS_URL",
        "redis://",
    ),
    (&[("REDIS_URL", "http://cache")], "REDIS_URL", "redis://"),
    (&[("LOG_FORMAT", "yaml")], "LOG_FORMAT", "pretty or json"),
    (&[("LOG_FORMAT", "xml")], "LOG_FORMAT", "pretty or json"),
    (&[("RATE_LIMIT", "0/10s")], "RATE_LIMIT", "30/10s"),
    (&[("RATE_LIMIT", "x/10s")], "RATE_LIMIT", "30/10s"),
    (&[("RATE_LIMIT", "30/0s")], "RATE_LIMIT", "30/10s"),
    (&[("RATE_LIMIT", "30")], "RATE_LIMIT", "30/10s"),
    (
        &[("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")],
        "TRUSTED_PROXIES",
        "10.0.0.0/8,::1",
    ),
    (
        &[("TRUSTED_PROXIES", "10.0.0.0/33")],
        "TRUSTED_PROXIES",
        "10.0.0.0/8,::1",
    ),
    (
        &[("TRUSTED_PROXIES", "2001:db8::/129")],
        "TRUSTED_PROXIES",
        "10.0.0.0/8,::1",
    ),
    (&[("IMPORT_LIMIT", "0")], "IMPORT_LIMIT", "512MiB"),
    (&[("IMPORT_LIMIT", "lots")], "IMPORT_LIMIT", "512MiB"),
    (&[("IMPORT_LIMIT", "1.5GiB")], "IMPORT_LIMIT", "512MiB"),
    (&[("WORKERS", "-1")], "WORKERS", "0 to 64"),
    (&[("WORKERS", "65")], "WORKERS", "0 to 64"),
    (&[("WORKERS", "two")], "WORKERS", "0 to 64"),
    (&[("JOB_LEASE", "500ms")], "JOB_LEASE", "at least 1s"),
    (&[("JOB_LEASE", "forever")], "JOB_LEASE", "500ms"),
    (&[("HISTORY_DAYS", "0")], "HISTORY_DAYS", "from 1 to 3660"),
    (&[("HISTORY_DAYS", "3661")], "HISTORY_DAYS", "from 1 to 3660"),
    (&[("HISTORY_DAYS", "a year")], "HISTORY_DAYS", "from 1 to 3660"),
    (&[("MAX_STREAMS", "0")], "MAX_STREAMS", "at least 1"),
    (&[("MAX_STREAMS", "lots")], "MAX_STREAMS", "at least 1"),
]
