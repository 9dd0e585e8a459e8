/**
 * The order vitest starts test files in: vitest's own (a file that failed last time first, then the
 * longest by the cache, or the largest file on a machine without one, as CI is), with the longest-running
 * files moved to the front. Two workers run the suite: started first, the system tests (several minutes,
 * test/reliability/system.test.ts) run on one while the other works through the rest; started last, they
 * would run alone at the end with the second worker idle.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** The files that take minutes, longest first (the run of 2026-12-05: about 430 s and 170 s). */
export const LONGEST_FIRST = ["test/reliability/system.test.ts", "test/status-list/crash.test.ts"];

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = LONGEST_FIRST.findIndex((p) => f.moduleId.replaceAll("\\", "/").endsWith(p));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}
