/**
 * The closing "N passed, N failed" line (test/summary-reporter.ts) that CI logs and scripts read: a file
 * whose beforeAll hook failed (its tests show as skipped) or that failed to load counts as a failure.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TestModule } from "vitest/node";
import { captureOutput } from "../helpers/cli.js";
import SummaryReporter from "../summary-reporter.js";

type State = "passed" | "failed" | "skipped";

/** The part of a TestModule the reporter reads. */
function moduleOf(state: State, tests: State[]): TestModule {
  return {
    state: () => state,
    children: { allTests: () => tests.map((s) => ({ result: () => ({ state: s }) })) },
  } as unknown as TestModule;
}

function lineOf(modules: TestModule[], unhandled: unknown[] = []): string {
  const io = captureOutput();
  try {
    new SummaryReporter().onTestRunEnd(modules, unhandled);
  } finally {
    io.restore();
  }
  return io.out.trim();
}

describe("the closing summary line", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("counts passed, failed and skipped tests", () => {
    expect(
      lineOf([moduleOf("failed", ["passed", "failed", "skipped"]), moduleOf("passed", ["passed"])]),
    ).toBe("2 passed, 1 failed, 1 skipped");
  });

  it("a file whose beforeAll failed (its tests skipped) is one failure, not 0 failed", () => {
    expect(lineOf([moduleOf("failed", ["skipped", "skipped"]), moduleOf("passed", ["passed"])])).toBe(
      "1 passed, 1 failed, 2 skipped",
    );
  });

  it("a file that failed to load, and unhandled errors, are failures", () => {
    expect(lineOf([moduleOf("failed", []), moduleOf("passed", ["passed"])], [new Error("x")])).toBe(
      "1 passed, 2 failed",
    );
  });
});
