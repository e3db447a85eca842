import { defineConfig } from "vitest/config";

// Two tiers, two names (STYLE.md): *.test.ts is pure and fast; *.int.test.ts runs
// against real things (databases, CNI plugins in network namespaces).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          name: "int",
          include: ["packages/*/src/**/*.int.test.ts", "packages/*/test/**/*.int.test.ts", "apps/*/src/**/*.int.test.ts", "apps/*/test/**/*.int.test.ts"],
          exclude: ["**/node_modules/**"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Test agents share this machine: none programs its services table unless its test says
          // where (--services netns:<name>); the children the tests start inherit this.
          env: { SWITCHYARD_SERVICES: "off" },
        },
      },
    ],
  },
});
