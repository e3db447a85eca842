import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Integration tests start PGlite (2–4 s each) and spawn the prisma CLI.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
