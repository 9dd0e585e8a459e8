/**
 * The control socket when the lane stops (src/service/control/server.ts close()): an action it had taken
 * runs to its end, is answered and recorded before close() resolves (the lane closes its trail right
 * after), a request that arrives meanwhile is refused and recorded, and a record that cannot be written
 * is logged at error level (src/service/operator-audit.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { callLane } from "../../src/service/control/client.js";
import { CUT_SHORT, STOP_WAIT_MS, STOPPING, startControlServer } from "../../src/service/control/server.js";
import type { OperatorResult } from "../../src/service/lane-view.js";
import { auditCutShort, auditedOperator, auditRefusedRequest } from "../../src/service/operator-audit.js";
import { FakeLane, FakeOperator } from "./fake-lane.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-ctl-close-"));
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

/** The lane's trail as the operator sees it: it refuses entries once the lane has closed it (E624). */
class ClosingAudit {
  readonly types: string[] = [];
  readonly entries: { type: string; severity: string; message: string; data?: unknown }[] = [];
  closed = false;
  append(e: { type: string; severity: string; message: string; data?: unknown }): unknown {
    if (this.closed) throw new Error("E624 audit trail is closed");
    this.types.push(e.type);
    this.entries.push(e);
    return e;
  }
}

/** A logger that keeps what it is given at info, warn and error; `errorLogged` once it logs at error. */
function recordingLogger(): {
  logger: Logger;
  lines: { level: string; obj: unknown; msg: string | undefined }[];
  errorLogged: Promise<void>;
} {
  const lines: { level: string; obj: unknown; msg: string | undefined }[] = [];
  let logged!: () => void;
  const errorLogged = new Promise<void>((r) => {
    logged = r;
  });
  const logger: Logger = {
    ...silentLogger,
    info: (obj, msg) => lines.push({ level: "info", obj, msg }),
    warn: (obj, msg) => lines.push({ level: "warn", obj, msg }),
    error: (obj, msg) => {
      lines.push({ level: "error", obj, msg });
      logged();
    },
    child: () => logger,
  };
  return { logger, lines, errorLogged };
}

/** A FakeOperator whose import waits until the test releases it. */
class SlowImport extends FakeOperator {
  release!: (r: OperatorResult) => void;
  readonly started: Promise<void>;
  private markStarted!: () => void;
  constructor(lane: FakeLane) {
    super(lane);
    this.started = new Promise((r) => {
      this.markStarted = r;
    });
  }
  override importStatusList(): Promise<OperatorResult> {
    this.markStarted();
    return new Promise((r) => {
      this.release = r;
    });
  }
}

async function start(logger: Logger = silentLogger) {
  const lane = new FakeLane();
  const operator = new SlowImport(lane);
  const audit = new ClosingAudit();
  const path = join(dir, "control.sock");
  const server = await startControlServer({
    path,
    view: lane,
    operator: auditedOperator(operator, audit, logger),
    onRefused: (r) => auditRefusedRequest(audit, r),
    onCutShort: (r) => auditCutShort(audit, r),
    logger,
  });
  return { operator, audit, path, server };
}

function connected(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/** Writes one request line on `s`; its answer line. */
function ask(s: Socket, req: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buf = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    s.once("close", () => reject(new Error("closed without an answer")));
    s.write(`${JSON.stringify(req)}\n`);
  });
}

