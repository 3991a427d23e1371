# One image for the ingress, the dispatcher and the log relay; pick the service with the command:
#   node --import tsx services/ingress/src/main.ts      (default)
#   node --import tsx services/dispatcher/src/main.ts
#   node --import tsx services/log-relay/src/main.ts
# TypeScript runs through tsx, a runtime dependency: there is no build step.
FROM node:20-bookworm-slim

# git: clones and pushes in sandboxes and the local forge; tini: PID 1 that reaps orphans and passes signals.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    AGENTQ_HOST=0.0.0.0 \
    AGENTQ_DATA_DIR=/data

WORKDIR /app

# Dependencies first, so code changes reuse this layer.
COPY package.json package-lock.json .npmrc ./
COPY shared/package.json shared/
COPY services/ingress/package.json services/ingress/
COPY services/dispatcher/package.json services/dispatcher/
COPY services/log-relay/package.json services/log-relay/
COPY cli/package.json cli/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Claude Code, for the claude-code harness (AGENTQ_CLAUDE_BIN=claude).
ARG CLAUDE_CODE_VERSION=2.1.332
RUN npm install --global --no-audit --no-fund "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" && npm cache clean --force

COPY tsconfig.json ./
COPY shared/src shared/src
COPY services/ingress/src services/ingress/src
COPY services/dispatcher/src services/dispatcher/src
COPY services/log-relay/src services/log-relay/src
COPY cli/bin cli/bin
COPY cli/src cli/src

# Non-root: the image's `node` user (uid 1000) owns the data dir.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080 8081 8082

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "services/ingress/src/main.ts"]
