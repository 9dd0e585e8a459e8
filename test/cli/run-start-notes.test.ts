/**
 * What `etc-lane run` says in its log at start about the config (src/cli/commands/run.ts, the notes of
 * src/config/preflight.ts): each a warn line naming the field (an error line under log.level error, which
 * drops warn lines); an enabled capture.dir the lane cannot write in or create, at error, the lane started;
 * a tariff's free passage from the tariff the
 * lane opened; a process tuning that fails, at warn, the lane opened all the same. The lane, its service, the process tuning and the logger are stubs; the lane is stopped by a
 * SIGTERM as its status service starts (the controller never starts).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { Subject } from "rxjs";
import { afterAll, beforeAll, beforeEach, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { ROOT } from "../../sim/harness/procs.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { registerRun } from "../../src/cli/commands/run.js";

const h = vi.hoisted(() => ({
  warns: [] as { obj: unknown; msg: string | undefined }[],
  errors: [] as { obj: unknown; msg: string | undefined }[],
  /** the tariff the lane opened (src/lane/runtime.ts), the one it charges */
  tariff: null as { freePassage(): string[] } | null,
  /** the lane's notes on the tariff it loaded (src/lane/tariff-reuse.ts) */
  tariffNotes: [] as { path: string; message: string }[],
  /** how many times run opened the lane */
  opened: 0,
  /** what the process tuning rejects with, if anything */
  tuningError: null as Error | null,
}));

vi.mock("../../src/log.js", () => {
  const logger = {
    level: "info",
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: (obj: unknown, msg?: string) => h.warns.push({ obj, msg }),
    error: (obj: unknown, msg?: string) => h.errors.push({ obj, msg }),
    fatal: () => {},
    child: () => logger,
  };
  return { openLogger: () => logger, laneLogOptions: (log: unknown) => log };
});
vi.mock("../../src/lane/process-tuning.js", () => ({
  tuneLaneProcess: async () => (h.tuningError ? Promise.reject(h.tuningError) : {}),
}));
vi.mock("../../src/lane/runtime.js", () => ({
  openLane: async () => ({
    opened: h.opened++,
    controller: {
      status$: new Subject(),
      // stopped as the status service starts: the controller never starts
      start: async () => {
        throw new Error("the controller was started after the stop");
      },
      stop: async () => {},
    },
    tariff: h.tariff,
    tariffNotes: h.tariffNotes,
    close: async () => {},
  }),
}));
vi.mock("../../src/service/serve-lane.js", () => ({
  serveLane: async () => {
    process.emit("SIGTERM", "SIGTERM");
    return { service: { listening: true, url: "http://127.0.0.1:9641/" }, close: async () => {} };
  },
}));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-start-notes-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  h.warns = [];
  h.errors = [];
  h.tariff = null;
  h.tariffNotes = [];
  h.opened = 0;
  h.tuningError = null;
});

let n = 0;
function configWith(over: Record<string, unknown>): string {
  const file = join(dir, `lane-${++n}.yaml`);
  writeFileSync(
    file,
    stringify({
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "/dev/ttyUSB9", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir: join(dir, "data"),
      tariff: join(ROOT, "config/tariff.example.yaml"),
      ...over,
    }),
  );
  return file;
}

function run(config: string): Promise<unknown> {
  const program = new Command("etc-lane").exitOverride();
  registerRun(program);
  return program.parseAsync(["node", "etc-lane", "run", "--init", "--config", config]);
}

// second review: the key the earlier example set was refused, and a lane made from it would not start
it("rsu.dialect.heartbeatCode: run starts, with a warn line that the lane ignores it", async () => {
  const config = configWith({
    rsu: { port: "/dev/ttyUSB9", protocol: "legacy", dialect: { heartbeatCode: 0x80 } },
  });
  await run(config);
  expect(h.warns).toEqual([
    {
      obj: { field: "rsu.dialect.heartbeatCode", config },
      msg: "rsu.dialect.heartbeatCode: a simulator option (the heartbeat B2 ErrorCode the simulated RSU sends); the lane ignores it: remove it",
    },
  ]);
});

