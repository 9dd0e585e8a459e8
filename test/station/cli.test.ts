/**
 * `etc-sim station` (sim/cli/commands/station.ts) as docs/station-api.md, "The station simulator", has it
 * used: with only the main listener, a "down" fault with durationMs comes back by itself. The process runs
 * until SIGINT or SIGTERM, listening or not: the timer that ends the fault keeps no process alive
 * (sim/station/station.ts setFault). Its --admin-listen address answers as the admin routes of the main
 * one do (sim/station/admin-routes.ts).
 */
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Proc, spawnCli } from "../../sim/harness/procs.js";
import { tempDir } from "../journal/helpers.js";

let proc: Proc | undefined;
afterEach(async () => {
  await proc?.stop();
  proc = undefined;
});

describe("etc-sim station", () => {
  it('with only the main listener, "down" with durationMs comes back on the same port; SIGTERM ends it', async () => {
    const p = spawnCli("etc-sim", ["station", "--listen", "127.0.0.1:0"], {
      name: "station",
      env: { ETC_LOG_LEVEL: "warn" },
    });
    proc = p;
    const first = await p.waitLine((l) => /station simulator on /.test(l.text), 20_000, "listen line");
    const url = /on (http:\/\/\S+)/.exec(first.text)?.[1] ?? "";
    const down = await fetch(`${url}/admin/fault`, {
      method: "POST",
      body: JSON.stringify({ mode: "down", durationMs: 300 }),
    });
    expect(await down.json()).toEqual({ mode: "down" });
    const mode = () =>
      fetch(`${url}/admin/fault`).then(
        (r) => r.json(),
        () => "refused",
      );
    await expect.poll(mode, { timeout: 20_000 }).toEqual({ mode: "none", slowMs: 3000 });
    expect(p.running).toBe(true);
    p.child.kill("SIGTERM");
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });
});

describe("etc-sim station --admin-listen", () => {
  it("answers as the main listener's admin routes: 400 naming the field, 405 with Allow, /api/* not served", async () => {
    // port 0 for both, the admin's read from its line: a port picked free beforehand could be the one the
    // main listener's port 0 is given first
    const p = spawnCli("etc-sim", ["station", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], {
      name: "station",
      env: { ETC_LOG_LEVEL: "warn" },
    });
    proc = p;
    const adminLine = await p.waitLine((l) => l.text.startsWith("admin on "), 20_000, "admin line");
    const admin = adminLine.text.slice("admin on ".length).trim();
    expect(admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const answer = async (path: string, init?: RequestInit) => {
      const res = await fetch(`${admin}${path}`, init);
      return { status: res.status, allow: res.headers.get("allow"), body: (await res.json()) as unknown };
    };
    const post = (body: string): RequestInit => ({ method: "POST", body });
    expect(await answer("/admin/fault", post('{"mode":"slow","slowMs":"abc"}'))).toEqual({
      status: 400,
      allow: null,
      body: {
        error: "BAD_REQUEST",
        message: 'slowMs: expected a whole number of milliseconds from 0 to 2147483647, got "abc"',
      },
    });
    expect(await answer("/admin/fault", { method: "PUT", body: "{}" })).toMatchObject({
      status: 405,
      allow: "GET, HEAD, POST",
    });
    expect(await answer("/admin/fault", post('{"mode":"500s"}'))).toMatchObject({
      status: 200,
      body: { mode: "500s" },
    });
    expect(await answer("/admin/fault?read")).toMatchObject({
      status: 200,
      body: { mode: "500s", slowMs: 3000 },
    });
    expect(await answer("/transactions")).toMatchObject({ status: 200, body: { count: 0, records: [] } });
    expect(await answer("/api/v1/status-list/manifest")).toMatchObject({
      status: 404,
      body: { error: "NOT_FOUND" },
    });
  });
});

describe("etc-sim station --admin-listen HOST:0", () => {
  it("prints the admin URL with the port it got", async () => {
    const p = spawnCli("etc-sim", ["station", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], {
      name: "station",
      env: { ETC_LOG_LEVEL: "warn" },
    });
    proc = p;
    const line = await p.waitLine((l) => l.text.startsWith("admin on "), 20_000, "admin line");
    const admin = line.text.slice("admin on ".length).trim();
    expect(admin).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const res = await fetch(`${admin}/admin/fault`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ mode: "none" });
  });
});

