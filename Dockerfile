# syntax=docker/dockerfile:1.7
# The vnc-gateway image: compiled in a build stage with the dev dependencies, run from a slim
# Node LTS image with production dependencies only, as a non-root numeric user, under tini so
# SIGTERM reaches the gateway and it drains its sessions. Writes nothing outside /tmp, so it
# runs with a read-only root filesystem.
#
# test/deploy/dockerfile.test.ts replays the COPY and `npm` RUN steps of this file by hand (Docker
# cannot run in CI) and starts the result: keep COPY and RUN lines plain, one step per line.
#
#   docker build -t vnc-gateway .
#   docker run --read-only --tmpfs /tmp -p 8080:8080 --env-file gateway.env vnc-gateway
#
# The simulator (a local stand-in for Tencent Cloud, for trials) is in the same image:
#   docker run vnc-gateway node dist/simulator/main.js
# and so are `audit verify` and `policy check/explain` (see the runtime stage).

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing in the tree needs one, and none may download binaries.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gateway ./gateway
COPY auth ./auth
COPY simulator ./simulator
# Of scripts/, only the operator's commands (audit verify, policy check/explain); the demo,
# docs generator and benchmarks stay out.
COPY scripts/audit.ts scripts/policy.ts ./scripts/
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to node (which drains sessions, see gateway/main.ts)
# and reaps zombies. Kubernetes has no `docker run --init`, so it lives in the image.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
# The compiled gateway and its libraries, and the simulator for trials. The demo sign-in
# (scripts/demo) is never built here: the image only ever trusts a real identity provider.
COPY --from=build /app/dist/gateway ./dist/gateway
COPY --from=build /app/dist/auth ./dist/auth
COPY --from=build /app/dist/simulator ./dist/simulator
# The operator's commands, run with plain node (package.json "bin"):
#   docker run --rm -v /var/log/vnc-gateway:/audit:ro vnc-gateway node dist/scripts/audit.js verify /audit/audit.log
#   docker run --rm -v "$PWD/policy.yaml:/p.yaml:ro" vnc-gateway node dist/scripts/policy.js check /p.yaml
COPY --from=build /app/dist/scripts/audit.js /app/dist/scripts/policy.js ./dist/scripts/
# The console's browser files: tsc does not copy plain JavaScript (console-routes.ts looks here first).
COPY gateway/console/public ./dist/gateway/console/public
# The `node` user of the official image, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
# Slim images have no curl: ask Node itself. PORT is the gateway's listen port (default 8080).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/gateway/main.js"]
