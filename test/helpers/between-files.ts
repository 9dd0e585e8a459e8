/**
 * Set-up of the test files that share their worker's modules (vitest.config.ts, project "shared"): after
 * each file, put back what a file may leave behind for the next one in the same worker, so no file runs on
 * another's fake clock or spies.
 */
import { afterAll, vi } from "vitest";

afterAll(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});