describe("etc-sim station --admin-listen on a port that is taken", () => {
  it("fails naming the option and the reason, exit 1, the station closed (the process ends)", async () => {
    const taken = await new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const port = (taken.address() as { port: number }).port;
      const p = spawnCli(
        "etc-sim",
        ["station", "--listen", "127.0.0.1:0", "--admin-listen", `127.0.0.1:${port}`],
        { name: "station", env: { ETC_LOG_LEVEL: "warn" } },
      );
      proc = p;
      expect(await p.exited).toEqual({ code: 1, signal: null });
      expect(p.lines.map((l) => l.text)).toContainEqual(
        expect.stringMatching(
          new RegExp(`--admin-listen 127\\.0\\.0\\.1:${port}: cannot listen \\(.*EADDRINUSE`),
        ),
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe("etc-sim station with an option out of its range", () => {
  it("--page-size and --slow-ms that are no whole number in range: a usage error naming the option, exit 1, no station", async () => {
    const cases: [string[], string][] = [
      // before: the station started, and its manifests (pageSize 1.5) were refused by every lane
      [
        ["--page-size", "1.5"],
        '--page-size: expected a whole number of bytes from 1 to 1073741824, got "1.5"',
      ],
      [["--page-size", "0"], '--page-size: expected a whole number of bytes from 1 to 1073741824, got "0"'],
      // before: startStation's RangeError, naming slowMs and not the option
      [
        ["--slow-ms", "1.5"],
        '--slow-ms: expected a whole number of milliseconds from 0 to 2147483647, got "1.5"',
      ],
      [
        ["--slow-ms", "3000000000"],
        '--slow-ms: expected a whole number of milliseconds from 0 to 2147483647, got "3000000000"',
      ],
    ];
    for (const [args, message] of cases) {
      const { end, lines } = await stationStart(args);
      expect(end, args.join(" ")).toEqual({ code: 1, signal: null });
      expect(lines).toContain(`etc-sim: ${message}`);
    }
  });
});

/** The process's exit status, once its stdout and stderr are read to their end (the child's "close"). */
function ended(p: Proc): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => p.child.once("close", (code, signal) => resolve({ code, signal })));
}

/**
 * `etc-sim station --listen 127.0.0.1:0 ARGS`, for a start that should be refused: whichever comes first,
 * the process's exit status (ended) or "listening" once the station listens; and the lines it wrote. The
 * listen line's wait fails on the process's "exit", before its "close": that failure is no answer.
 */
async function stationStart(args: string[]): Promise<{ end: unknown; lines: string[] }> {
  const p = spawnCli("etc-sim", ["station", "--listen", "127.0.0.1:0", ...args], {
    name: "station",
    env: { ETC_LOG_LEVEL: "warn" },
  });
  proc = p;
  const listening = p
    .waitLine((l) => /station simulator on /.test(l.text), 20_000, "listen line")
    .then(
      () => "listening",
      () => new Promise<never>(() => {}),
    );
  const end = await Promise.race([ended(p), listening]);
  return { end, lines: p.lines.map((l) => l.text) };
}

// review: a missing --status-list-dir (or a file) was taken without a word, every manifest then empty
describe("etc-sim station --status-list-dir that cannot be read as a directory", () => {
  it("a missing directory, or a file: exit 1 naming the option and why, no station", async () => {
    const t = tempDir("etc-station-cli-");
    try {
      const file = join(t.dir, "lists.txt");
      writeFileSync(file, "not a directory");
      const missing = join(t.dir, "no-such-dir");
      for (const [dir, why] of [
        [missing, "ENOENT"],
        [file, "ENOTDIR"],
      ] as const) {
        const { end, lines } = await stationStart(["--status-list-dir", dir]);
        expect(end, why).toEqual({ code: 1, signal: null });
        expect(lines).toContainEqual(
          expect.stringMatching(
            new RegExp(`^etc-sim: --status-list-dir ${dir}: cannot read it as a directory \\(${why}: `),
          ),
        );
      }
    } finally {
      t.cleanup();
    }
  });
});

// newuser finding 2: a --db that cannot be opened said better-sqlite3's bare reason, naming neither option nor file
describe("etc-sim station --db that cannot be opened as a database", () => {
  it("a missing directory, a file that is no database, a directory: exit 1 naming --db, the file and why", async () => {
    const t = tempDir("etc-station-cli-");
    try {
      const notDb = join(t.dir, "notdb.txt");
      writeFileSync(notDb, "not a database, but long enough for SQLite to read a header from it ".repeat(4));
      for (const [file, why] of [
        [join(t.dir, "no-such-dir", "x.db"), "Cannot open database because the directory does not exist"],
        [notDb, "file is not a database"],
        [t.dir, "unable to open database file"],
      ] as const) {
        const { end, lines } = await stationStart(["--db", file]);
        expect(end, file).toEqual({ code: 1, signal: null });
        expect(lines).toContainEqual(
          `etc-sim: --db ${file}: cannot open it as the station's SQLite database (${why})`,
        );
      }
    } finally {
      t.cleanup();
    }
  });
});

// review: --listen on a taken port said `listen EADDRINUSE: ...` without naming the option
describe("etc-sim station --listen on a port that is taken", () => {
  it("fails naming --listen, its value and the reason, as --admin-listen does; exit 1", async () => {
    const taken = await new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const port = (taken.address() as { port: number }).port;
      const p = spawnCli("etc-sim", ["station", "--listen", `127.0.0.1:${port}`], {
        name: "station",
        env: { ETC_LOG_LEVEL: "warn" },
      });
      proc = p;
      expect(await ended(p)).toEqual({ code: 1, signal: null });
      expect(p.lines.map((l) => l.text)).toContainEqual(
        expect.stringMatching(
          new RegExp(`^etc-sim: --listen 127\\.0\\.0\\.1:${port}: cannot listen \\(.*EADDRINUSE`),
        ),
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

// review: the refusal of `--fault bogus` listed record-500, which --fault then refuses
describe("etc-sim station --fault", () => {
  const accepted = "none, down, slow, 500s, timeouts, reset, ack-lost";

  it("an unknown mode: the refusal lists the modes --fault takes, as --help does", async () => {
    const p = spawnCli("etc-sim", ["station", "--listen", "127.0.0.1:0", "--fault", "bogus"], {
      name: "station",
      env: { ETC_LOG_LEVEL: "warn" },
    });
    proc = p;
    expect(await ended(p)).toEqual({ code: 1, signal: null });
    expect(p.lines.map((l) => l.text)).toContain(
      `etc-sim: --fault: expected one of ${accepted} (record-500 at run time), got "bogus"`,
    );
    const help = spawnCli("etc-sim", ["station", "--help"], { name: "help" });
    proc = help;
    expect(await ended(help)).toEqual({ code: 0, signal: null });
    // commander wraps the descriptions: read as one line
    const text = help.lines.map((l) => l.text.trim()).join(" ");
    expect(text).toContain(`start in this fault mode: ${accepted} (record-500 at run time)`);
  });

  it("each mode the refusal lists starts the station", async () => {
    for (const mode of accepted.split(", ")) {
      const p = spawnCli("etc-sim", ["station", "--listen", "127.0.0.1:0", "--fault", mode], {
        name: "station",
        env: { ETC_LOG_LEVEL: "warn" },
      });
      proc = p;
      const line = await p.waitLine((l) => /station simulator on /.test(l.text), 20_000, "listen line");
      expect(line.text, mode).toMatch(new RegExp(`\\(fault: ${mode}\\)$`));
      await p.stop();
      proc = undefined;
    }
  });
});
