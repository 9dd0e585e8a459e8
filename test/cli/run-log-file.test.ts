/**
 * `etc-lane run` and its `log.file` (src/log.ts, src/cli/commands/run.ts): a log file that cannot be
 * opened stops run with the field named (never a hang or an unhandled 'error' event), and one whose
 * writes fail is reported once on stderr, the log going on on stderr, the lane still ending cleanly on
 * SIGTERM; SIGHUP opens the file again at its path (a log rotation) and the lane goes on, but a lane run on
 * a terminal whose terminal closes stops in order. (The checks run --check makes without creating anything are in run-check.test.ts.)
 */
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Proc, ROOT, startLane, writeLaneConfig } from "../../sim/harness/procs.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-log-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));

/** A lane config (the RSU port never opens: the lane runs closed) with `log.file` set to `file`. */
function configWithLogFile(file: string): string {
  const path = writeLaneConfig({
    dir,
    rsuPort: "/dev/ttyUSB9",
    dataDir: join(dir, "data"),
    tariff: join(ROOT, "config/tariff.example.yaml"),
  });
  const text = readFileSync(path, "utf8");
  expect(text).toContain("log: { level: info }\n");
  writeFileSync(
    path,
    text.replace("log: { level: info }\n", `log: { level: info, file: ${JSON.stringify(file)} }\n`),
  );
  return path;
}

it("a log.file whose directory cannot be made: run exits 1 naming log.file", () => {
  // /proc takes no new directory (as root the check before opening cannot tell: the open says so)
  const config = configWithLogFile("/proc/etc-lane/lane.log");
  const r = spawnSync(
    process.execPath,
    [join(ROOT, "dist/src/cli/etc-lane.js"), "run", "--init", "--config", config],
    {
      encoding: "utf8",
      timeout: 30_000,
      killSignal: "SIGKILL", // a run hung on the log file may not end on SIGTERM
    },
  );
  expect({ status: r.status, signal: r.signal }).toEqual({ status: 1, signal: null });
  expect(r.stderr).toMatch(/log\.file: cannot (open|create) \/proc\/etc-lane\/lane\.log/);
  expect(r.stderr).not.toMatch(/Unhandled 'error' event/);
});

it("a log.file whose writes fail (/dev/full): told once on stderr, the log goes on there, SIGTERM ends the lane", async () => {
  const lane = startLane(configWithLogFile("/dev/full"), "lane", { init: true });
  // run takes SIGTERM once the lane is running (src/cli/commands/run.ts)
  const running = lane.proc.waitLine(
    (l) => l.text.includes('"lane controller running"'),
    30_000,
    "lane controller running",
  );
  const failed = await lane.proc.waitLine(
    (l) => l.text.includes("writing the log file /dev/full (log.file) failed: ENOSPC"),
    30_000,
    "the log.file failure",
  );
  await running;
  await lane.proc.stop();
  expect(await lane.proc.exited, lane.proc.tail(40)).toEqual({ code: 0, signal: null });
  const after = lane.proc.lines.slice(lane.proc.lines.indexOf(failed) + 1);
  // the stop's status line, logged after the failure, came out on stderr
  expect(after.some((l) => l.stream === "stderr" && l.text.includes('"lane status"'))).toBe(true);
  expect(lane.proc.lines.filter((l) => l.text.includes("(log.file) failed"))).toHaveLength(1);
}, 60_000);

it("a log.file whose writes fail: the lines it could not write come out on stderr, a refused record's too", () => {
  // the lines are logged before the first write fails (it is asynchronous): they sit in the destination's
  // queue when the error comes, and are what a full disk would otherwise lose
  const script = [
    `import { createLogger, recordInFull } from ${JSON.stringify(join(ROOT, "dist/src/log.js"))};`,
    `const log = createLogger("t", { file: "/dev/full" });`,
    `log.info("vehicle 1 paid");`,
    // as src/lane/effect-runner.ts logs it: the record in full (its only copy), whatever log.fullIds says
    `log.error(recordInFull({ record: { tac: "12AB34CD", cardId: "43010000000000009001" } }), "JOURNAL COMMIT FAILED");`,
  ].join("\n");
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
    killSignal: "SIGKILL",
  });
  expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
  const lines = r.stderr.trim().split("\n");
  expect(lines[0]).toMatch(/writing the log file \/dev\/full \(log\.file\) failed: ENOSPC/);
  const logged = lines.slice(1).map((l) => JSON.parse(l) as { msg: string; record?: unknown });
  expect(logged.map((l) => l.msg)).toEqual(["vehicle 1 paid", "JOURNAL COMMIT FAILED"]);
  expect(logged[1]!.record).toEqual({ tac: "12AB34CD", cardId: "43010000000000009001" });
});

/**
 * Resolves once `file` holds `text` (watched: its directory's change events), rejects when `proc` exits
 * first or after 30 s.
 */
function textInFile(file: string, text: string, proc: Pick<Proc, "exited">): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const has = (): boolean => {
      try {
        return readFileSync(file, "utf8").includes(text);
      } catch {
        return false; // not there (yet)
      }
    };
    const done = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watcher.close();
      if (e) reject(e);
      else resolve();
    };
    const watcher = watch(dirname(file), () => {
      if (has()) done();
    });
    const timer = setTimeout(() => done(new Error(`no ${text} in ${file} within 30 s`)), 30_000);
    void proc.exited.then((x) =>
      done(new Error(`the lane exited (${x.signal ?? x.code}) before ${text} was in ${file}`)),
    );
    if (has()) done();
  });
}

