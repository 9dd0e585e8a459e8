import { spawn } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createConnection, createServer, Socket } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { BoothCaseLine, BoothOperator } from "../../src/service/control/booth-actions.js";
import {
  callLane,
  currentUser,
  LaneNotConnected,
  LaneNotRunning,
  LaneTimeout,
} from "../../src/service/control/client.js";
import { MAX_ANSWER_LINE } from "../../src/service/control/protocol.js";
import {
  ABANDONED,
  ANSWER_GRACE_MS,
  BUSY,
  type ControlServerOptions,
  MAX_CONTROL_CONNECTIONS,
  REQUEST_LINE_TIMEOUT_MS,
  startControlServer,
  UNREAD_ANSWER_MS,
} from "../../src/service/control/server.js";
import type { OperatorResult } from "../../src/service/lane-view.js";
import { auditedOperator, auditRefusedRequest } from "../../src/service/operator-audit.js";
import { FakeLane, FakeOperator, MemoryAudit } from "./fake-lane.js";

let dir: string;
let closers: (() => Promise<void>)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-ctl-"));
});
afterEach(async () => {
  vi.useRealTimers();
  for (const c of closers) await c();
  closers = [];
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

async function start(booth?: BoothOperator, more: Partial<ControlServerOptions> = {}) {
  const lane = new FakeLane();
  const operator = new FakeOperator(lane);
  const audit = new MemoryAudit();
  const path = join(dir, "control.sock");
  const server = await startControlServer({
    path,
    view: lane,
    operator: auditedOperator(operator, audit),
    onRefused: (r) => auditRefusedRequest(audit, r),
    ...(booth ? { booth } : {}),
    ...more,
  });
  closers.push(() => server.close());
  return { lane, operator, audit, path };
}

describe("control socket", () => {
  it("is a socket of mode 0600 in the data directory", async () => {
    const { path } = await start();
    const st = statSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it("never sets the process umask (other code relies on it meanwhile), yet its socket is 0600 under a permissive umask", async () => {
    const before = process.umask(0o000);
    const umask = vi.spyOn(process, "umask");
    try {
      const { path } = await start();
      expect(umask.mock.calls.filter((c) => c.length > 0)).toEqual([]);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      // the private directory it was bound in is gone
      expect(readdirSync(dir)).toEqual(["control.sock"]);
      await closers.pop()?.();
      expect(existsSync(path)).toBe(false);
    } finally {
      umask.mockRestore();
      process.umask(before);
    }
  });

  it("carries each operator action to the lane, and each becomes one audit record naming the action and the user", async () => {
    const { operator, audit, lane, path } = await start();
    const me = userInfo();
    const progress: string[] = [];
    const results = [
      await callLane(path, { action: "lane.close", reason: "barrier maintenance" }),
      await callLane(path, { action: "lane.open" }),
      await callLane(path, { action: "status-list.import", file: "/tmp/delta.bundle" }, (p) =>
        progress.push(`${p.phase} ${p.done}/${p.total}`),
      ),
      await callLane(path, { action: "journal.requeue-held" }),
      await callLane(path, { action: "journal.retention" }),
    ];
    expect(results.map((r) => r.kind === "result" && r.ok)).toEqual([true, true, true, true, true]);
    expect(progress).toEqual(["verify 1/2", "apply 2/2"]);
    expect(operator.calls.map((c) => c.action)).toEqual([
      "lane.close",
      "lane.open",
      "status-list.import",
      "journal.requeue-held",
      "journal.retention",
    ]);
    expect(operator.calls[0]?.args).toEqual({ reason: "barrier maintenance" });
    for (const c of operator.calls)
      expect(c.user).toEqual({ name: me.username, uid: me.uid, pid: process.pid, via: "socket" });
    expect(audit.entries.map((e) => e.type)).toEqual([
      "operator.lane.close",
      "operator.lane.open",
      "operator.status-list.import",
      "operator.journal.requeue-held",
      "operator.journal.retention",
    ]);
    expect(audit.entries[0]).toMatchObject({
      severity: "warn",
      data: {
        action: "lane.close",
        user: me.username,
        uid: me.uid,
        via: "socket",
        reason: "barrier maintenance",
        ok: true,
      },
    });
    expect(audit.entries[0]?.message).toContain(`${me.username} (uid ${me.uid}) asked to close the lane`);
    expect(audit.entries[2]?.data).toMatchObject({
      file: "/tmp/delta.bundle",
      details: { version: "202611260800" },
    });
    expect(lane.snapshot().state.status).toBe("open");
  });

  it("carries a settlement by hand with its proof, recorded as a warning; refuses a field that is not proof", async () => {
    const { operator, audit, path } = await start();
    const ok = await callLane(path, {
      action: "journal.settle",
      seq: 12,
      verdict: "debited",
      reason: "ticket 4711",
      proof: { tac: "12ab34cd", psamTransSerial: "00000107" },
    });
    expect(ok).toMatchObject({ kind: "result", ok: true });
    expect(operator.calls.at(-1)?.args).toEqual({
      seq: 12,
      verdict: "debited",
      reason: "ticket 4711",
      proof: { tac: "12ab34cd", psamTransSerial: "00000107" },
    });
    expect(audit.entries.at(-1)).toMatchObject({
      type: "operator.journal.settle",
      severity: "warn",
      data: { seq: 12, verdict: "debited", reason: "ticket 4711", proof: { tac: "12ab34cd" }, ok: true },
    });
    const calls = operator.calls.length;
    const bad = await callLane(path, {
      action: "journal.settle",
      seq: 12,
      verdict: "debited",
      reason: "x",
      proof: { amount: "100" },
    } as never);
    expect(bad).toMatchObject({ kind: "error" });
    expect(operator.calls.length).toBe(calls);
  });

  it("under sudo -u, names the login sudo reports (SUDO_USER) beside the user it runs as", async () => {
    const { operator, audit, path } = await start();
    const me = userInfo();
    vi.stubEnv("SUDO_USER", "wang");
    try {
      expect(currentUser()).toEqual({ name: me.username, uid: me.uid, pid: process.pid, sudoUser: "wang" });
      // not when it names the user itself, nor when sudo did not run it
      expect(currentUser({ SUDO_USER: me.username })).toEqual({
        name: me.username,
        uid: me.uid,
        pid: process.pid,
      });
      expect(currentUser({})).toEqual({ name: me.username, uid: me.uid, pid: process.pid });
      await callLane(path, { action: "lane.close", reason: "barrier maintenance" });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(operator.calls[0]?.user).toMatchObject({ name: me.username, sudoUser: "wang", via: "socket" });
    expect(audit.entries[0]).toMatchObject({
      type: "operator.lane.close",
      data: { user: me.username, uid: me.uid, sudoUser: "wang", via: "socket", ok: true },
    });
    expect(audit.entries[0]?.message).toContain(
      `${me.username} (uid ${me.uid}, sudo by wang) asked to close the lane`,
    );
  });

  it("records a failed action as failed, with the error, and answers ok: false", async () => {
    const { operator, audit, path } = await start();
    operator.fail = new Error("journal is read-only");
    const r = await callLane(path, { action: "journal.requeue-held" });
    expect(r).toMatchObject({ kind: "result", ok: false });
    expect(r.kind === "result" && r.message).toContain("journal is read-only");
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({
      type: "operator.journal.requeue-held",
      severity: "warn",
      data: { ok: false },
    });
  });

  it("answers the status snapshot for etc-lane status", async () => {
    const { path, lane } = await start();
    lane.pass();
    const r = await callLane(path, { action: "status" });
    expect(r.kind).toBe("result");
    const snap = (r as unknown as { data: { snapshot: { lastTransactions: unknown[] } } }).data.snapshot;
    expect(snap.lastTransactions).toHaveLength(1);
  });

  it("carries a booth queue of 1000 cases (booth.queueMax's most) in status and booth.list", async () => {
    const line = (i: number): BoothCaseLine => ({
      id: `s${i}`,
      kind: "suspect-debit",
      reason: "B5_MISSING",
      detail: "扣款结果未知，请核实",
      openedAt: 1796322633055,
      openedAtLocal: "2026-11-26T08:15:02.123+08:00",
      obuId: "32538765",
      cardId: "43014301220000000001",
      plate: "湘G00006",
      seq: i,
      status: "waiting",
      vehicleClass: 1,
    });
    const cases = Array.from({ length: 1000 }, (_, i) => line(i + 1));
    const booth: BoothOperator = {
      cases: () => cases,
      take: async () => ({ ok: true, message: "" }),
      cancel: async () => ({ ok: true, message: "" }),
    };
    const { path, lane } = await start(booth);
    const base = lane.state.booth.cases[0]!;
    lane.state = {
      ...lane.state,
      booth: {
        ...lane.state.booth,
        cases: Array.from({ length: 1000 }, (_, i) => ({ ...base, id: `s${i + 1}`, seq: i + 1 })),
      },
    };
    const listed = await callLane(path, { action: "booth.list" });
    expect(listed).toMatchObject({ kind: "result", ok: true, message: "1000 booth case(s)" });
    expect((listed as unknown as { data: { cases: BoothCaseLine[] } }).data.cases).toEqual(cases);
    const status = await callLane(path, { action: "status" });
    const snap = (status as unknown as { data: { snapshot: typeof lane.state } }).data.snapshot;
    expect(snap.booth.cases.map((c) => c.id)).toEqual(cases.map((c) => c.id));
  });

  it("refuses an answer line over MAX_ANSWER_LINE bytes (the client's memory stays bounded)", async () => {
    // one case whose detail alone is over the limit: in bytes, 3 per character here
    const huge: BoothCaseLine = {
      id: "s1",
      kind: "suspect-debit",
      reason: "B5_MISSING",
      detail: "扣".repeat(Math.ceil(MAX_ANSWER_LINE / 3) + 1),
      openedAt: 0,
      openedAtLocal: "",
      obuId: null,
      cardId: null,
      plate: null,
      seq: 1,
      status: "waiting",
      vehicleClass: null,
    };
    const { path } = await start({
      cases: () => [huge],
      take: async () => ({ ok: true, message: "" }),
      cancel: async () => ({ ok: true, message: "" }),
    });
    await expect(callLane(path, { action: "booth.list" })).rejects.toThrow(
      `answer line too long (over ${MAX_ANSWER_LINE} bytes)`,
    );
  });

  it("refuses a malformed request without acting", async () => {
    const { operator, audit, path } = await start();
    const answer = await new Promise<string>((resolve) => {
      const s = createConnection(path);
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
      });
      s.on("close", () => resolve(out));
      s.write(`${JSON.stringify({ v: 1, action: "lane.close", user: { name: "x", uid: 1, pid: 1 } })}\n`);
    });
    expect(JSON.parse(answer)).toMatchObject({ kind: "error", code: "BAD_REQUEST" });
    expect(answer).toContain("reason");
    expect(operator.calls).toHaveLength(0);
    // refused before any action, and recorded as refused, naming the action and the user it gave
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({
      type: "operator.lane.close",
      severity: "warn",
      data: { action: "lane.close", user: "x", uid: 1, pid: 1, via: "socket", ok: false },
    });
    expect(String((audit.entries[0]!.data as { result: string }).result)).toMatch(/^bad request: reason/);
  });

  it("records a booth take or cancel refused for want of a booth (a list only reads)", async () => {
    const { audit, path } = await start(); // no booth
    expect(await callLane(path, { action: "booth.take" })).toMatchObject({ kind: "result", ok: false });
    expect(await callLane(path, { action: "booth.list" })).toMatchObject({ kind: "result", ok: false });
    expect(await callLane(path, { action: "booth.cancel", reason: "gone" })).toMatchObject({ ok: false });
    expect(audit.entries.map((e) => [e.type, (e.data as { result: string }).result])).toEqual([
      ["operator.booth.take", "this lane has no booth (no `reader` section in its config)"],
      ["operator.booth.cancel", "this lane has no booth (no `reader` section in its config)"],
    ]);
  });

  it("records every refused request: a bad argument, an unknown action, not JSON", async () => {
    const { operator, audit, path } = await start();
    const send = (line: string) =>
      new Promise<string>((resolve) => {
        const s = createConnection(path);
        let out = "";
        s.on("data", (d) => {
          out += d.toString();
        });
        s.on("close", () => resolve(out));
        s.write(`${line}\n`);
      });
    const user = { name: "wang", uid: 1000, pid: 42 };
    await send(
      JSON.stringify({ v: 1, action: "lane.close", user, reason: "x".repeat(70_000).slice(0, 600) }),
    );
    await send(JSON.stringify({ v: 1, action: "lane.explode", user }));
    await send("{ not json");
    // a relative bundle path would be read from the lane's working directory, not the caller's
    await send(JSON.stringify({ v: 1, action: "status-list.import", user, file: "delta.bundle" }));
    expect(operator.calls).toHaveLength(0);
    expect(audit.entries.map((e) => [e.type, (e.data as { ok: boolean }).ok])).toEqual([
      ["operator.lane.close", false],
      ["operator.lane.explode", false],
      ["operator.bad-request", false],
      ["operator.status-list.import", false],
    ]);
    expect(audit.entries[2]).toMatchObject({
      message: "an unnamed client sent a request the lane refused: bad request: not JSON",
      data: { action: null, result: "bad request: not JSON" },
    });
  });

  it("records a request refused for being too long, naming the action and user its start gave", async () => {
    const { operator, audit, path } = await start();
    const user = { name: "zhao", uid: 1002, pid: 7 };
    const answer = await new Promise<string>((resolve) => {
      const s = createConnection(path);
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
      });
      s.on("error", () => undefined);
      s.on("close", () => resolve(out));
      // no newline: the lane refuses once it has more than a line's worth
      s.write(JSON.stringify({ v: 1, action: "lane.close", user, reason: "x".repeat(70_000) }));
    });
    expect(JSON.parse(answer)).toMatchObject({ kind: "error", code: "TOO_LONG" });
    expect(operator.calls).toHaveLength(0);
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({
      type: "operator.lane.close",
      data: {
        ok: false,
        user: "zhao",
        result: "request line too long (over 65536 bytes)",
      },
    });
  });

  it("counts a request line's limit in bytes, also when the line's newline has come with it", async () => {
    const { operator, audit, path } = await start();
    const user = { name: "zhao", uid: 1002, pid: 7 };
    // 30,000 characters, 90,000 bytes in UTF-8, sent whole with its newline
    const line = JSON.stringify({ v: 1, action: "lane.close", user, reason: "修".repeat(30_000) });
    const answer = await new Promise<string>((resolve) => {
      const s = createConnection(path);
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
      });
      s.on("error", () => undefined);
      s.on("close", () => resolve(out));
      s.write(`${line}\n`);
    });
    expect(JSON.parse(answer)).toMatchObject({ kind: "error", code: "TOO_LONG" });
    expect(operator.calls).toHaveLength(0);
    expect(audit.entries.map((e) => [e.type, (e.data as { result: string }).result])).toEqual([
      ["operator.lane.close", "request line too long (over 65536 bytes)"],
    ]);
  });

  // review: a client that sent nothing, or a line without its newline, held its connection until the lane
  // stopped, and nothing said so
  describe("a connection that does not send its request line within REQUEST_LINE_TIMEOUT_MS", () => {
    /** Runs once the lane's side has polled its sockets again (accepted a connection, read what was sent). */
    const afterLanePoll = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));

    /** A connection that writes `sent` (no newline), and what it is answered until the lane closes it. */
    async function connectSending(path: string, sent: string) {
      const s = createConnection(path);
      s.on("error", () => undefined);
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
      });
      const closed = new Promise<string>((resolve) => s.on("close", () => resolve(out)));
      await once(s, "connect");
      if (sent !== "") await new Promise<void>((resolve) => s.write(sent, () => resolve()));
      await afterLanePoll();
      return { closed, answered: () => out };
    }

    it("one that sends nothing is answered TOO_SLOW and closed, after the limit and not before; nothing recorded", async () => {
      expect(REQUEST_LINE_TIMEOUT_MS).toBe(10_000);
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { operator, audit, path } = await start();
      const c = await connectSending(path, "");
      vi.advanceTimersByTime(REQUEST_LINE_TIMEOUT_MS - 1);
      await afterLanePoll();
      expect(c.answered()).toBe("");
      vi.advanceTimersByTime(1);
      expect(JSON.parse(await c.closed)).toEqual({
        kind: "error",
        code: "TOO_SLOW",
        message: "no request line within 10 s",
      });
      expect(operator.calls).toEqual([]);
      expect(audit.entries).toEqual([]);
    });

    it("one that sends part of a line is answered TOO_SLOW, recorded like a refused request naming its action and user", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { operator, audit, path } = await start(undefined, { requestLineTimeoutMs: 2000 });
      const user = { name: "zhao", uid: 1002, pid: 7 };
      // the whole request, but not its newline
      const c = await connectSending(
        path,
        JSON.stringify({ v: 1, action: "lane.close", user, reason: "barrier maintenance" }),
      );
      vi.advanceTimersByTime(2000);
      expect(JSON.parse(await c.closed)).toMatchObject({
        kind: "error",
        code: "TOO_SLOW",
        message: "no request line within 2 s",
      });
      expect(operator.calls).toEqual([]);
      expect(audit.entries).toHaveLength(1);
      expect(audit.entries[0]).toMatchObject({
        type: "operator.lane.close",
        data: { ok: false, user: "zhao", result: "no request line within 2 s" },
      });
    });

    it("a line in within the limit is served: the limit does not cut an action that runs past it", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const lane = new FakeLane();
      let release!: (r: OperatorResult) => void;
      let markStarted!: () => void;
      const started = new Promise<void>((r) => {
        markStarted = r;
      });
      const operator = new (class extends FakeOperator {
        override closeLane(): Promise<OperatorResult> {
          markStarted();
          return new Promise((r) => {
            release = r;
          });
        }
      })(lane);
      const path = join(dir, "control.sock");
      const server = await startControlServer({ path, view: lane, operator, requestLineTimeoutMs: 2000 });
      closers.push(() => server.close());
      const user = { name: "zhao", uid: 1002, pid: 7 };
      const c = await connectSending(
        path,
        `${JSON.stringify({ v: 1, action: "lane.close", user, reason: "barrier maintenance" })}\n`,
      );
      await started;
      vi.advanceTimersByTime(2000);
      await afterLanePoll();
      expect(c.answered()).toBe("");
      release({ ok: true, message: "lane closed" });
      expect(JSON.parse(await c.closed)).toEqual({ kind: "result", ok: true, message: "lane closed" });
    });
  });

  it("answers BUSY, without reading the request, past MAX_CONTROL_CONNECTIONS connections open at once", async () => {
    expect(MAX_CONTROL_CONNECTIONS).toBe(64);
    const { operator, audit, path } = await start(undefined, { maxConnections: 2 });
    const open: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = createConnection(path);
      s.on("error", () => undefined);
      await once(s, "connect");
      open.push(s);
    }
    // connections are accepted in the order they were made: the two above are open when this one comes
    expect(await callLane(path, { action: "lane.close", reason: "barrier maintenance" })).toEqual({
      kind: "error",
      code: "BUSY",
      message: BUSY,
    });
    expect(operator.calls).toEqual([]);
    expect(audit.entries).toEqual([]);
    for (const s of open) s.destroy();
  });

  // second-round review: an answered connection kept its place until its client closed it, so clients that
  // never close (a leaking script, `nc -U` left open) made every later connection BUSY until the lane stopped
  describe("clients that never close their side after the lane's answer", () => {
    /** Runs once the lane's side has polled its sockets again (accepted a connection, read what was sent). */
    const afterLanePoll = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));

    /**
     * A connection that keeps its side open when the lane ends its own (allowHalfOpen), having written
     * `sent`: `answer` is all it read once the lane ended its side.
     */
    async function stubborn(path: string, sent: string) {
      const s = createConnection({ path, allowHalfOpen: true });
      s.on("error", () => undefined);
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
      });
      const answer = new Promise<string>((resolve) => s.once("end", () => resolve(out)));
      await once(s, "connect");
      if (sent !== "") s.write(sent);
      return { s, answer };
    }

    /** What writing to `s` gives: null when the lane still holds the connection, EPIPE once it dropped it. */
    const writeOutcome = (s: Socket): Promise<string | null> =>
      new Promise((resolve) =>
        s.write("x", (e) => resolve(e ? ((e as NodeJS.ErrnoException).code ?? e.message) : null)),
      );

    const statusLine = `${JSON.stringify({ v: 1, action: "status", user: { name: "ops", uid: 1000, pid: 9 } })}\n`;

    it("two answered that stay open do not count toward the cap: a third is served", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { path } = await start(undefined, { maxConnections: 2 });
      const held = [await stubborn(path, statusLine), await stubborn(path, statusLine)];
      for (const h of held) expect(JSON.parse(await h.answer)).toMatchObject({ kind: "result", ok: true });
      // both still held by the lane (the grace has not run out), and not counted
      for (const h of held) expect(await writeOutcome(h.s)).toBeNull();
      expect(await callLane(path, { action: "lane.close", reason: "barrier maintenance" })).toMatchObject({
        kind: "result",
        ok: true,
      });
      for (const h of held) h.s.destroy();
    });

    it("two answered TOO_SLOW that stay open do not count toward the cap: a third is served", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { operator, path } = await start(undefined, { maxConnections: 2, requestLineTimeoutMs: 2000 });
      const held = [await stubborn(path, ""), await stubborn(path, "")];
      await afterLanePoll();
      vi.advanceTimersByTime(2000);
      for (const h of held)
        expect(JSON.parse(await h.answer)).toMatchObject({ kind: "error", code: "TOO_SLOW" });
      for (const h of held) expect(await writeOutcome(h.s)).toBeNull();
      expect(await callLane(path, { action: "lane.close", reason: "barrier maintenance" })).toMatchObject({
        kind: "result",
        ok: true,
      });
      expect(operator.calls).toHaveLength(1);
      for (const h of held) h.s.destroy();
    });

    it("the lane drops an answered connection its client keeps open ANSWER_GRACE_MS after the answer, not before", async () => {
      expect(ANSWER_GRACE_MS).toBe(2000);
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { path } = await start();
      const h = await stubborn(path, statusLine);
      expect(JSON.parse(await h.answer)).toMatchObject({ kind: "result", ok: true });
      vi.advanceTimersByTime(ANSWER_GRACE_MS - 1);
      await afterLanePoll();
      // what the client still sends is read and dropped meanwhile
      expect(await writeOutcome(h.s)).toBeNull();
      vi.advanceTimersByTime(1);
      await afterLanePoll();
      expect(await writeOutcome(h.s)).toBe("EPIPE");
    });

    // second-round review: the grace ran from the answer's end() call, so an answer larger than the socket's
    // buffer (a status with a full booth queue) that its client read after the grace arrived cut short
    it("an answer larger than the socket's buffer, read only after the grace: arrives whole; the grace runs once it has left", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { lane, path } = await start();
      const big = "x".repeat(4 * 1024 * 1024); // far past a Unix socket's buffer
      lane.state = { ...lane.state, padding: big } as unknown as typeof lane.state;
      // the lane's side of the connection, once it has read the request and ended its side with the answer
      const end = Socket.prototype.end;
      let endedWith: (s: Socket) => void = () => undefined;
      const ended = new Promise<Socket>((resolve) => {
        endedWith = resolve;
      });
      const endSpy = vi.spyOn(Socket.prototype, "end").mockImplementation(function (this: Socket, ...args) {
        endedWith(this);
        return end.apply(this, args as Parameters<typeof end>);
      });
      closers.push(async () => endSpy.mockRestore());
      const h = await stubborn(path, "");
      h.s.pause(); // reads nothing until the grace has passed
      h.s.write(statusLine);
      const lanesSide = await ended;
      endSpy.mockRestore();
      expect(lanesSide).not.toBe(h.s);
      // the answer has not left the process when the grace would have run out, had it run from end()
      expect(lanesSide.writableLength).toBeGreaterThan(0);
      vi.advanceTimersByTime(ANSWER_GRACE_MS + 1);
      await afterLanePoll();
      h.s.resume();
      const answer = JSON.parse(await h.answer);
      expect(answer).toMatchObject({ kind: "result", ok: true });
      expect(answer.data.snapshot.padding).toBe(big);
      h.s.destroy();
    });

    it("an answer its client never reads is dropped UNREAD_ANSWER_MS after it, with the connection", async () => {
      expect(UNREAD_ANSWER_MS).toBe(30_000);
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { lane, path } = await start();
      lane.state = { ...lane.state, padding: "x".repeat(4 * 1024 * 1024) } as unknown as typeof lane.state;
      const h = await stubborn(path, "");
      h.s.pause();
      h.s.write(statusLine);
      await afterLanePoll();
      await afterLanePoll();
      vi.advanceTimersByTime(UNREAD_ANSWER_MS - 1);
      await afterLanePoll();
      expect(await writeOutcome(h.s)).toBeNull();
      vi.advanceTimersByTime(1);
      await afterLanePoll();
      expect(await writeOutcome(h.s)).toBe("EPIPE");
      h.s.destroy();
    });

    it("a connection answered BUSY is dropped ANSWER_GRACE_MS later too", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const { path } = await start(undefined, { maxConnections: 1 });
      const waiting = await stubborn(path, "");
      const busy = await stubborn(path, statusLine);
      expect(JSON.parse(await busy.answer)).toEqual({ kind: "error", code: "BUSY", message: BUSY });
      vi.advanceTimersByTime(ANSWER_GRACE_MS - 1);
      await afterLanePoll();
      expect(await writeOutcome(busy.s)).toBeNull();
      vi.advanceTimersByTime(1);
      await afterLanePoll();
      expect(await writeOutcome(busy.s)).toBe("EPIPE");
      // the one still waiting for its request line is not dropped by it
      expect(await writeOutcome(waiting.s)).toBeNull();
      waiting.s.destroy();
    });
  });

  it("does not start the action of a client that stopped waiting (closed before the lane came to it), and records it as not run", async () => {
    const lane = new FakeLane();
    const operator = new FakeOperator(lane);
    // the first entry written, whichever path writes it
    let firstEntry!: (e: { type: string; data?: Record<string, unknown> }) => void;
    const entry = new Promise<{ type: string; data?: Record<string, unknown> }>((r) => {
      firstEntry = r;
    });
    const audit = {
      append: (e: { type: string; severity: string; message: string; data?: Record<string, unknown> }) =>
        firstEntry(e),
    };
    const path = join(dir, "control.sock");
    const server = await startControlServer({
      path,
      view: lane,
      operator: auditedOperator(operator, audit),
      onRefused: (r) => auditRefusedRequest(audit, r),
    });
    closers.push(() => server.close());
    // what a client that timed out leaves: its request line, then its side closed
    const s = createConnection(path);
    s.on("error", () => undefined);
    await new Promise<void>((resolve) => s.once("connect", () => resolve()));
    const user = { name: "wang", uid: 1000, pid: 4711 };
    s.write(`${JSON.stringify({ v: 1, action: "lane.close", reason: "barrier maintenance", user })}\n`, () =>
      s.destroy(),
    );
    expect(await entry).toMatchObject({
      type: "operator.lane.close",
      data: { user: "wang", ok: false, result: ABANDONED },
    });
    expect(operator.calls).toEqual([]);
    expect(lane.snapshot().state.status).toBe("open");
  });

  it("a client gives up on a lane that does not answer within its timeout, saying the action may still run", async () => {
    const path = join(dir, "control.sock");
    // a lane that takes the connection, reads each request and never answers (a stopped lane's kernel
    // does the same)
    const arrived = new EventEmitter();
    let clientLeft!: () => void;
    const left = new Promise<void>((r) => {
      clientLeft = r;
    });
    const silent = createServer((s) => {
      s.on("error", () => undefined);
      s.on("close", () => clientLeft());
      s.on("data", () => arrived.emit("request")); // answers nothing
    });
    await new Promise<void>((resolve) => silent.listen(path, () => resolve()));
    closers.push(() => new Promise((resolve) => silent.close(() => resolve())));
    // the client's timer runs out only once the lane has the request (a slow connect is not this case)
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const closing = callLane(path, { action: "lane.close", reason: "x" }, undefined, {
      timeoutMs: 50,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    await once(arrived, "request");
    vi.advanceTimersByTime(50);
    const err = await closing;
    expect(err).toBeInstanceOf(LaneTimeout);
    expect(err).toMatchObject({
      code: "E912_CONTROL_TIMEOUT",
      message: expect.stringMatching(
        /^the lane did not answer within 0\.05 s; the action may still run \(control socket .*control\.sock\): etc-lane status and the audit trail \(operator\.lane\.close\) tell whether it did$/,
      ),
    });
    await left; // the client closed its side: the lane, when it comes to the request, does not run it
    // a read-only request is just not answered
    const status = callLane(path, { action: "status" }, undefined, { timeoutMs: 50 });
    await once(arrived, "request");
    vi.advanceTimersByTime(50);
    await expect(status).rejects.toThrow(/^the lane did not answer within 0\.05 s \(control socket /);
  });

  // second review: the timer runs from the call, and when it ran out before the connection was made (the
  // request written only then) the client said "the action may still run" about a request never sent
  it("a client whose timeout runs out before the connection is made says nothing was sent; the lane gets nothing", async () => {
    const path = join(dir, "control.sock");
    let got = "";
    let clientLeft!: () => void;
    const left = new Promise<void>((r) => {
      clientLeft = r;
    });
    const silent = createServer((s) => {
      s.on("error", () => undefined);
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        got += d;
      });
      s.on("close", () => clientLeft());
    });
    await new Promise<void>((resolve) => silent.listen(path, () => resolve()));
    closers.push(() => new Promise((resolve) => silent.close(() => resolve())));
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const closing = callLane(path, { action: "lane.close", reason: "x" }, undefined, {
      timeoutMs: 1,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    // the timer runs out before the connect event is handled: as when this process stalls past it
    vi.advanceTimersByTime(1);
    const err = await closing;
    expect(err).toBeInstanceOf(LaneNotConnected);
    expect(err).toMatchObject({
      code: "E913_CONTROL_NOT_CONNECTED",
      message: expect.stringMatching(
        /^the connection to the control socket did not complete within 0\.001 s; nothing was sent \(control socket .*control\.sock\)$/,
      ),
    });
    await left;
    expect(got).toBe("");
  });

  it("counts each progress line as an answer: a long import is not given up while it reports progress", async () => {
    const path = join(dir, "control.sock");
    let conn!: Socket;
    const connected = new Promise<void>((resolve) => {
      const srv = createServer((s) => {
        conn = s;
        s.on("error", () => undefined);
        s.once("data", () => resolve());
      });
      srv.listen(path);
      closers.push(() => new Promise((r) => srv.close(() => r())));
    });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const progress: number[] = [];
      let progressed!: () => void;
      const nextProgress = (): Promise<void> =>
        new Promise((r) => {
          progressed = r;
        });
      let p1 = nextProgress();
      const call = callLane(
        path,
        { action: "status-list.import", file: "/tmp/full.bundle" },
        (p) => {
          progress.push(p.done);
          progressed();
        },
        { timeoutMs: 10_000 },
      );
      let settled = false;
      call.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      await connected;
      conn.write(`${JSON.stringify({ kind: "progress", phase: "load", done: 1, total: 3 })}\n`);
      await p1;
      vi.advanceTimersByTime(9_000);
      p1 = nextProgress();
      conn.write(`${JSON.stringify({ kind: "progress", phase: "load", done: 2, total: 3 })}\n`);
      await p1;
      // 18 s since the request, 9 s since the last line: still waiting
      vi.advanceTimersByTime(9_000);
      await Promise.resolve();
      expect(settled).toBe(false);
      conn.end(`${JSON.stringify({ kind: "result", ok: true, message: "applied" })}\n`);
      expect(await call).toMatchObject({ kind: "result", ok: true });
      expect(progress).toEqual([1, 2]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("tells the CLI when no lane answers", async () => {
    await expect(callLane(join(dir, "control.sock"), { action: "status" })).rejects.toBeInstanceOf(
      LaneNotRunning,
    );
  });

  it("removes a socket file a killed lane left, and refuses to share one a live process serves", async () => {
    const path = join(dir, "control.sock");
    const child = spawn(
      process.execPath,
      ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    const lane = new FakeLane();
    const operator = auditedOperator(new FakeOperator(), new MemoryAudit());
    await expect(startControlServer({ path, view: lane, operator })).rejects.toThrow(
      /another process already serves/,
    );
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect(existsSync(path)).toBe(true);
    const server = await startControlServer({ path, view: lane, operator });
    closers.push(() => server.close());
    expect((await callLane(path, { action: "lane.open" })).kind).toBe("result");
  });
});
