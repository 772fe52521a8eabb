# The llmproxy image: one binary, `llmproxy`, whose subcommand (api, worker, audit, monitor,
# migrate, keys) is the container's command, e.g. `docker run llmproxy api --listen 0.0.0.0`.
#
#   docker build -t llmproxy .                                   (from source: the `runtime` stage)
#   docker build --build-arg BASE_IMAGE=llmproxy/debian:12-slim -t llmproxy .
#                                          (no registry reachable: base made by scripts/docker-base)
#   scripts/docker-image --from-binary build/release/programs/llmproxy
#                                          (CI: the binary it already built; Dockerfile.prebuilt)
#
# Stages, in this order on purpose: the classic builder (Debian's docker.io has no BuildKit CLI)
# builds every stage up to its --target, so `runtime-base` comes first and `--target
# runtime-base` (what Dockerfile.prebuilt builds on) never compiles anything.
#   runtime-base  the base image + the runtime libraries, a non-root user, the health check
#   build         toolchain + node: `npm ci && npm run build` in web/, cmake Release, strip
#   runtime       runtime-base + the binary and the dashboard from `build` (the default target)
ARG BASE_IMAGE=debian:12-slim

FROM ${BASE_IMAGE} AS runtime-base
# Only what `ldd llmproxy` needs (their own dependencies follow) and the CA certificates for TLS
# upstreams. No recommends, no apt lists left behind.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libfmt9 libhiredis0.14 libpq5 librabbitmq4 libsimdjson14 libspdlog1.10 libssl3 \
      libtomlplusplus3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
RUN groupadd --system --gid 10001 llmproxy \
 && useradd --system --uid 10001 --gid llmproxy --home-dir /opt/llmproxy --no-create-home \
      --shell /usr/sbin/nologin llmproxy \
 && mkdir -p /opt/llmproxy/web
COPY docker/healthcheck /usr/local/bin/llmproxy-healthcheck
WORKDIR /opt/llmproxy
# Listen on every interface of the container (the processes default to loopback); the monitor
# serves the dashboard copied below. Compose and `docker run -e` override any of these.
ENV LLMPROXY_API_LISTEN=0.0.0.0 \
    LLMPROXY_METRICS_LISTEN=0.0.0.0 \
    LLMPROXY_MONITOR_LISTEN=0.0.0.0 \
    LLMPROXY_MONITOR_WEB_DIR=/opt/llmproxy/web/dist \
    LLMPROXY_HEALTH_PORT=8080
EXPOSE 8080 8081 9401 9402
HEALTHCHECK --interval=5s --timeout=4s --start-period=20s --retries=6 CMD ["/usr/local/bin/llmproxy-healthcheck"]
USER llmproxy
ENTRYPOINT ["/usr/local/bin/llmproxy"]
CMD ["--help"]

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost-dev librabbitmq-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libsimdjson-dev \
      libpq-dev uuid-dev libssl-dev libhiredis-dev libtomlplusplus-dev \
      nodejs npm ca-certificates
# A network whose egress re-signs TLS needs its CA for npm: docker/extra-ca/README.md.
COPY docker/extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
# The dashboard first: its layer is cached until web/ changes.
COPY web/package.json web/package-lock.json web/
RUN cd web && npm ci --no-audit --no-fund
COPY web web
RUN cd web && npm run build
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake cmake
COPY src src
COPY programs programs
ARG BUILD_JOBS=2
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMPROXY_BUILD_TESTS=OFF \
      -DLLMPROXY_BUILD_BENCH=OFF \
 && cmake --build build -j"${BUILD_JOBS}" --target llmproxy \
 && strip build/programs/llmproxy

FROM runtime-base AS runtime
COPY --from=build /src/build/programs/llmproxy /usr/local/bin/llmproxy
COPY --from=build /src/web/dist /opt/llmproxy/web/dist
