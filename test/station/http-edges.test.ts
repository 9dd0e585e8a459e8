/**
 * The station simulator answers like a well-behaved server (sim/station/router.ts, http.ts,
 * admin-routes.ts, api-routes.ts): a client's mistake gets a 4xx with its own error code and is not
 * logged as an error; only a failure of the simulator itself is 500 INTERNAL and a "station error" line.
 */
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { type StationHandle, type StationOptions, startStation } from "../../sim/station/station.js";

let st: StationHandle | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await st?.close();
  st = undefined;
});

/** A station whose error lines the test reads. */
async function station(o: StationOptions = {}): Promise<{ st: StationHandle; errors: unknown[] }> {
  const errors: unknown[] = [];
  const logger: Logger = {
    ...silentLogger,
    error: (obj, msg) => errors.push({ obj, msg }),
    child: () => logger,
  };
  st = await startStation({ ...o, logger });
  return { st, errors };
}

/** fetch with the x-lane-id a lane's every API request carries (docs/station-api.md, "Common rules"). */
const apiFetch = (url: string, init: RequestInit = {}): Promise<Response> =>
  fetch(url, {
    ...init,
    headers: { "x-lane-id": "4301010203", ...(init.headers as Record<string, string>) },
  });

async function answer(res: Promise<Response>): Promise<{ status: number; body: unknown }> {
  const r = await res;
  return { status: r.status, body: await r.json() };
}

/** Sends `head` (request line and headers) and `body` over a socket; the answer as the client read it. */
function raw(url: string, head: string, body = ""): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.end(`${head}\r\n\r\n${body}`));
    let text = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      text += d;
    });
    s.on("error", reject);
    s.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0), text }));
  });
}

const lane = { network: "4301", station: "0102", lane: 3 };
const tradeId = "430101020320261123185914000001";
const upload = { lane, records: [{ tradeId, seq: 1, kind: "stop", record: {} }] };