// second review: the free-passage warning came from a read of the tariff of its own, not from the table the
// lane charges: a file replaced between the two named another table's free routes
it("a tariff's free passage: named from the tariff the lane opened and charges, not from another read of the file", async () => {
  const example = join(ROOT, "config/tariff.example.yaml");
  h.tariff = { freePassage: () => ["4301-0101 class 2 (a fee of 0 fen)"] };
  await run(configWith({}));
  expect(h.warns.map((w) => w.msg)).toEqual([
    `tariff: allowZeroFee: true in ${example}: free passage (charged 0 fen) for 4301-0101 class 2 (a fee of 0 fen)`,
  ]);
  // the file says free passage, the table the lane charges does not: no word of it
  const holiday = join(dir, "holiday.yaml");
  writeFileSync(
    holiday,
    [
      'station: "4301-0102"',
      'version: "holiday-1"',
      "allowZeroFee: true",
      'routes: [{ from: "4301-0101", fees: { "1": 0 } }]',
      "",
    ].join("\n"),
  );
  h.warns = [];
  h.tariff = { freePassage: () => [] };
  await run(configWith({ tariff: holiday }));
  expect(h.warns).toEqual([]);
});

// session 34 review: a table changed without a new version was not told apart from the one before
it("the lane's note on its tariff (a version loaded before with other bytes) is logged with the start notes, at warn", async () => {
  h.tariff = { freePassage: () => [] };
  h.tariffNotes = [{ path: "tariff", message: 'tariff.yaml: version "v1" is the version of ...' }];
  const config = configWith({});
  await run(config);
  expect(h.warns).toEqual([
    { obj: { field: "tariff", config }, msg: 'tariff: tariff.yaml: version "v1" is the version of ...' },
  ]);
});

// third review: the note that log.level error drops the log sink's lines was logged at warn, which
// log.level error drops too: the lane's log said nothing
it("outputs.sink log with log.level error: the note is logged at error, which that level keeps", async () => {
  const config = configWith({ outputs: { sink: "log" }, log: { level: "error" } });
  await run(config);
  expect(h.warns).toEqual([]);
  expect(h.errors).toEqual([
    {
      obj: { field: "outputs.sink", config },
      msg: expect.stringMatching(/^outputs\.sink: "log" writes the barrier.*log\.level error drops/),
    },
  ]);
});

it("outputs.sink log with log.level warn: the note at warn, which that level keeps", async () => {
  const config = configWith({ outputs: { sink: "log" }, log: { level: "warn" } });
  await run(config);
  expect(h.errors).toEqual([]);
  expect(h.warns.map((w) => w.obj)).toEqual([{ field: "outputs.sink", config }]);
});

// session 41 review: a tuning error (one the tuning does not turn into a skip) ended `etc-lane run` with exit
// 1, restarted so forever under systemd, although the tuning is best effort (src/lane/process-tuning.ts)
it("a process tuning that fails: logged at warn, and the lane opens all the same", async () => {
  h.tuningError = new Error("ENOENT: no such file or directory, readlink '/proc/thread-self'");
  await run(configWith({}));
  expect(h.opened).toBe(1);
  expect(h.warns).toEqual([
    {
      obj: { err: "ENOENT: no such file or directory, readlink '/proc/thread-self'" },
      msg: "lane process tuning failed (src/lane/process-tuning.ts); the lane goes on untuned",
    },
  ]);
});

// second review of the config checks: a capture.dir the lane user cannot write in (a capture disk not mounted,
// its mount point root's) refused run, and a debugging aid kept the lane from trading
it("an enabled capture.dir the lane cannot write in or create: run starts the lane (capturing nothing), with an error line naming capture.dir", async () => {
  // not creatable whoever runs the test, root included
  const config = configWith({ capture: { enabled: true, dir: "/proc/self/etc-lane-capture" } });
  await run(config);
  expect(h.opened).toBe(1);
  expect(h.errors).toEqual([
    {
      obj: { field: "capture.dir", config },
      msg: expect.stringMatching(
        /^capture\.dir: cannot create \/proc\/self\/etc-lane-capture: \/proc\/self is not writable .*: the lane starts and captures nothing$/,
      ),
    },
  ]);
});

it("an enabled capture.dir that is a file or under one: run refuses it, naming capture.dir, and opens nothing", async () => {
  const file = join(dir, "a-file");
  writeFileSync(file, "x");
  await expect(run(configWith({ capture: { enabled: true, dir: join(file, "capture") } }))).rejects.toThrow(
    /\n {2}capture\.dir: expected a directory path, but \S+a-file \(on the way to \S+a-file\/capture\) is a file/,
  );
  expect(h.opened).toBe(0);
});
