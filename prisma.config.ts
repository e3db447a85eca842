import { defineConfig } from "prisma/config";

// The stock prisma CLI reads this. On machines without Prisma's native schema
// engine, PRISMA_SCHEMA_ENGINE_BINARY points at packages/db/bin/schema-engine
// (see README, "Prisma offline").
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "file:./.switchyard/db" },
});
