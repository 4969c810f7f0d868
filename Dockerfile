# syntax=docker/dockerfile:1
# The scalerd image that deploy/ and deploy/chart run (image `scalerd:<version>`, user 65532,
# admin port 9102).
#
# It is not built on the project's CI machines (no container engine there). Build it where
# Docker or another OCI builder runs, from the repository's root, and push it to your registry:
#
#   docker build -t registry.example.com/platform/scalerd:0.1.0 .
#   docker push registry.example.com/platform/scalerd:0.1.0
#   helm install scalers deploy/chart --namespace scalers --create-namespace \
#     --set image.repository=registry.example.com/platform/scalerd
#
# (`podman build` and `buildah bud` read this file too; for arm64 nodes build on arm64 or with
# `docker buildx build --platform linux/arm64`.) scalerd/tests/packaging.rs checks that this file
# names the binary, the user and the port the manifests expect.

# ---- build: the workspace's toolchain (rust-version in Cargo.toml) --------------------------
FROM rust:1.95-bookworm AS build
# The bundled librdkafka is built with OpenSSL (TLS and SASL for Kafka): its headers and
# pkg-config; its configure/make and a C compiler come with the rust image. ca-certificates and
# tzdata are copied into the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p scalerd
# The runtime file system (deploy/image-rootfs.sh, which .ci/image-smoke.sh also runs and
# tests): the binary, the shared libraries it links (glibc, libgcc, OpenSSL), the CA
# certificates (TLS to Prometheus, Redis, Kafka, the API server), the time zone database the
# cron trigger reads before its compiled-in copy, and the user scalerd (65532).
RUN sh deploy/image-rootfs.sh target/release/scalerd /rootfs

# ---- run: nothing else, no shell, no package manager ----------------------------------------
FROM scratch
COPY --from=build /rootfs/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# Two glibc malloc arenas instead of 8 per core: memory that a burst of object churn freed is
# reused instead of staying in per-thread arenas (scalerd/tests/cluster_churn.rs: +5 % to +7 % RSS after
# a minute of churn over 1,000 objects instead of +18 %, the issue's bound being 10 %).
ENV MALLOC_ARENA_MAX=2
USER 65532:65532
EXPOSE 9102
ENTRYPOINT ["/usr/local/bin/scalerd"]
CMD ["run", "--admin-addr=0.0.0.0:9102"]
