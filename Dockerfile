# The console image. Build from the repository root: docker build -t switchyard-console .
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1
COPY package.json package-lock.json turbo.json tsconfig.base.json prisma.config.ts ./
COPY prisma ./prisma
COPY apps ./apps
COPY packages ./packages
COPY e2e/package.json ./e2e/package.json
RUN npm ci --no-audit --no-fund && npx turbo run build --filter=@switchyard/console

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 NEXT_MANUAL_SIG_HANDLE=true
COPY --from=build /app /app
USER node
EXPOSE 3000
WORKDIR /app/apps/console
ENV HOST=0.0.0.0 PORT=3000
CMD ["node", "server.mjs"]
