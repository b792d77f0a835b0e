# syntax=docker/dockerfile:1
#
# Firebell's container image: the release build (LTO, stripped) on
# distroless, as a non-root user, its SQLite file in the /data volume.
#
#   docker build -t firebell .
#   docker run -d --name firebell -p 127.0.0.1:8080:8080 -v firebell-data:/data firebell
#   docker logs firebell        # the first admin token, shown once
#
# See docs/deploy.md ("Container") for the policy, PostgreSQL, backups, and
# what was and was not verified about this file.

# ---- build: the toolchain the workspace asks for (rust-version = 1.95) ----
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The caches speed up rebuilds; the binary is copied out of the cached
# target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p firebell \
 && install -D -m 0755 target/release/firebell /out/firebell \
 && mkdir /out/data

# ---- runtime: glibc and libgcc only, no shell, user 65532 (nonroot) ----
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/firebell /usr/local/bin/firebell
# A new named volume takes this directory's owner: the nonroot user.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
VOLUME ["/data"]

# The container's own interface; whether and where the port is published
# (`-p 127.0.0.1:8080:8080`, a reverse proxy, an orchestrator) is the
# operator's choice.
ENV FIREBELL_LISTEN=0.0.0.0:8080 \
    FIREBELL_DATABASE_URL=sqlite:/data/firebell.db \
    FIREBELL_LOG_FORMAT=json \
    MIMALLOC_ARENA_EAGER_COMMIT=0
EXPOSE 8080

USER 65532:65532
# Liveness: /health answers while the process serves. /ready (database,
# queues, clock) is for load balancers: restarting cures none of its causes.
# Change --url if you change FIREBELL_LISTEN's port.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/firebell", "health", "--url", "http://127.0.0.1:8080", "--timeout-seconds", "5"]

ENTRYPOINT ["/usr/local/bin/firebell"]
CMD ["serve"]
