import { defineConfig } from "vitest/config";
import LongestFirstSequencer from "./test/sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/bench/**", "node_modules/**", "dist/**"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machine: integration tests open ptys and spawn processes; keep the run predictable.
    maxWorkers: 2,
    // the system tests (test/reliability/system.test.ts: several processes each, SIGKILLs; recovery times
    // are printed, never asserted) are one file, so never beside each other; started first, beside the rest
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
