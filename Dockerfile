# syntax=docker/dockerfile:1
#
# tally's container image, in four stages:
#   chef     the Rust toolchain (1.95: sqlx 0.9 needs rustc >= 1.94) with cargo-chef
#   planner  reduces the crate to a recipe of its dependencies
#   builder  builds the dependencies from the recipe (a layer cached until Cargo.toml or
#            Cargo.lock change), then the source; no database is needed, since tally uses
#            no compile-time checked queries (the migrations are embedded as files)
#   runtime  distroless: glibc, CA certificates and the binary, running as a non-root user
# and a `dev` stage for docker-compose.dev.yml, which rebuilds on every change.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin tally \
    && mkdir -p /data

# Development image: the toolchain plus cargo-watch; the source is mounted over /app.
FROM chef AS dev
RUN cargo install cargo-watch --version 8.5.3 --locked
ENV HOST=0.0.0.0 \
    PORT=5000 \
    SQLITE_PATH=/data/tally.db
EXPOSE 5000
CMD ["cargo", "watch", "--why", "-x", "run -- serve"]

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /app/target/release/tally /usr/local/bin/tally
# The embedded SQLite store's directory, owned by the runtime user so that a named volume
# mounted here starts out writable.
COPY --from=builder --chown=65532:65532 /data /data
ENV HOST=0.0.0.0 \
    PORT=5000 \
    SQLITE_PATH=/data/tally.db
EXPOSE 5000
VOLUME ["/data"]
# 65532 is distroless's `nonroot` user; numeric, so the host side can resolve it too.
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["tally", "healthcheck"]
# Exec form: tally is PID 1 and receives SIGTERM from `docker stop` directly. tally ignores a
# leading `tally` argument, so both `docker compose run web migrate` and
# `docker compose run web tally migrate` work.
ENTRYPOINT ["tally"]
CMD ["serve"]
