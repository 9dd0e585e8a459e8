import { defineConfig } from "vitest/config";

const exclude = ["test/bench/**", "node_modules/**", "dist/**"];

export default defineConfig({
  test: {
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machine: integration tests open ptys and spawn processes; keep the run predictable.
    maxWorkers: 2,
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: { name: "suite", include: ["test/**/*.test.ts"], exclude: [...exclude, "test/reliability/**"] },
      },
      // the system tests (several processes each, SIGKILLs; recovery times are printed, never asserted) one at a time,
      // beside the rest of the suite, never beside each other
      {
        extends: true,
        test: { name: "system", include: ["test/reliability/**/*.test.ts"], exclude, fileParallelism: false },
      },
    ],
  },
});
