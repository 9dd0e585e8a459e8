/** The link supervisor through RsuLink: open, backoff, watchdog, reconnect. */
import { describe, expect, it, vi } from "vitest";
import { ErrorCodes, type EtcError } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { ON_SILENCE, silenceAction } from "../../firmware-bridge/link/link-supervisor.js";
import { backoffDelay, resolveRsuLinkOptions } from "../../firmware-bridge/link/options.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { C0_FRAME, frameBytes, L, linksPerTest, type Rig, ScriptedTransport, settle } from "./harness.js";

const C0 = C0_FRAME.legacy;
const { rig, scriptedLink } = linksPerTest();

/** Times (ms since t0) at which the link began an open attempt. */
function attemptTimes(r: Rig, t0: number): number[] {
  return r.states.filter((s) => s.status === "connecting").map((s) => s.since - t0);
}

describe("RsuLink watchdog", () => {
  it("declares the RSU down after missedHeartbeats x heartbeatPeriodMs of silence and up on the next frame", async () => {
    const r = await rig("legacy", { heartbeatPeriodMs: 1000, missedHeartbeats: 3 });
    expect(r.link.state.status).toBe("up");
    await vi.advanceTimersByTimeAsync(2000);
    await r.rsu(0x08, L.heartbeat80); // re-arms: silence counts from here
    await settle();
    await vi.advanceTimersByTimeAsync(2999);
    expect(r.link.state.status).toBe("up");
    await vi.advanceTimersByTimeAsync(1);
    expect(r.link.state.status).toBe("down");
    expect(r.link.state.reason).toContain("no valid frame for 3000 ms (3 x 1000 ms");
    expect(r.link.state.since).toBe(Date.now());
    expect(r.link.counters.watchdogTrips).toBe(1);
    // Still sendable while down for silence only (an RSU may wait for C0).
    await r.link.send({ type: "C4", controlType: 1 } as Frame);
    await r.rsu(0x18, L.heartbeat80);
    await settle();
    expect(r.link.state.status).toBe("up");
    expect(r.link.state.reason).toBe("frame received");
    await vi.advanceTimersByTimeAsync(3000);
    expect(r.link.counters.watchdogTrips).toBe(2);
  });

  it("garbage does not keep the link up; a frame with a good envelope but unknown type does", async () => {
    const r = await rig("legacy", { heartbeatPeriodMs: 1000, missedHeartbeats: 1 });
    await vi.advanceTimersByTimeAsync(900);
    await r.raw(Buffer.from("0102030405", "hex"));
    await settle();
    await vi.advanceTimersByTimeAsync(100);
    expect(r.link.state.status).toBe("down");
    await r.rsu(0x08, "e7 00");
    await settle();
    expect(r.link.state.status).toBe("up");
    expect(r.link.counters.decodeErrors).toBe(1);
  });
});
describe("RsuLink reconnect", () => {
  it("after an unplug: down with PortDisconnected, retries with backoff, up again after replug", async () => {
    const r = await rig("legacy", {
      reconnect: { initialDelayMs: 200, maxDelayMs: 1000, factor: 2, jitter: 0 },
    });
    const t0 = Date.now();
    const downs: string[] = [];
    r.link.state$.subscribe((s) => s.status === "down" && downs.push(s.error?.code ?? s.reason ?? ""));
    r.pair.unplug();
    expect(r.link.state.status).toBe("down");
    expect(r.link.state.error?.code).toBe(ErrorCodes.PortDisconnected);
    await expect(r.link.send(C0)).rejects.toMatchObject({ code: ErrorCodes.LinkDown });
    // Attempts at +200, +600, +1400, +2400, +3400 (capped at 1000 ms), all failing while unplugged.
    await vi.advanceTimersByTimeAsync(3400);
    expect(attemptTimes(r, t0).slice(1)).toEqual([200, 600, 1400, 2400, 3400]); // [0] was the start
    expect(r.link.counters.openFailures).toBe(5);
    expect(r.link.state.status).toBe("down");
    expect(downs[0]).toBe(ErrorCodes.PortDisconnected);
    expect(downs.slice(1).every((c) => c === ErrorCodes.PortNotFound)).toBe(true);
    r.pair.replug();
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(999);
    expect(r.link.state.status).toBe("down");
    await vi.advanceTimersByTimeAsync(1);
    expect(r.link.state.status).toBe("up");
    expect(r.link.state.reason).toBe("reconnected");
    expect(r.link.counters.reconnects).toBe(1);
    expect(r.link.counters.disconnects).toBe(1);
    // Frames flow again, in both directions.
    const got: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => got.push(f));
    await r.rsu(0x18, L.b2);
    await settle();
    await got[0]?.ack();
    await settle();
    expect(r.laneWrites.map((w) => w.frame.type)).toEqual(["ACK"]);
  });

  it("a failed open at start is retried with backoff and jitter, start() resolves after the first attempt", async () => {
    const r = await rig(
      "legacy",
      { reconnect: { initialDelayMs: 100, maxDelayMs: 400, factor: 2, jitter: 0.5 } },
      {},
      false,
    );
    r.pair.unplug();
    const t0 = Date.now();
    await r.link.start(); // never hangs: the first attempt failed, retries continue in the background
    expect(r.link.state.status).toBe("down");
    expect(r.link.state.error?.code).toBe(ErrorCodes.PortNotFound);
    await vi.advanceTimersByTimeAsync(1300);
    // random() = 0.5 makes the jitter factor exactly 1: 100, 200, 400, 400 (cap)
    expect(attemptTimes(r, t0)).toEqual([0, 100, 300, 700, 1100]);
    r.pair.replug();
    await vi.advanceTimersByTimeAsync(400);
    expect(r.link.state.status).toBe("up");
    expect(r.link.counters.connectAttempts).toBe(6);
  });

  it("jitter spreads the delays within [1 - jitter, 1 + jitter]", async () => {
    const o = resolveRsuLinkOptions({
      reconnect: { initialDelayMs: 1000, maxDelayMs: 5000, factor: 2, jitter: 0.2 },
    }).reconnect;
    expect(backoffDelay(o, 0, () => 0)).toBe(800);
    expect(backoffDelay(o, 0, () => 0.999999)).toBe(1200);
    expect(backoffDelay(o, 10, () => 0.5)).toBe(5000);
  });

  it("an open that never completes ends at openTimeoutMs and is retried", async () => {
    const t = new ScriptedTransport();
    t.hangOpen = true;
    const link = scriptedLink(t, { openTimeoutMs: 1000, reconnect: { initialDelayMs: 500, jitter: 0 } });
    let started = false;
    void link.start().then(() => {
      started = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(started).toBe(false);
    expect(link.state.status).toBe("connecting");
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toBe(true);
    expect(link.state.status).toBe("down");
    expect(link.state.reason).toContain("open did not complete within 1000 ms");
    t.hangOpen = false;
    await vi.advanceTimersByTimeAsync(500);
    expect(link.state.status).toBe("up");
    expect(t.opens).toBe(2);
  });

  it("waitUp resolves on up and times out naming the last reason", async () => {
    const r = await rig("legacy", { reconnect: { initialDelayMs: 100, jitter: 0 } }, {}, false);
    r.pair.unplug();
    await r.link.start();
    const late = r.link.waitUp({ timeoutMs: 250 });
    const lateErr = late.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(250);
    const e = (await lateErr) as EtcError;
    expect(e.code).toBe(ErrorCodes.LinkTimeout);
    expect(e.message).toMatch(/not up after 250 ms \((down|connecting)/);
    const soon = r.link.waitUp({ timeoutMs: 5000 });
    r.pair.replug();
    await vi.advanceTimersByTimeAsync(400);
    await expect(soon).resolves.toBeUndefined();
  });

  it("stop() ends retries and goes to stopped; nothing runs afterwards", async () => {
    const r = await rig("legacy");
    r.pair.unplug();
    await r.link.stop();
    expect(r.link.state.status).toBe("stopped");
    const attempts = r.link.counters.connectAttempts;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(r.link.counters.connectAttempts).toBe(attempts);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("RsuLink reconnect policy per transport", () => {
  const opts = {
    heartbeatPeriodMs: 1000,
    missedHeartbeats: 3,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 },
  };

  it("TCP: a silent connection (half-open) is closed at the watchdog and reopened with backoff", async () => {
    const t = new ScriptedTransport();
    t.kind = "tcp";
    const link = scriptedLink(t, opts);
    await link.start();
    expect([link.state.status, t.opens]).toEqual(["up", 1]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(link.state.status).toBe("down");
    expect(link.state.reason).toContain("no valid frame for 3000 ms");
    expect(link.state.reason).toContain("connection closed to reconnect");
    expect(t.status).toBe("closed");
    expect(link.counters.watchdogTrips).toBe(1);
    expect(link.state.portOpen).toBeUndefined(); // nothing can be sent: the lane waits for the reconnect
    await expect(link.send(C0)).rejects.toMatchObject({ code: ErrorCodes.LinkDown });
    await vi.advanceTimersByTimeAsync(100);
    expect([link.state.status, link.state.reason, t.opens]).toEqual(["up", "reconnected", 2]);
    expect(link.counters.reconnects).toBe(1);
    // Still silent: the next trip backs off further (200 ms).
    await vi.advanceTimersByTimeAsync(3000);
    expect([link.state.status, t.status]).toEqual(["down", "closed"]);
    await vi.advanceTimersByTimeAsync(199);
    expect(t.opens).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect([link.state.status, t.opens]).toEqual(["up", 3]);
    // The RSU talks on the new connection: frames flow and the link stays up.
    const got: IncomingFrame[] = [];
    link.incoming$.subscribe((f) => got.push(f));
    t.data.next(frameBytes("legacy", 0x18, L.b2));
    await settle();
    expect(got).toHaveLength(1);
    expect(link.counters.watchdogTrips).toBe(2);
  });

  it("serial: the watchdog only marks the link down; the port stays open and is not reopened", async () => {
    const t = new ScriptedTransport();
    t.kind = "serial";
    const link = scriptedLink(t, opts);
    await link.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect([link.state.status, t.status, link.counters.watchdogTrips]).toEqual(["down", "open", 1]);
    // the state says the port is open: the lane keeps sending C0 (src/lane/rsu-session.ts)
    expect(link.state.portOpen).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect([t.opens, link.counters.connectAttempts]).toEqual([1, 1]);
    await link.send(C0); // an RSU may wait for C0 before it talks
    // the port lost while silent: down without portOpen, a reconnect scheduled
    t.stateS.next({ status: "disconnected" });
    await settle();
    expect([link.state.status, link.state.portOpen]).toEqual(["down", undefined]);
    await expect(link.send(C0)).rejects.toMatchObject({ code: ErrorCodes.LinkDown });
  });

  it("the policy table: TCP reconnects, every other medium (and one that does not say) stays open", () => {
    expect(ON_SILENCE).toEqual({ serial: "keep-open", "in-process": "keep-open", tcp: "reconnect" });
    expect(silenceAction(undefined)).toBe("keep-open");
  });
});
