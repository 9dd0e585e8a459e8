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
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { callLane } from "../../src/service/control/client.js";
import { STOPPING, startControlServer } from "../../src/service/control/server.js";
import type { OperatorResult } from "../../src/service/lane-view.js";
import { auditedOperator, auditRefusedRequest } from "../../src/service/operator-audit.js";
import { FakeLane, FakeOperator } from "./fake-lane.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-ctl-close-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

/** The lane's trail as the operator sees it: it refuses entries once the lane has closed it (E624). */
class ClosingAudit {
  readonly types: string[] = [];
  closed = false;
  append(e: { type: string }): unknown {
    if (this.closed) throw new Error("E624 audit trail is closed");
    this.types.push(e.type);
    return e;
  }
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

async function start() {
  const lane = new FakeLane();
  const operator = new SlowImport(lane);
  const audit = new ClosingAudit();
  const path = join(dir, "control.sock");
  const server = await startControlServer({
    path,
    view: lane,
    operator: auditedOperator(operator, audit),
    onRefused: (r) => auditRefusedRequest(audit, r),
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
