# syntax=docker/dockerfile:1
# The images of agentq's three services, one build target each, built from the repository root:
#   docker build --target ingress    -t agentq-ingress:2026-12-07 .
#   docker build --target dispatcher -t agentq-dispatcher:2026-12-07 .
#   docker build --target relay      -t agentq-relay:2026-12-07 .
# Each runs compiled JavaScript (`npm run build`; no TypeScript runtime) as the non-root user
# `node`, under tini, and writes only to /tmp and its data dir (/data): fit for a read-only root.
# The dispatcher image also has the agent CLIs, bubblewrap and git, for the `local` provider,
# which runs agents next to the dispatcher.

# Node: the current LTS line (24), pinned to one release. node:24.11.1-bookworm-slim is a
# published tag of the official image (Node 24.11.1 on Debian 12 "bookworm"). A tag can be
# re-pushed (Debian fixes); to pin the exact bytes, pass the digest: --build-arg NODE_IMAGE=node:24.11.1-bookworm-slim@sha256:<digest>
# (docs/operations.md, "Images").
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

# The lockfile and every package manifest: what each `npm ci` below reads.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY shared/package.json shared/
COPY services/ingress/package.json services/ingress/
COPY services/dispatcher/package.json services/dispatcher/
COPY services/log-relay/package.json services/log-relay/
COPY cli/package.json cli/

# Compiles shared/, the three services and cli/ into their dist/ folders (`npm run build`).
# Install scripts stay off here and below: nothing the build or the services use needs one.
FROM manifests AS build
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-build-assets.ts scripts/
COPY scripts/build scripts/build
COPY shared/tsconfig.build.json shared/
COPY shared/src shared/src
COPY services/ingress/tsconfig.build.json services/ingress/
COPY services/ingress/src services/ingress/src
COPY services/dispatcher/tsconfig.build.json services/dispatcher/
COPY services/dispatcher/src services/dispatcher/src
COPY services/log-relay/tsconfig.build.json services/log-relay/
COPY services/log-relay/src services/log-relay/src
COPY cli/tsconfig.build.json cli/
COPY cli/src cli/src
RUN npm run build

# Production dependencies of each image: only its workspaces' (`--workspace`), so neither the
# root's (tsx) nor another service's land in it. The npm cache stays behind in these stages.
FROM manifests AS ingress-deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=shared --workspace=services/ingress --workspace=cli

FROM manifests AS dispatcher-deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=shared --workspace=services/dispatcher

FROM manifests AS relay-deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=shared --workspace=services/log-relay

# What every service image starts from. tini is PID 1: it passes signals on and reaps orphans.
# `node` (uid 1000) of the base image is the services' user; it owns the data dir.
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    AGENTQ_HOST=0.0.0.0 \
    AGENTQ_DATA_DIR=/data
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
WORKDIR /app
ENTRYPOINT ["/usr/bin/tini", "--"]

# The ingress, and `cli/dist/setup.js`, which prepares a data dir before the services start.
# git: the local forge (repositories imported with `agentq repo add`).
FROM runtime AS ingress
RUN apt-get update \
  && apt-get install -y --no-install-recommends git \
  && rm -rf /var/lib/apt/lists/*
COPY --from=ingress-deps /app ./
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/ingress/dist services/ingress/dist
COPY --from=build /app/cli/dist cli/dist
USER node
# the public port, and the private ops port of /metrics (AGENTQ_INGRESS_OPS_PORT)
EXPOSE 8080 8083
CMD ["node", "--conditions=agentq-dist", "services/ingress/dist/main.js"]

# The dispatcher. bubblewrap isolates `local` sandboxes where the kernel allows user namespaces;
# git: clones and pushes of the run script and the local forge. Claude Code and Codex at the
# versions the repository is tested with (root package.json, devDependencies); their install
# scripts run, so that `claude` is the native binary and not its launcher.
FROM runtime AS dispatcher
RUN apt-get update \
  && apt-get install -y --no-install-recommends bubblewrap git \
  && rm -rf /var/lib/apt/lists/*
ARG CLAUDE_CODE_VERSION=2.1.332
ARG CODEX_VERSION=0.169.0
RUN npm install --global --no-audit --no-fund "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" "@openai/codex@${CODEX_VERSION}" \
  && npm cache clean --force \
  && HOME=/tmp/cli-check claude --version && HOME=/tmp/cli-check codex --version && rm -rf /tmp/cli-check
COPY --from=dispatcher-deps /app ./
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/dispatcher/dist services/dispatcher/dist
USER node
EXPOSE 8081
CMD ["node", "--conditions=agentq-dist", "services/dispatcher/dist/main.js"]

# The log relay.
FROM runtime AS relay
COPY --from=relay-deps /app ./
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/log-relay/dist services/log-relay/dist
USER node
EXPOSE 8082
CMD ["node", "--conditions=agentq-dist", "services/log-relay/dist/main.js"]
