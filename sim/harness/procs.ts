/**
 * Process orchestration for system tests (test/reliability, ./station-outage.ts): the station simulator,
 * the simulated RSU and the lane controller each in their own process, started through their CLIs
 * (`etc-sim station`, `etc-sim rsu --pty`, `etc-lane run`), the lane and RSU talking over the pty the
 * simulator makes.
 *
 * The CLIs run from the compiled `dist/` (`npm run build`; `npm test` builds in pretest) so that a
 * restarted lane pays Node's start-up only, not a TypeScript transpile; with `ETC_HARNESS_TSX=1` they
 * run from the sources through tsx instead.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { ReceivedRecord, ReceivedStore } from "../station/received.js";
import { TEST_PUBLIC_KEY_PATH } from "../status-list/bundle-builder.js";

/** The package root (from the sources and from dist/: the test key lives in <root>/config/keys). */
export const ROOT = join(TEST_PUBLIC_KEY_PATH, "../../..");

const ENTRY = {
  "etc-lane": { dist: "dist/src/cli/etc-lane.js", src: "src/cli/etc-lane.ts" },
  "etc-sim": { dist: "dist/sim/cli/etc-sim.js", src: "sim/cli/etc-sim.ts" },
} as const;
export type Bin = keyof typeof ENTRY;

function argvFor(bin: Bin): string[] {
  const e = ENTRY[bin];
  if (process.env.ETC_HARNESS_TSX === "1") return ["--import", "tsx", join(ROOT, e.src)];
  const dist = join(ROOT, e.dist);
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`npm run build\` first`);
  return [dist];
}

