import { readdirSync, readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import LongestFirstSequencer from "./test/sequencer.js";

const EXCLUDE = ["test/bench/**", "node_modules/**", "dist/**"];

/**
 * Test files that replace modules, globals or environment variables for the file (vi.mock, vi.doMock,
 * vi.stubGlobal, vi.stubEnv, vi.resetModules...): each runs in its own module graph, as vitest runs every
 * file by default. Found by reading the files, so a new test that mocks a module is isolated without a
 * list to keep; test/tooling/vitest-projects.test.ts checks the split.
 */
export const REPLACES_MODULES =
  /\bvi\.(mock|doMock|unmock|doUnmock|hoisted|stubGlobal|stubEnv|resetModules)\(/;

export function isolatedTestFiles(root = "test"): string[] {
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((f) => `${root}/${f.replaceAll("\\", "/")}`)
    .filter((f) => f.endsWith(".test.ts") && !f.startsWith("test/bench/"))
    .filter((f) => REPLACES_MODULES.test(readFileSync(f, "utf8")))
    .sort();
}

const isolated = isolatedTestFiles();

export default defineConfig({
  test: {
    // which files: each project's own include and exclude (a project that extends this config would add
    // to, not replace, an include given here)
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machine: integration tests open ptys and spawn processes; keep the run predictable.
    maxWorkers: 2,
    // the system tests (test/reliability/system.test.ts: several processes each, SIGKILLs; recovery times
    // are printed, never asserted) are one file, so never beside each other; started first, beside the rest
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      // the files that replace a module or a global: a fresh module graph each (vitest's default)
      { extends: true, test: { name: "isolated", include: isolated, exclude: EXCLUDE, isolate: true } },
      // every other file: a worker keeps the modules it loaded for the next file instead of loading
      // them again for each of ~250 files (vitest's import time of the whole suite 145 s -> 34-36 s,
      // docs/benchmarks.md "Reliability"); test/helpers/between-files.ts puts back the timers and spies a
      // file may leave behind
      {
        extends: true,
        test: {
          name: "shared",
          include: ["test/**/*.test.ts"],
          exclude: [...EXCLUDE, ...isolated],
          isolate: false,
          setupFiles: ["test/helpers/between-files.ts"],
        },
      },
    ],
  },
});
