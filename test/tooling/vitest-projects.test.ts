/**
 * vitest.config.ts runs most test files in workers that keep their modules from one file to the next;
 * a file that replaces a module or a global must not run there (its mock would miss a module already
 * loaded, or reach the next file). The config finds those files by reading them: this checks that the
 * search finds them all, however the call is spelled.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isolatedTestFiles, REPLACES_MODULES } from "../../vitest.config.js";

const files = readdirSync("test", { recursive: true, encoding: "utf8" })
  .map((f) => `test/${f.replaceAll("\\", "/")}`)
  .filter((f) => f.endsWith(".test.ts") && !f.startsWith("test/bench/"));

describe("the isolated test files (vitest.config.ts)", () => {
  it("are the files that call vi.mock, vi.doMock, vi.stubGlobal, vi.stubEnv and their kin", () => {
    const isolated = isolatedTestFiles();
    expect(isolated).toContain("test/booth/settle-psam.test.ts");
    expect(isolated).toContain("test/transport/pty-no-node-pty.test.ts");
    // and no file that only spies (vi.spyOn) or fakes the clock: those share their worker's modules
    expect(isolated).not.toContain("test/journal/records.test.ts");
  });

  it("leave no file in the shared workers that names one of those calls in any other spelling", () => {
    const isolated = new Set(isolatedTestFiles());
    // vi["mock"](, a destructured { mock } = vi, vi.\n  mock(: any mention of the names followed by a call
    const loose = /\b(mock|doMock|unmock|doUnmock|hoisted|stubGlobal|stubEnv|resetModules)["'`]?\]?\s*\(/;
    expect(files.filter((f) => !isolated.has(f) && loose.test(readFileSync(f, "utf8")))).toEqual([]);
  });

  it("the pattern tells a module mock from a spy's recorded calls", () => {
    expect(REPLACES_MODULES.test('vi.mock("../../src/log.js", () => ({}))')).toBe(true);
    expect(REPLACES_MODULES.test('vi.stubEnv("TZ", "UTC")')).toBe(true);
    expect(REPLACES_MODULES.test("expect(spy.mock.calls).toHaveLength(1)")).toBe(false);
    expect(REPLACES_MODULES.test("vi.spyOn(journal, 'settle')")).toBe(false);
  });
});
