/**
 * A frame declared for the other direction coming back on the line (an RS-485 adapter with local echo, a
 * TX/RX loopback, a tty not set raw) is not a frame of the peer: counted in `echoes`, logged once per run,
 * not delivered, and for the lane's link it neither re-arms the watchdog nor brings the link up
 * (docs/link.md "Receiving, acknowledging, deduplicating").
 */
import { describe, expect, it, vi } from "vitest";
import { encodeFrame } from "../../firmware-bridge/frames/catalogue.js";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { type ChannelProblem, FrameChannel } from "../../firmware-bridge/link/frame-channel.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { C0_FRAME, frameBytes, L, linksPerTest, N, settle } from "./harness.js";

const C0_BY_VARIANT = C0_FRAME;
const { rig } = linksPerTest();
const ECHO_WARNING = /own side/;

describe.each(["legacy", "national"] as const)(
  "RsuLink on a line that echoes the lane's bytes (%s)",
  (variant) => {
    const C0 = C0_BY_VARIANT[variant];
    async function echoRig() {
      const r = await rig(variant, { heartbeatPeriodMs: 1000, missedHeartbeats: 3 });
      r.pair.device.data$.subscribe((b) => void r.pair.device.write(b)); // nothing but the lane's own bytes
      const got: IncomingFrame[] = [];
      r.link.incoming$.subscribe((f) => got.push(f));
      return { ...r, got };
    }

    it("the lane's own C0 coming back does not bring a silent RSU's link up", async () => {
      const r = await echoRig();
      await vi.advanceTimersByTimeAsync(3000);
      expect(r.link.state.status).toBe("down"); // the watchdog: nothing from an RSU
      for (let i = 0; i < 3; i++) {
        await r.link.send(C0); // the lane keeps sending C0 while the RSU is silent (docs/lane.md "Link life" 5)
        await settle();
      }
      expect(r.link.state.status).toBe("down");
      expect(r.got).toEqual([]);
      expect(r.link.counters).toMatchObject({ echoes: 3, framesIn: 0, decodeErrors: 0, heartbeats: 0 });
      expect(r.warnings.filter((w) => ECHO_WARNING.test(w))).toHaveLength(1); // once per run, not per frame
    });

    it("echoes do not re-arm the watchdog of a link that is up", async () => {
      const r = await echoRig();
      expect(r.link.state.status).toBe("up");
      for (let t = 0; t < 3000; t += 500) {
        await r.link.send(C0);
        await vi.advanceTimersByTimeAsync(500);
      }
      expect(r.link.state.status).toBe("down");
      expect(r.link.counters.watchdogTrips).toBe(1);
      expect(r.link.counters.echoes).toBe(6);
    });

    it("an RSU frame among the echoes is still delivered and re-arms the watchdog", async () => {
      const r = await echoRig();
      await vi.advanceTimersByTimeAsync(3000);
      expect(r.link.state.status).toBe("down");
      await r.link.send(C0);
      await r.rsu(variant === "legacy" ? 0x18 : 0x01, variant === "legacy" ? L.b0 : N.b0);
      await settle();
      expect(r.link.state.status).toBe("up");
      expect(r.got.map((f) => f.frame.type)).toEqual(["B0"]);
      expect(r.link.counters).toMatchObject({ echoes: 1, framesIn: 1 });
    });
  },
);

describe("FrameChannel: the direction it receives", () => {
  async function channel(receives: "lane-to-rsu" | "rsu-to-lane", variant: "legacy" | "national") {
    const pair = createTransportPair();
    await pair.lane.open();
    await pair.device.open();
    const warnings: string[] = [];
    const logger = {
      trace() {},
      debug() {},
      info() {},
      warn: (_o: unknown, m?: string) => warnings.push(m ?? ""),
      error() {},
      child: () => logger,
    };
    const ch = new FrameChannel({
      transport: pair.device,
      dialect: defaultDialect(variant),
      receives,
      logger,
    });
    const frames: string[] = [];
    const problems: ChannelProblem[] = [];
    ch.frames$.subscribe((f) => frames.push(f.frame.type));
    ch.problems$.subscribe((p) => problems.push(p));
    ch.start();
    return { pair, ch, frames, problems, warnings };
  }

  it.each(["legacy", "national"] as const)(
    "%s: an RSU-side channel (the simulator's) takes B-frames coming back as echoes, lane frames as frames",
    async (variant) => {
      const c = await channel("lane-to-rsu", variant);
      const seq = variant === "legacy" ? 0x18 : 0x01;
      await c.pair.lane.write(frameBytes(variant, seq, variant === "legacy" ? L.b2 : N.b2));
      await c.pair.lane.write(frameBytes(variant, seq, variant === "legacy" ? L.b2 : N.b2));
      await c.pair.lane.write(encodeFrame({ type: "C4", controlType: 1 }, 0x80, defaultDialect(variant)));
      await settle();
      expect(c.frames).toEqual(["C4"]);
      expect(c.problems.map((p) => (p.kind === "echo" ? `echo ${p.type}` : p.kind))).toEqual([
        "echo B2",
        "echo B2",
      ]);
      expect(c.ch.counters).toMatchObject({ echoes: 2, framesIn: 1, decodeErrors: 0 });
      expect(c.warnings.filter((w) => ECHO_WARNING.test(w))).toHaveLength(1);
      c.ch.stop();
    },
  );

  it("an empty acknowledgement has no declared direction: both sides send one, so it is a frame", async () => {
    const c = await channel("rsu-to-lane", "legacy");
    await c.pair.lane.write(frameBytes("legacy", 0x81, ""));
    await settle();
    expect(c.frames).toEqual(["ACK"]);
    expect(c.ch.counters.echoes).toBe(0);
    c.ch.stop();
  });
});
