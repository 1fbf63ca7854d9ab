# syntax=docker/dockerfile:1
# loadgen (and the reference service) for distributed runs, e.g. the Kubernetes Indexed Job that
# `loadgen k8s-job` renders (deployments/kubernetes/). Release build, non-root runtime.
#   docker build -t scaleloop/loadgen:dev .

# The locked dependencies need Rust 1.94 or later (the AWS SDK crates' rust-version).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY service service
COPY loadgen loadgen
RUN cargo build --release --locked -p loadgen -p service

FROM debian:bookworm-slim
# ca-certificates for https:// targets. Not pinned: it should follow the distribution's current
# root store, and Debian drops superseded versions, so a pin would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home loadgen
WORKDIR /app
COPY --from=build /src/target/release/loadgen /src/target/release/service /usr/local/bin/
COPY scenarios scenarios
COPY profiles profiles
USER 10001:10001
ENTRYPOINT ["loadgen"]
CMD ["--help"]