// review (session 37): SIGHUP had Node's default action (the lane ended at once, no drain), so logrotate's
// postrotate `kill -HUP` killed a trading lane, and without it the lane wrote on into the renamed file
it("SIGHUP: the lane goes on, and log.file is opened again at its path: after a rename, new lines in a new file", async () => {
  const logs = join(dir, "logs");
  mkdirSync(logs, { mode: 0o700 });
  const file = join(logs, "lane.log");
  const lane = startLane(configWithLogFile(file), "lane", { init: true });
  await textInFile(file, '"lane controller running"', lane.proc);
  // logrotate without copytruncate: the file renamed, then the lane told
  renameSync(file, `${file}.1`);
  lane.proc.kill("SIGHUP");
  await textInFile(file, "reopened (SIGHUP)", lane.proc);
  expect(lane.proc.running).toBe(true);
  await lane.proc.stop();
  expect(await lane.proc.exited, lane.proc.tail(40)).toEqual({ code: 0, signal: null });
  const rotated = readFileSync(`${file}.1`, "utf8");
  const now = readFileSync(file, "utf8");
  expect(rotated).toContain('"lane controller running"');
  // the stop's lines are in the new file, none in the renamed one
  expect(now).toContain('"msg":"stopping: ');
  expect(rotated).not.toContain('"msg":"stopping: ');
  expect(rotated).not.toContain("reopened (SIGHUP)");
  // created as the lane creates its log file: the lane user's alone
  expect(statSync(file).mode & 0o777).toBe(0o600);
}, 60_000);

// second review (session 37): run on a terminal, SIGHUP was taken as a log reopen even when it was the terminal
// or ssh session ending, and the lane went on with nowhere to write; a log rotation's `kill -HUP` (tmux,
// screen) must still reopen the log there
describe("etc-lane run on a terminal (node-pty)", () => {
  const ptys = createRequire(import.meta.url)("node-pty") as typeof import("node-pty");
  let term: import("node-pty").IPty | undefined;
  afterEach(() => {
    try {
      if (term) process.kill(term.pid, "SIGKILL");
    } catch {
      // ended already
    }
    term = undefined;
  });

  /** `etc-lane run --init` on a terminal of its own; `ended` when it ends (its status is not read: below) */
  const runOnTerminal = (config: string) => {
    const t = ptys.spawn(
      process.execPath,
      [join(ROOT, "dist/src/cli/etc-lane.js"), "run", "--init", "--config", config],
      { cols: 200, rows: 50, cwd: dir, env: process.env as Record<string, string> },
    );
    term = t;
    const ended = new Promise<void>((resolve) => t.onExit(() => resolve()));
    return { t, ended, exited: ended.then(() => ({ code: null, signal: null })) };
  };

  it("a log rotation's kill -HUP reopens the log and the lane goes on; the terminal closing stops it in order", async () => {
    const logs = join(dir, "logs");
    mkdirSync(logs, { mode: 0o700 });
    const file = join(logs, "lane.log");
    const lane = runOnTerminal(configWithLogFile(file));
    await textInFile(file, '"lane controller running"', lane);
    // logrotate's postrotate, the terminal still there (tmux, screen, a window left open)
    renameSync(file, `${file}.1`);
    process.kill(lane.t.pid, "SIGHUP");
    await textInFile(file, "reopened (SIGHUP)", lane);
    // the terminal closes: its master end destroyed, the lane (its session leader) sent SIGHUP, and node-pty
    // sends one more, as a shell does to its jobs as it exits
    (lane.t as unknown as { destroy(): void }).destroy(); // node-pty's UnixTerminal (not in IPty's types)
    // the whole orderly close, to its last step: the exit status itself is not asserted, as Node 20 may end
    // the process with SIGABRT after that, resetting a terminal that is gone (docs/maintenance.md)
    await textInFile(file, '"msg":"journal closed"', { exited: new Promise(() => {}) });
    await lane.ended;
    const log = readFileSync(file, "utf8");
    expect(log).toContain("SIGHUP: the terminal this lane runs on is gone: stopping");
    expect(log).toContain('"msg":"stopping: ');
    expect(log).toContain('"msg":"audit trail closed"');
    expect(log.match(/reopened \(SIGHUP\)/g)).toHaveLength(1);
  }, 60_000);

  it("logging to stderr, the terminal closing: the lane stops and the process ends (lines to a stderr gone are dropped, not kept)", async () => {
    const config = writeLaneConfig({
      dir,
      rsuPort: "/dev/ttyUSB9",
      dataDir: join(dir, "data"),
      tariff: join(ROOT, "config/tariff.example.yaml"),
    });
    const lane = runOnTerminal(config);
    const out: string[] = [];
    const running = new Promise<void>((resolve) =>
      lane.t.onData((d) => {
        out.push(d);
        if (out.join("").includes('"lane controller running"')) resolve();
      }),
    );
    await Promise.race([running, lane.ended.then(() => Promise.reject(new Error(out.join(""))))]);
    (lane.t as unknown as { destroy(): void }).destroy();
    // ended, within the test's time: before, a stderr that failed kept every later line and pino's flush at
    // exit retried them for ever
    await lane.ended;
    // in order: its trail says the lane stopped (lane.stop is written by the orderly close, never by a death)
    const types = [...readTrail(auditDir(join(dir, "data")))].map((x) => x.entry.type);
    expect(types).toContain("lane.stop");
  }, 60_000);
});
