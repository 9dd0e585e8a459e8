/**
 * An 'error' a listening server emits (a connection it could not accept: ENOBUFS, EPERM, ...) is logged,
 * at most a line a minute (src/service/server-errors.ts), and both servers keep serving: without a
 * listener it would throw and end the lane process. The servers are the ones startLaneService made,
 * taken as they listen; the service's clocks (the monotonic one the rate uses, the wall clock) are the test's.
 */
import { Server as HttpServer } from "node:http";
import { Server } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { callLane } from "../../src/service/control/client.js";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await rig?.close();
  rig = undefined;
});

function capture(): { logger: Logger; errors: { obj: object | string; msg: string | undefined }[] } {
  const errors: { obj: object | string; msg: string | undefined }[] = [];
  const logger: Logger = {
    ...silentLogger,
    error: (obj, msg) => errors.push({ obj, msg }),
    child: () => logger,
  };
  return { logger, errors };
}

const acceptFailed = (): Error => Object.assign(new Error("accept ENOBUFS"), { code: "ENOBUFS" });

describe("server errors after listening", () => {
  it("are logged (a line a minute, with a count) and neither the HTTP server nor the control socket stops serving", async () => {
    const listen = vi.spyOn(Server.prototype, "listen");
    let t = Date.UTC(2026, 10, 26);
    const { logger, errors } = capture();
    rig = await startRig({}, false, { monotonicNow: () => t, logger });
    const servers = listen.mock.contexts as Server[];
    const http = servers.find((s) => s instanceof HttpServer);
    const control = servers.find((s) => !(s instanceof HttpServer));
    expect(http).toBeDefined();
    expect(control).toBeDefined();

    expect(() => http?.emit("error", acceptFailed())).not.toThrow();
    expect(() => control?.emit("error", acceptFailed())).not.toThrow();
    expect(errors).toEqual([
      {
        obj: { err: "accept ENOBUFS", code: "ENOBUFS", unlogged: 0 },
        msg: "lane status service (HTTP): server error, still listening",
      },
      {
        obj: { err: "accept ENOBUFS", code: "ENOBUFS", unlogged: 0 },
        msg: "control socket: server error, still listening",
      },
    ]);
    expect((await rig.get("/health")).status).toBe(200);
    expect(await callLane(rig.service.controlPath, { action: "status" })).toMatchObject({
      kind: "result",
      ok: true,
    });

    // within the minute counted, not logged; the next line says how many
    http?.emit("error", acceptFailed());
    http?.emit("error", acceptFailed());
    expect(errors).toHaveLength(2);
    t += 60_000;
    http?.emit("error", acceptFailed());
    expect(errors[2]).toEqual({
      obj: { err: "accept ENOBUFS", code: "ENOBUFS", unlogged: 2 },
      msg: "lane status service (HTTP): server error, still listening (and 2 more, not logged, since the previous such line)",
    });
    expect((await rig.get("/health")).status).toBe(200);
  });

  // review: the minute was measured on the wall clock (the control socket's on Date.now); one stepped back
  // an hour silenced every line for the hour
  it("a wall clock stepped back does not silence the lines: the next is logged a monotonic minute after the previous", async () => {
    const listen = vi.spyOn(Server.prototype, "listen");
    let wall = Date.UTC(2026, 10, 26);
    let mono = 5_000;
    const { logger, errors } = capture();
    rig = await startRig({}, false, { now: () => wall, monotonicNow: () => mono, logger });
    const servers = listen.mock.contexts as Server[];
    const http = servers.find((s) => s instanceof HttpServer);
    const control = servers.find((s) => !(s instanceof HttpServer));
    http?.emit("error", acceptFailed());
    control?.emit("error", acceptFailed());
    expect(errors).toHaveLength(2);
    wall -= 3_600_000;
    mono += 60_000;
    http?.emit("error", acceptFailed());
    control?.emit("error", acceptFailed());
    expect(errors.map((e) => e.msg)).toEqual([
      "lane status service (HTTP): server error, still listening",
      "control socket: server error, still listening",
      "lane status service (HTTP): server error, still listening",
      "control socket: server error, still listening",
    ]);
  });
});