export interface Line {
  /** Date.now() when the harness read the line */
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

/** A child process with its output split into lines, kept in memory, and waitable. */
export class Proc {
  readonly lines: Line[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly keep: (l: Line) => boolean = () => true,
  ) {
    for (const stream of ["stdout", "stderr"] as const) {
      let buf = "";
      child[stream]?.setEncoding("utf8");
      child[stream]?.on("data", (d: string) => {
        buf += d;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          this.onLine({ at: Date.now(), stream, text: buf.slice(0, nl) });
          buf = buf.slice(nl + 1);
        }
      });
    }
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  private onLine(l: Line): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.pred(l)) w.resolve(l);
      else this.waiters.push(w);
    }
    if (this.keep(l)) this.lines.push(l);
  }

  /** The first line (already seen or future) matching `pred`; fails on exit or after `timeoutMs`. */
  waitLine(pred: (l: Line) => boolean, timeoutMs: number, what = "a line"): Promise<Line> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.nextLine(pred, timeoutMs, what);
  }

  /** The next line from now on matching `pred`. */
  nextLine(pred: (l: Line) => boolean, timeoutMs: number, what = "a line"): Promise<Line> {
    return new Promise<Line>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; last output:\n${this.tail()}`));
      }, timeoutMs);
      const waiter = {
        pred,
        resolve: (l: Line) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(waiter);
      void this.exited.then((x) => {
        if (!this.waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${x.signal ?? x.code}) before ${what}:\n${this.tail()}`));
      });
    });
  }

  tail(n = 15): string {
    return this.lines
      .slice(-n)
      .map((l) => `  [${l.stream}] ${l.text}`)
      .join("\n");
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Writes `line` and a newline to the child's stdin (spawned with `stdin: true`). */
  writeLine(line: string): void {
    const stdin = this.child.stdin;
    if (!stdin) throw new Error(`${this.name}: spawned without a stdin pipe`);
    if (this.running) stdin.write(`${line}\n`);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.kill("SIGTERM");
    const t = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export function spawnCli(
  bin: Bin,
  args: string[],
  opts: { name?: string; env?: Record<string, string>; keep?: (l: Line) => boolean; stdin?: boolean } = {},
): Proc {
  const child = spawn(process.execPath, [...argvFor(bin), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"],
  });
  // a child that exits while a line is on its way to its stdin: EPIPE, nothing to report
  child.stdin?.on("error", () => {});
  return new Proc(opts.name ?? bin, child, opts.keep);
}

/** A port nobody listens on right now (the kernel's pick; a small race, fine on a test machine). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

// ---- the station ----------------------------------------------------------------------------------

/** A record as `GET /transactions` answers it (sim/station/received.ts), its `record` an object; the times left out. */
export type StationTxn = Omit<ReceivedRecord, "record" | "firstReceivedAt" | "lastReceivedAt"> & {
  record: Record<string, unknown>;
};

export interface StationProc {
  readonly proc: Proc;
  /** the lane's station.url */
  readonly url: string;
  readonly adminUrl: string;
  setFault(mode: "none" | "down" | "slow" | "500s" | "timeouts" | "reset" | "ack-lost"): Promise<void>;
  transactions(): Promise<StationTxn[]>;
  stats(): Promise<{ distinct: number; arrivals: number; duplicates: number; uploadRequests: number }>;
  /** per lane id, the journal seqs missing or received under two trade ids (sim/station/received.ts gaps) */
  gaps(): Promise<ReturnType<ReceivedStore["gaps"]>>;
  stop(): Promise<void>;
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  if (!r.ok) throw new Error(`${init?.method ?? "GET"} ${url}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** `etc-sim station --listen 127.0.0.1:0 --admin-listen 127.0.0.1:<free> --db FILE`. */
export async function startStation(opts: {
  db: string;
  statusListDir?: string;
  fault?: "none" | "down";
}): Promise<StationProc> {
  const adminPort = await freePort();
  const proc = spawnCli(
    "etc-sim",
    [
      "station",
      "--listen",
      "127.0.0.1:0",
      "--admin-listen",
      `127.0.0.1:${adminPort}`,
      "--db",
      opts.db,
      ...(opts.statusListDir ? ["--status-list-dir", opts.statusListDir] : []),
      ...(opts.fault ? ["--fault", opts.fault] : []),
    ],
    { name: "station", env: { ETC_LOG_LEVEL: "warn" } },
  );
  const first = await proc.waitLine((l) => /station simulator on /.test(l.text), 20_000, "listen line");
  const url = /on (http:\/\/\S+)/.exec(first.text)?.[1];
  if (!url) throw new Error(`station: cannot read its URL from "${first.text}"`);
  await proc.waitLine((l) => l.text.startsWith("admin on "), 20_000, "admin line");
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    proc,
    url,
    adminUrl,
    async setFault(mode) {
      await getJson(`${adminUrl}/admin/fault`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ mode }),
      });
    },
    async transactions() {
      return (await getJson<{ records: StationTxn[] }>(`${adminUrl}/transactions`)).records;
    },
    stats: () => getJson(`${adminUrl}/admin/stats`),
    gaps: () => getJson(`${adminUrl}/admin/gaps`),
    stop: () => proc.stop(),
  };
}

// ---- the simulated RSU ----------------------------------------------------------------------------

export interface RsuProc {
  readonly proc: Proc;
  /** the pty end the lane opens */
  readonly lanePath: string;
  /** Date.now() when the RSU announced its port (its frame log's t = 0 is a little earlier) */
  readonly startedAt: number;
  stop(): Promise<void>;
}

/** `etc-sim rsu --pty --protocol P --scenario F --seed N --ledger F --frame-log F [--heartbeat-s N]`. */
interface RsuSpawnOptions {
  scenario: string;
  seed: number;
  ledger: string;
  frameLog?: string;
  protocol?: "legacy" | "national";
  heartbeatS?: number;
  extra?: string[];
  /** a pipe to its stdin (Proc.writeLine): with --reader-pty, reader script steps */
  stdin?: boolean;
}

/** `etc-sim rsu --pty ...` (with `--reader-pty` when `reader`), up to its `lane-port:` line. */
async function spawnRsu(
  opts: RsuSpawnOptions,
  reader: boolean,
): Promise<{ proc: Proc; lanePath: string; startedAt: number }> {
  const proc = spawnCli(
    "etc-sim",
    [
      "rsu",
      "--pty",
      ...(reader ? ["--reader-pty"] : []),
      "--protocol",
      opts.protocol ?? "legacy",
      "--scenario",
      opts.scenario,
      "--seed",
      String(opts.seed),
      "--ledger",
      opts.ledger,
      ...(opts.frameLog ? ["--frame-log", opts.frameLog] : []),
      ...(opts.heartbeatS ? ["--heartbeat-s", String(opts.heartbeatS)] : []),
      ...(opts.extra ?? []),
    ],
    { name: reader ? "rsu+reader" : "rsu", ...(opts.stdin ? { stdin: true } : {}) },
  );
  const first = await proc.waitLine((l) => l.stream === "stdout", 20_000, "lane-port line");
  const m = /^lane-port: (\S+)$/.exec(first.text);
  if (!m) throw new Error(`rsu: expected "lane-port: /dev/pts/N" first, got "${first.text}"`);
  return { proc, lanePath: m[1] as string, startedAt: first.at };
}

export async function startRsu(opts: RsuSpawnOptions): Promise<RsuProc> {
  const { proc, lanePath, startedAt } = await spawnRsu(opts, false);
  return { proc, lanePath, startedAt, stop: () => proc.stop() };
}

export interface RsuReaderProc extends RsuProc {
  /** the pty end the lane opens as its reader port */
  readonly readerPath: string;
}

/**
 * `etc-sim rsu --pty --reader-pty ...`: the simulated RSU and the booth reader in one process, on one card
 * store (the ledger file has the debits of both paths). `extra` adds options (e.g. --collector).
 */
export async function startRsuWithReader(opts: Omit<RsuSpawnOptions, "frameLog">): Promise<RsuReaderProc> {
  const { proc, lanePath, startedAt } = await spawnRsu(opts, true);
  const second = await proc.waitLine((l) => l.text.startsWith("reader-port: "), 20_000, "reader-port line");
  return {
    proc,
    lanePath,
    readerPath: second.text.slice("reader-port: ".length).trim(),
    startedAt,
    stop: () => proc.stop(),
  };
}

// ---- the lane ------------------------------------------------------------------------------------

export interface LaneConfigSpec {
  dir: string;
  rsuPort: string;
  stationUrl?: string;
  dataDir: string;
  tariff: string;
  protocol?: "legacy" | "national";
  /** YAML lines appended under `transaction:` */
  transaction?: Record<string, number | string>;
  heartbeatPeriodMs?: number;
  /** the booth card reader's port (a `reader` section); `booth` lines go under `booth:` */
  readerPort?: string;
  booth?: Record<string, number | string>;
}

/** Writes `<dir>/lane.yaml` for exit lane 4301-0102-03 and returns its path. */
export function writeLaneConfig(s: LaneConfigSpec): string {
  const tx = Object.entries(s.transaction ?? {}).map(([k, v]) => `  ${k}: ${v}`);
  const yaml = [
    'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
    "rsu:",
    `  port: ${JSON.stringify(s.rsuPort)}`,
    `  protocol: ${s.protocol ?? "legacy"}`,
    "  timing:",
    `    heartbeatPeriodMs: ${s.heartbeatPeriodMs ?? 10_000}`,
    "    initTimeoutMs: 500",
    "    initRetryMs: 200",
    ...(s.stationUrl ? ["station:", `  url: ${JSON.stringify(s.stationUrl)}`] : []),
    "statusList:",
    `  publicKey: ${JSON.stringify(TEST_PUBLIC_KEY_PATH)}`,
    "  allowTestKey: true", // a lane against the simulators trusts the simulator's key
    `dataDir: ${JSON.stringify(s.dataDir)}`,
    `tariff: ${JSON.stringify(s.tariff)}`,
    ...(tx.length ? ["transaction:", ...tx] : []),
    ...(s.readerPort
      ? [
          "reader:",
          `  port: ${JSON.stringify(s.readerPort)}`,
          "  timeouts: { cardApduMs: 600, psamApduMs: 600, activateMs: 600, infoMs: 600 }",
          "  link: { pingIntervalMs: 1000, backoffInitialMs: 50, backoffMaxMs: 500 }",
        ]
      : []),
    ...(s.booth ? ["booth:", ...Object.entries(s.booth).map(([k, v]) => `  ${k}: ${v}`)] : []),
    "outputs: { sink: log }",
    // the status service on a free port: lanes of tests that run side by side never share 9641
    "service: { listen: 127.0.0.1:0 }",
    "log: { level: info }",
    "",
  ].join("\n");
  const path = join(s.dir, "lane.yaml");
  writeFileSync(path, yaml);
  return path;
}

/** A pino JSON line of the lane's log, or null. */
export function parseLogLine(text: string): Record<string, unknown> | null {
  if (!text.startsWith("{")) return null;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The lane's "lane status" log line with status open: `{ msg: "lane status", lane: { status: "open" } }`. */
export function isLaneOpenLine(l: Line): boolean {
  if (!l.text.includes('"lane status"')) return false;
  const j = parseLogLine(l.text);
  return (j?.lane as { status?: string } | undefined)?.status === "open";
}

export interface LaneProc {
  readonly proc: Proc;
  /** resolves with the lane's own log time (pino `time`, ms since epoch) of its first "lane open" */
  readonly opened: Promise<number>;
}

/**
 * `etc-lane run --config FILE`, with `--init` for the lane's first start (a data directory without a
 * journal: src/datadir/lane-start.ts). Keeps only log lines at warn and above, plus status changes.
 */
export function startLane(config: string, name = "lane", o: { init?: boolean } = {}): LaneProc {
  const proc = spawnCli("etc-lane", ["run", ...(o.init ? ["--init"] : []), "--config", config], {
    name,
    keep: (l) =>
      !l.text.startsWith("{") || /"level":(40|50|60)/.test(l.text) || l.text.includes('"lane status"'),
  });
  const opened = proc
    .waitLine(isLaneOpenLine, 30_000, "lane open")
    .then((l) => Number(parseLogLine(l.text)?.time ?? l.at));
  opened.catch(() => {});
  return { proc, opened };
}
