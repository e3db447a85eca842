# Two images from one build. From the repository root:
#   docker build --target console -t switchyard-console .
#   docker build --target agent   -t switchyard-agent .
# The agent image is node plus one file (the agent bundle), koffi (its netlink path) and the tools the CNI plugins need;
# the console image carries the built console and, to serve to new hosts, the same bundle.

# The bundles (agent, switchyard-cni): no Next.js build needed for the agent image.
FROM node:20-bookworm-slim AS bundle
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1 TURBO_TELEMETRY_DISABLED=1
COPY package.json package-lock.json turbo.json tsconfig.base.json prisma.config.ts ./
COPY prisma ./prisma
COPY tooling ./tooling
COPY deploy ./deploy
COPY apps ./apps
COPY packages ./packages
COPY e2e/package.json ./e2e/package.json
COPY bench/package.json ./bench/package.json
RUN npm ci --no-audit --no-fund && npx turbo run build --filter=@switchyard/agent
# koffi beside the bundle gives the agent its netlink path for the services table (Linux
# builds only); without it the agent pipes its transactions into nft.
RUN mkdir -p /koffi/node_modules && cp -r node_modules/koffi /koffi/node_modules/ \
  && find /koffi/node_modules/koffi/build/koffi -mindepth 1 -maxdepth 1 ! -name 'linux_*' -exec rm -rf {} + \
  && rm -rf /koffi/node_modules/koffi/src /koffi/node_modules/koffi/vendor /koffi/node_modules/koffi/doc

FROM bundle AS build
RUN npx turbo run build --filter=@switchyard/console

# The host agent: root, with the tools the CNI plugins and sandboxes need. Run it privileged,
# in the host's network and pid namespaces (see docker-compose.yml).
FROM node:20-bookworm-slim AS agent
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 iptables nftables conntrack containernetworking-plugins \
  && rm -rf /var/lib/apt/lists/*
COPY --from=bundle /app/apps/agent/dist/switchyard-agent.mjs /usr/local/lib/switchyard/switchyard-agent.mjs
COPY --from=bundle /koffi/node_modules /usr/local/lib/switchyard/node_modules
# The unit's V8 flags (deploy/switchyard-agent.service says why).
ENTRYPOINT ["node", "--no-opt", "--no-sparkplug", "--max-semi-space-size=1", "/usr/local/lib/switchyard/switchyard-agent.mjs"]

FROM node:20-bookworm-slim AS console
WORKDIR /app
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 NEXT_MANUAL_SIG_HANDLE=true
COPY --from=build /app /app
USER node
EXPOSE 3000
WORKDIR /app/apps/console
ENV HOST=0.0.0.0 PORT=3000
CMD ["node", "server.mjs"]
