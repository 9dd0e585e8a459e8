import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/bench/**", "node_modules/**", "dist/**"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machine: integration tests open ptys and spawn processes; keep the run predictable.
    maxWorkers: 2,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
