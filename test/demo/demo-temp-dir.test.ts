/**
 * The demo's temporary data directory (sim/demo/demo.ts) is removed whatever ends the demo, as README says
 * ("removed at the end"): an error after it was made, and Ctrl-C, which `etc-sim demo` takes for the whole
 * demo (sim/cli/commands/demo.ts): the scenario is cut short, the lane closes and the summary is printed.
 * The temporary directory is made under TMPDIR (os.tmpdir()), here one of the test's own.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { runDemo } from "../../sim/demo/demo.js";
import { spawnCli } from "../../sim/harness/procs.js";
import { ROOT } from "../integration/harness.js";

let dir: string;
/** TMPDIR for the demo: a new, empty directory of the test's own */
let tmp: string;
const savedTmpdir = process.env.TMPDIR;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-demo-temp-"));
  tmp = mkdtempSync(join(dir, "tmp-"));
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  rmSync(dir, { recursive: true, force: true });
});

// review (session 37): the directory was removed only after the summary
it("a demo that fails after its data directory was made (its tariff missing): the directory removed", async () => {
  // the example config, its tariff a file that is not there: refused when the lane opens it
  const config = join(dir, "lane.yaml");
  const example = readFileSync(join(ROOT, "config/lane.example.yaml"), "utf8");
  expect(example).toMatch(/^tariff: tariff\.example\.yaml/m);
  writeFileSync(config, example.replace(/^tariff: tariff\.example\.yaml/m, "tariff: missing-tariff.yaml"));
  process.env.TMPDIR = tmp; // os.tmpdir(), where runDemo makes its directory
  await expect(
    runDemo({
      config,
      scenario: join(ROOT, "config/scenarios/demo.yaml"),
      serve: false,
      write: () => {},
    }),
  ).rejects.toThrow(/missing-tariff\.yaml/);
  expect(readdirSync(tmp)).toEqual([]);
});

// review (session 37): outside a stay Ctrl-C had Node's default action (the directory left behind), and in
// one it was taken only after the scenario
it("etc-sim demo: Ctrl-C during the scenario cuts it short, prints the summary, exits 0, the directory removed", async () => {
  const demo = spawnCli("etc-sim", ["demo", "--no-stay", "--no-serve"], {
    name: "demo",
    env: { TMPDIR: tmp },
  });
  const first = await demo.waitLine((l) => l.text.startsWith("etc-lane demo: "), 60_000, "the first line");
  const dataDir = /data in (\S+) \(removed at the end/.exec(first.text)?.[1];
  expect(dataDir?.startsWith(join(tmp, "etc-lane-demo-"))).toBe(true);
  expect(existsSync(dataDir as string)).toBe(true);
  // a vehicle decided: the scenario is under way
  await demo.waitLine((l) => l.text.includes("扣费成功"), 60_000, "a paid vehicle");
  demo.kill("SIGINT");
  expect(await demo.exited, demo.tail(20)).toEqual({ code: 0, signal: null });
  const out = demo.lines.filter((l) => l.stream === "stdout").map((l) => l.text);
  expect(out).toContain(
    "the demo was stopped: the scenario is cut short where it was; the summary is as of now",
  );
  expect(out.at(-1)).toMatch(/^summary: /);
  expect(existsSync(dataDir as string)).toBe(false);
  expect(readdirSync(tmp)).toEqual([]);
}, 120_000);
