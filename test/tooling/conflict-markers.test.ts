/**
 * No merge conflict left in the repository's text: a `<<<<<<< ` or `>>>>>>> ` line at the start of a line
 * in any source, test, config or documentation file. Biome checks the TypeScript, but not the Markdown,
 * YAML or page assets, where a merge once left both sides of a table row in docs/simulator.md.
 */
import { readdirSync, readFileSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const DIRS = ["docs", "src", "sim", "firmware-bridge", "test", "config", ".ci"];
const TOP = ["README.md", "package.json", "biome.json", "tsconfig.json", "vitest.config.ts"];
const TEXT = new Set([
  ".ts",
  ".md",
  ".json",
  ".yaml",
  ".yml",
  ".js",
  ".mjs",
  ".html",
  ".css",
  ".txt",
  ".pem",
  "",
]);
const MARKER = /^(?:<{7}|>{7}) /m;

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile() && TEXT.has(extname(e.name))) yield p;
  }
}

describe("the repository's text files", () => {
  it("hold no merge conflict markers", () => {
    const all = [...DIRS.flatMap((d) => [...files(join(ROOT, d))]), ...TOP.map((f) => join(ROOT, f))];
    expect(all.length).toBeGreaterThan(500);
    const withMarkers = all
      .filter((f) => MARKER.test(readFileSync(f, "latin1")))
      .map((f) => relative(ROOT, f));
    expect(withMarkers).toEqual([]);
  });

  it("would see one", () => {
    expect(MARKER.test("| row |\n<<<<<<< HEAD\n| a |\n=======\n| b |\n>>>>>>> fix\n")).toBe(true);
    expect(MARKER.test("Title\n=======\n")).toBe(false);
  });
});