describe("the station's error answers", () => {
  it("give each status its own code: 400 BAD_REQUEST, 404 NOT_FOUND, 413 TOO_LARGE", async () => {
    let refuse: 400 | 413 = 413;
    const { st, errors } = await station({ refuseUpload: () => ({ status: refuse, message: "choked" }) });
    const post = (body: unknown) =>
      apiFetch(`${st.url}/api/v1/transactions`, { method: "POST", body: JSON.stringify(body) });
    expect(await answer(post(upload))).toEqual({
      status: 413,
      body: { error: "TOO_LARGE", message: "choked" },
    });
    refuse = 400;
    expect(await answer(post(upload))).toEqual({
      status: 400,
      body: { error: "BAD_REQUEST", message: "choked" },
    });
    expect(await answer(post([]))).toMatchObject({ status: 400, body: { error: "BAD_REQUEST" } });
    for (const path of ["/nowhere", "/api/v2/transactions", "/api/v1/status-list/bundles/full-1.bundle"])
      expect(await answer(apiFetch(`${st.url}${path}`)), path).toMatchObject({
        status: 404,
        body: { error: "NOT_FOUND" },
      });
    expect(
      await answer(apiFetch(`${st.url}/api/v1/lanes/4301010203/audit-checkpoints/latest`)),
    ).toMatchObject({
      status: 404,
      body: { error: "NOT_FOUND" },
    });
    const checkpoints = (body: unknown) =>
      answer(
        apiFetch(`${st.url}/api/v1/lanes/4301010203/audit-checkpoints`, {
          method: "POST",
          body: JSON.stringify(body),
        }),
      );
    expect(await checkpoints({ publicKey: "not a key", checkpoints: [{}] })).toMatchObject({
      status: 422,
      body: { error: "UNPROCESSABLE" },
    });
    expect(await checkpoints(null)).toMatchObject({ status: 400, body: { error: "BAD_REQUEST" } });
    expect(errors).toEqual([]);
  });

  it("answer a request target that does not parse, or a bundle name with a bad % escape, 400 without logging", async () => {
    const { st, errors } = await station();
    const host = new URL(st.url).host;
    for (const target of ["//[x", "http://[x/api/v1/transactions"]) {
      const got = await raw(st.url, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close`);
      expect(got.status, target).toBe(400);
      expect(got.text).toContain('"error":"BAD_REQUEST"');
    }
    for (const name of ["%E0%A4%A", "full-1%.bundle", "%"])
      expect(await answer(apiFetch(`${st.url}/api/v1/status-list/bundles/${name}`)), name).toMatchObject({
        status: 400,
        body: { error: "BAD_REQUEST" },
      });
    expect(errors).toEqual([]);
  });

  it("answer a method an /api/v1 path does not take 405 with Allow, an unknown path 404, a HEAD as the GET", async () => {
    const { st, errors } = await station();
    const lanePath = "/api/v1/lanes/4301010203";
    for (const [method, path, allow] of [
      ["GET", "/api/v1/transactions", "POST"],
      ["PUT", "/api/v1/transactions", "POST"],
      ["GET", `${lanePath}/heartbeat`, "POST"],
      ["GET", `${lanePath}/audit-checkpoints`, "POST"],
      ["POST", `${lanePath}/audit-checkpoints/latest`, "GET, HEAD"],
      ["POST", "/api/v1/status-list/manifest", "GET, HEAD"],
      ["DELETE", "/api/v1/status-list/bundles/full-202611260800.bundle", "GET, HEAD"],
    ] as const) {
      const res = await apiFetch(`${st.url}${path}`, { method, ...(method === "PUT" ? { body: "{}" } : {}) });
      expect([res.status, res.headers.get("allow")], `${method} ${path}`).toEqual([405, allow]);
      expect(await res.json()).toEqual({
        error: "METHOD_NOT_ALLOWED",
        message: `${method} ${path}: the methods allowed are ${allow}`,
      });
    }
    // nothing was done for them
    expect(st.stats()).toMatchObject({ uploadRequests: 0, heartbeats: 0 });
    // paths the API does not have stay 404, whatever the method
    for (const [method, path] of [
      ["GET", "/api/v1/nowhere"],
      ["POST", "/api/v1/transactions/extra"],
      ["POST", `${lanePath}/heartbeats`],
      ["GET", "/api/v1/status-list/bundles/"],
    ] as const)
      expect(await answer(apiFetch(`${st.url}${path}`, { method })), `${method} ${path}`).toMatchObject({
        status: 404,
        body: { error: "NOT_FOUND" },
      });
    const head = await apiFetch(`${st.url}/api/v1/status-list/manifest`, { method: "HEAD" });
    expect([head.status, await head.text()]).toEqual([200, ""]);
    expect(errors).toEqual([]);
  });

  it("read a body over the limit to its end before the 413, so a client still sending it gets the answer, not a reset", async () => {
    const { st } = await station({ maxBodyBytes: 1024 });
    const u = new URL(st.url);
    const bytes = 16 * 1024 * 1024;
    const got = await new Promise<{ status: number; error: string | null }>((resolve) => {
      const s = connect(Number(u.port), u.hostname);
      let text = "";
      let error: string | null = null;
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        text += d;
      });
      s.on("error", (e: NodeJS.ErrnoException) => {
        error = e.code ?? e.message;
      });
      s.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0), error }));
      s.write(`POST /api/v1/transactions HTTP/1.1\r\nHost: ${u.host}\r\nContent-Length: ${bytes}\r\n\r\n`);
      const chunk = Buffer.alloc(64 * 1024, 0x78);
      let sent = 0;
      const more = (): void => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", more);
        }
      };
      more();
    });
    expect(got).toEqual({ status: 413, error: null });
  });

  it("answer a body over the limit 413 TOO_LARGE, which the client sees (not a reset), and go on serving", async () => {
    const { st, errors } = await station({ maxBodyBytes: 1024 });
    const big = (bytes: number) =>
      answer(apiFetch(`${st.url}/api/v1/transactions`, { method: "POST", body: "x".repeat(bytes) }));
    for (const bytes of [1025, 64 * 1024, 4 * 1024 * 1024])
      expect(await big(bytes), String(bytes)).toMatchObject({ status: 413, body: { error: "TOO_LARGE" } });
    // the heartbeat's own limit (1 MiB)
    expect(
      await answer(
        apiFetch(`${st.url}/api/v1/lanes/4301010203/heartbeat`, {
          method: "POST",
          body: `"${"x".repeat(2 * 1024 * 1024)}"`,
        }),
      ),
    ).toMatchObject({ status: 413, body: { error: "TOO_LARGE" } });
    const ok = await apiFetch(`${st.url}/api/v1/transactions`, {
      method: "POST",
      body: JSON.stringify(upload),
    });
    expect(ok.status).toBe(200);
    expect(st.received().map((r) => r.tradeId)).toEqual([tradeId]);
    expect(errors).toEqual([]);
  });
});

describe("POST /admin/fault", () => {
  const fault = (st: StationHandle, body: string, method = "POST") =>
    fetch(`${st.url}/admin/fault`, { method, body, headers: { "content-type": "application/json" } });

  it("answers a body that is not a JSON object 400 BAD_REQUEST, without logging, and changes nothing", async () => {
    const { st, errors } = await station();
    for (const body of ["{nope", "null", "42", '"slow"', '["slow"]'])
      expect(await answer(fault(st, body)), body).toMatchObject({
        status: 400,
        body: { error: "BAD_REQUEST" },
      });
    expect(st.fault()).toBe("none");
    expect(errors).toEqual([]);
  });

  it("answers slowMs or durationMs that is not a whole number of ms from 0 to 2^31-1 400 naming the field", async () => {
    const { st, errors } = await station();
    for (const [field, v] of [
      ["slowMs", "abc"],
      ["slowMs", -1],
      ["slowMs", 1.5],
      ["slowMs", null],
      ["durationMs", "1000"],
      ["durationMs", -5],
      ["durationMs", 2 ** 31],
    ] as const) {
      const got = await answer(fault(st, JSON.stringify({ mode: "slow", [field]: v })));
      expect(got, `${field} ${v}`).toEqual({
        status: 400,
        body: {
          error: "BAD_REQUEST",
          message: `${field}: expected a whole number of milliseconds from 0 to 2147483647, got ${JSON.stringify(v)}`,
        },
      });
    }
    expect(st.fault()).toBe("none");
    // the handle checks the same
    await expect(st.setFault("slow", { slowMs: -1 })).rejects.toThrow(/^slowMs: expected a whole number/);
    await expect(st.setFault("slow", { durationMs: Number.NaN })).rejects.toThrow(/^durationMs: expected/);
    expect(st.fault()).toBe("none");
    expect(await answer(fault(st, JSON.stringify({ mode: "slow", slowMs: 0, durationMs: 60_000 })))).toEqual({
      status: 200,
      body: { mode: "slow" },
    });
    expect(await answer(fetch(`${st.url}/admin/fault`))).toEqual({
      status: 200,
      body: { mode: "slow", slowMs: 0 },
    });
    expect(errors).toEqual([]);
  });

  it("startStation checks slowMs as POST /admin/fault does: a RangeError naming it", async () => {
    for (const slowMs of [1.5, -1, 2 ** 31])
      await expect(startStation({ slowMs, logger: silentLogger }), String(slowMs)).rejects.toThrow(
        expect.objectContaining({ name: "RangeError", message: expect.stringContaining("slowMs") }),
      );
  });

  it("answers once the fault is switched: a switch that fails is 500, not 200", async () => {
    const { st, errors } = await station();
    vi.spyOn(st, "setFault").mockRejectedValueOnce(new Error("listen EADDRINUSE"));
    expect(await answer(fault(st, JSON.stringify({ mode: "500s" })))).toEqual({
      status: 500,
      body: { error: "INTERNAL", message: "listen EADDRINUSE" },
    });
    expect(errors).toEqual([{ obj: { err: "listen EADDRINUSE" }, msg: "station error" }]);
    expect(await answer(fault(st, JSON.stringify({ mode: "500s" })))).toEqual({
      status: 200,
      body: { mode: "500s" },
    });
    expect(st.fault()).toBe("500s");
  });

  it('"down" is answered before it closes the connection it came on, then refuses connections', async () => {
    const { st } = await station();
    const res = await fault(st, JSON.stringify({ mode: "down" }));
    expect(res.headers.get("connection")).toBe("close");
    expect(await res.json()).toEqual({ mode: "down" });
    expect(st.fault()).toBe("down");
    await expect(fetch(`${st.url}/admin/fault`)).rejects.toThrow();
    await st.setFault("none");
    expect((await fetch(`${st.url}/admin/fault`)).status).toBe(200);
  });

  it("reads the fault with GET (and HEAD) and answers any other method 405 with Allow", async () => {
    const { st } = await station();
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const res = await fetch(`${st.url}/admin/fault`, { method, body: method === "DELETE" ? null : "{}" });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD, POST");
      expect(await res.json()).toMatchObject({ error: "METHOD_NOT_ALLOWED" });
    }
    const head = await fetch(`${st.url}/admin/fault`, { method: "HEAD" });
    expect([head.status, await head.text()]).toEqual([200, ""]);
    expect(st.fault()).toBe("none");
    // the other admin paths alike
    for (const [method, path, allow] of [
      ["POST", "/transactions", "GET, HEAD"],
      ["DELETE", "/admin/stats", "GET, HEAD"],
      ["PUT", "/admin/gaps", "GET, HEAD"],
      ["GET", "/admin/audit-witness/4301010203/reset", "POST"],
    ] as const) {
      const res = await fetch(`${st.url}${path}`, { method });
      expect([res.status, res.headers.get("allow")], `${method} ${path}`).toEqual([405, allow]);
      await res.body?.cancel();
    }
  });
});

describe("GET /transactions", () => {
  it("reads the records received once, and counts what it lists", async () => {
    const { st } = await station();
    await apiFetch(`${st.url}/api/v1/transactions`, { method: "POST", body: JSON.stringify(upload) });
    const read = vi.spyOn(st, "received");
    expect(await answer(fetch(`${st.url}/transactions`))).toMatchObject({
      status: 200,
      body: { count: 1, records: [{ tradeId }] },
    });
    expect(read).toHaveBeenCalledTimes(1);
  });
});

describe("a fault with durationMs", () => {
  it("is reverted by a timer that keeps no process alive (unref'd)", async () => {
    const { st } = await station();
    const timers = vi.spyOn(globalThis, "setTimeout");
    await st.setFault("500s", { durationMs: 600_000 });
    const revert = timers.mock.calls.findIndex((c) => c[1] === 600_000);
    expect(revert).toBeGreaterThanOrEqual(0);
    expect((timers.mock.results[revert]!.value as NodeJS.Timeout).hasRef()).toBe(false);
    expect(st.fault()).toBe("500s");
  });
});

describe("fault switches at once", () => {
  it("out of down and back into it at once: the second waits for the first, and the last one holds", async () => {
    const { st, errors } = await station();
    await st.setFault("down");
    const switches = await Promise.allSettled([st.setFault("none"), st.setFault("down")]);
    expect(switches.map((s) => s.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(st.fault()).toBe("down");
    await expect(fetch(`${st.url}/admin/fault`)).rejects.toThrow();
    // and out of it twice at once: listened once, the last mode holds
    const again = await Promise.allSettled([st.setFault("none"), st.setFault("500s")]);
    expect(again.map((s) => s.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(st.fault()).toBe("500s");
    expect(await answer(fetch(`${st.url}/admin/fault`))).toEqual({
      status: 200,
      body: { mode: "500s", slowMs: 3000 },
    });
    expect(errors).toEqual([]);
  });

  it("into down and out of it at once: the second waits until the listener has closed, then listens again", async () => {
    const { st } = await station();
    const switches = await Promise.allSettled([st.setFault("down"), st.setFault("none")]);
    expect(switches.map((s) => s.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(st.fault()).toBe("none");
    expect((await fetch(`${st.url}/admin/fault`)).status).toBe(200);
  });

  it("the end of a durationMs that comes while another switch is under way is dropped: that switch holds", async () => {
    const { st } = await station();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await st.setFault("500s", { durationMs: 1000 });
      const down = st.setFault("down");
      vi.advanceTimersByTime(1000); // the 500s fault's end is due now, behind the switch to down
      await down;
      await st.close(); // in its turn, after every switch asked before it
      expect(st.fault()).toBe("down");
    } finally {
      vi.useRealTimers();
    }
  });

  it("close() during a switch out of down waits for it, and nothing is left listening", async () => {
    const { st } = await station();
    await st.setFault("down");
    const port = st.port;
    const switched = st.setFault("none");
    await st.close();
    await switched;
    const squatter = await squat(port);
    await new Promise((resolve) => squatter.close(resolve));
  });
});

/** A server that takes `port` on 127.0.0.1 (the station's, while it is down). */
function squat(port: number): Promise<Server> {
  const s = createServer();
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

describe("leaving down when the port is taken", () => {
  it("setFault rejects and the station stays down, saying so; it comes back once the port is free", async () => {
    const { st } = await station();
    await st.setFault("down");
    const squatter = await squat(st.port);
    await expect(st.setFault("none")).rejects.toThrow(/EADDRINUSE/);
    expect(st.fault()).toBe("down");
    await new Promise((resolve) => squatter.close(resolve));
    await st.setFault("none");
    expect(st.fault()).toBe("none");
    expect((await fetch(`${st.url}/admin/fault`)).status).toBe(200);
  });

  it("a switch out of down that failed leaves the down fault's end after durationMs due", async () => {
    const { st } = await station();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await st.setFault("down", { durationMs: 1000 });
      const squatter = await squat(st.port);
      await expect(st.setFault("none")).rejects.toThrow(/EADDRINUSE/);
      await new Promise((resolve) => squatter.close(resolve));
      vi.advanceTimersByTime(1000);
      await expect.poll(() => st?.fault()).toBe("none");
      expect((await fetch(`${st.url}/admin/fault`)).status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });

  it("the durationMs timer that cannot end a down fault logs why and leaves it down (no unhandled rejection)", async () => {
    const { st, errors } = await station();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await st.setFault("down", { durationMs: 1000 });
      const squatter = await squat(st.port);
      vi.advanceTimersByTime(1000);
      await expect
        .poll(() => errors)
        .toEqual([
          {
            obj: { mode: "down", port: st.port, err: expect.stringMatching(/EADDRINUSE/) },
            msg: "station fault not ended after durationMs",
          },
        ]);
      expect(st.fault()).toBe("down");
      await new Promise((resolve) => squatter.close(resolve));
    } finally {
      vi.useRealTimers();
    }
  });
});