describe("control socket close", () => {
  it("waits for an action it had taken: the client gets its answer and the record is written before close() resolves", async () => {
    const { operator, audit, path, server } = await start();
    const call = callLane(path, { action: "status-list.import", file: "/tmp/full.bundle" }).catch(
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    await operator.started;
    let typesAtClose: string[] | null = null;
    const closed = server.close().then(() => {
      typesAtClose = [...audit.types];
      // what `etc-lane run` does next: the lane closes, its trail first (src/lane/runtime.ts)
      audit.closed = true;
    });
    operator.release({ ok: true, message: "full 202611260800 applied" });
    await closed;
    expect(typesAtClose).toEqual(["operator.status-list.import"]);
    expect(await call).toMatchObject({ kind: "result", ok: true, message: "full 202611260800 applied" });
  });

  it("refuses a request that arrives while it waits, and records it as not run", async () => {
    const { operator, audit, path, server } = await start();
    const importing = callLane(path, { action: "status-list.import", file: "/tmp/full.bundle" });
    await operator.started;
    const late = await connected(path);
    const closed = server.close();
    const user = { name: "wang", uid: 1000, pid: 4711 };
    const answer = await ask(late, { v: 1, action: "lane.close", reason: "barrier maintenance", user });
    expect(answer).toEqual({ kind: "error", code: "STOPPING", message: STOPPING });
    expect(operator.calls).toEqual([]);
    operator.release({ ok: true, message: "applied" });
    await closed;
    expect(audit.types).toEqual(["operator.lane.close", "operator.status-list.import"]);
    expect(await importing).toMatchObject({ kind: "result", ok: true });
  });

  // second review: the wait had no limit, and the lane traded on while an import or a retention run went on
  it("waits at most STOP_WAIT_MS, saying for what; an action still running then is logged and recorded as cut short", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { logger, lines, errorLogged } = recordingLogger();
    const { operator, audit, path, server } = await start(logger);
    const user = { name: "wang", uid: 1000, pid: 4711 };
    const client = await connected(path);
    client.on("error", () => undefined);
    const importing = ask(client, {
      v: 1,
      action: "status-list.import",
      file: "/tmp/full.bundle",
      user,
    }).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    await operator.started;
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    expect(lines.filter((l) => l.level === "info" && l.msg?.startsWith("stopping:"))).toEqual([
      {
        level: "info",
        obj: { actions: [{ action: "status-list.import", user: "wang", pid: 4711 }] },
        msg: "stopping: waiting for 1 operator action(s) to end, at most 30 s: status-list.import by wang",
      },
    ]);
    await vi.advanceTimersByTimeAsync(STOP_WAIT_MS - 1);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(audit.entries).toEqual([
      {
        type: "operator.status-list.import",
        severity: "warn",
        message: `wang (uid 1000) asked to import a status-list bundle: ${CUT_SHORT}`,
        data: {
          action: "status-list.import",
          user: "wang",
          uid: 1000,
          pid: 4711,
          via: "socket",
          ok: false,
          result: CUT_SHORT,
        },
      },
    ]);
    expect(lines.filter((l) => l.level === "warn")).toEqual([
      {
        level: "warn",
        obj: { action: "status-list.import", user: "wang", pid: 4711 },
        msg: `control request ${CUT_SHORT}`,
      },
    ]);
    // the client's connection is dropped; the lane closes its trail, then the import ends: its own record
    // cannot be written, which is logged at error
    expect(await importing).toBe("closed without an answer");
    audit.closed = true;
    operator.release({ ok: true, message: "full 202611260800 applied" });
    await errorLogged;
    expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "operator action's audit record NOT written (import a status-list bundle)",
    ]);
  });
});

describe("auditedOperator", () => {
  it("logs at error level an action whose record cannot be written, besides the answer saying so", async () => {
    const errors: { obj: object | string; msg: string | undefined }[] = [];
    const logger: Logger = {
      ...silentLogger,
      error: (obj, msg) => errors.push({ obj, msg }),
      child: () => logger,
    };
    const audit = new ClosingAudit();
    audit.closed = true;
    const op = auditedOperator(new FakeOperator(new FakeLane()), audit, logger);
    const r = await op.runRetention({ name: "wang", uid: 1000, pid: 4711, via: "socket" });
    expect(r).toMatchObject({
      ok: false,
      message: expect.stringMatching(/; but the audit record was NOT written: E624 audit trail is closed$/),
    });
    expect(errors).toEqual([
      {
        obj: expect.objectContaining({
          err: "E624 audit trail is closed",
          action: "journal.retention",
          user: "wang",
          ok: true,
        }),
        msg: "operator action's audit record NOT written (run retention now)",
      },
    ]);
  });
});
