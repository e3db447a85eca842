import { defineConfig } from "vitest/config";

// Run from this package (`npx vitest run`, turbo's `test`); without it vitest finds the root
// config, whose include globs are relative to the repo root and match nothing here.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    exclude: ["**/*.int.test.ts", "**/node_modules/**"],
  },
});
