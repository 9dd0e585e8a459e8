/**
 * `etc-sim demo` (sim/demo/demo.ts): `--data-dir` must be new or empty, as docs/simulator.md says, and is
 * refused before anything is opened; a lane that does not open within 10 s is named with its status; the
 * first line counts the random vehicles planned. Review (session 41): a directory left by an earlier demo
 * with only its journal.db removed was used (E506_BUNDLE_NOT_NEWER, or a lane that never opened and only
 * rxjs's "Timeout has occurred"); with `traffic.random` the first line said "0 vehicles".
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BehaviorSubject } from "rxjs";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { runDemo } from "../../sim/demo/demo.js";
import { LANE_OPEN_WAIT_MS, laneOpened } from "../../sim/lane-opened.js";
import type { LaneStatus } from "../../src/lane/lane-gate.js";
import { runCli } from "../helpers/cli.js";
import { ROOT } from "../integration/harness.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-demo-dir-"));
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

/** The default demo in `dir`, kept (serve off, output dropped). */
const demoIn = (dataDir: string) =>
  runDemo({
    config: join(ROOT, "config/lane.example.yaml"),
    scenario: join(ROOT, "config/scenarios/demo.yaml"),
    dataDir,
    serve: false,
    write: () => {},
  });

it("a --data-dir that already holds a journal (an earlier demo) is refused before anything opens", async () => {
  writeFileSync(join(dir, "journal.db"), "");
  await expect(demoIn(dir)).rejects.toThrow(
    `--data-dir ${dir}: must be new or empty, it holds journal.db (an earlier demo's?)`,
  );
  expect(readdirSync(dir)).toEqual(["journal.db"]);
});

it("a --data-dir holding an earlier demo's files but no journal.db is refused, nothing opened or made there", async () => {
  mkdirSync(join(dir, "status-list"));
  mkdirSync(join(dir, "audit"));
  await expect(demoIn(dir)).rejects.toThrow(
    `--data-dir ${dir}: must be new or empty, it holds audit, status-list (an earlier demo's?)`,
  );
  expect(readdirSync(dir).sort()).toEqual(["audit", "status-list"]);
});

// review (session 41): an existing --data-dir it could not read gave a bare "EACCES: permission denied,
// scandir '...'", not naming --data-dir
it("an existing --data-dir the demo cannot read is refused naming --data-dir (etc-sim demo)", async () => {
  chmodSync(dir, 0o755);
  const data = join(dir, "data");
  mkdirSync(data);
  chmodSync(data, 0o111); // it can be entered, not listed
  // root lists any directory (a path through a regular file is refused earlier, as not a directory): the
  // CLI runs as nobody then
  const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const r = await runCli("etc-sim", ["demo", "--data-dir", data], user);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(
    `etc-sim: --data-dir ${data}: cannot read it (EACCES: permission denied, scandir '${data}'): the demo needs a new or empty directory\n`,
  );
});

it("a lane that does not open within the wait: the error says so with its closed reason, not a bare timeout", async () => {
  vi.useFakeTimers();
  const status: LaneStatus = { status: "closed", reason: "status-list", detail: "no status list applied" };
  const status$ = new BehaviorSubject<LaneStatus>(status);
  const opened = laneOpened({ status$, status });
  const failed = expect(opened).rejects.toThrow(
    "the lane did not open within 10 s: it is closed (status-list): no status list applied",
  );
  await vi.advanceTimersByTimeAsync(LANE_OPEN_WAIT_MS);
  await failed;
});

it("the first line counts the scenario's vehicles and the random ones planned", async () => {
  const scenario = join(dir, "random.yaml");
  writeFileSync(
    scenario,
    [
      "name: random-count",
      "seed: 7",
      "defaults: { zoneMs: 700, balance: 20000, entryStation: '0101', class: 1 }",
      "traffic:",
      "  vehicles:",
      "    - { id: first, plate: 湘A12345 }",
      "  random: { ratePerMinute: 60, count: 2 }",
      "",
    ].join("\n"),
  );
  const lines: string[] = [];
  let firstLine!: () => void;
  const stop = new Promise<void>((resolve) => {
    firstLine = resolve;
  });
  await runDemo({
    config: join(ROOT, "config/lane.example.yaml"),
    scenario,
    serve: false,
    stop, // cut short once the first line is out
    write: (l) => {
      lines.push(l);
      if (l.startsWith("etc-lane demo: ")) firstLine();
    },
  });
  expect(lines[0]).toMatch(/, 3 vehicles, data in /);
}, 60_000);
