/** The answer cache through RsuLink: dedupe of RSU repeats, cached replies, automatic answers, reboot B0. */
import { describe, expect, it, vi } from "vitest";
import { ErrorCodes, EtcError, NOTHING_WRITTEN, wroteNothing } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { type RsuLinkOptionsInput, resolveRsuLinkOptions } from "../../firmware-bridge/link/options.js";
import type { Heartbeat, IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { createLegacyCodec } from "../../src/rsu/driver-legacy.js";
import { C0_FRAME, frameBytes, L, linksPerTest, N, type Rig, ScriptedTransport, settle } from "./harness.js";

const C1: Frame = { type: "C1", obuId: "01020304", obuDivFactor: "1122334455667788" } as Frame;
const { rig, scriptedLink } = linksPerTest();

function collect(r: Rig): IncomingFrame[] {
  const got: IncomingFrame[] = [];
  r.link.incoming$.subscribe((f) => got.push(f));
  return got;
}

describe("RsuLink deduplication", () => {
  it("legacy: a repeated B2 is delivered once and each repeat gets the cached reply once", async () => {
    const r = await rig("legacy");
    const got = collect(r);
    r.link.incoming$.subscribe((f) => void f.reply(C1));
    await r.rsu(0x18, L.b2);
    await settle();
    expect(got).toHaveLength(1);
    expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([["C1", 0x81]]);
    for (let i = 1; i <= 3; i++) {
      await vi.advanceTimersByTimeAsync(120);
      await r.rsu(0x18, L.b2);
      await settle();
      expect(r.laneWrites).toHaveLength(1 + i);
    }
    expect(got).toHaveLength(1);
    expect(new Set(r.laneWrites.map((w) => w.hex)).size).toBe(1);
    expect(r.link.counters.duplicates).toBe(3);
    expect(r.link.counters.resentReplies).toBe(3);
    expect(r.link.counters.autoAcks).toBe(0);
  });

  it("national: a repeated B2 (same SEQ, same DATA) gets the cached reply, SEQ 0X answered with X0", async () => {
    const r = await rig("national");
    const got = collect(r);
    r.link.incoming$.subscribe((f) => void f.reply(C1));
    await r.rsu(0x03, N.b2);
    await settle();
    await vi.advanceTimersByTimeAsync(120);
    await r.rsu(0x03, N.b2);
    await settle();
    await vi.advanceTimersByTimeAsync(120);
    await r.rsu(0x03, N.b2);
    await settle();
    expect(got).toHaveLength(1);
    expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([
      ["C1", 0x30],
      ["C1", 0x30],
      ["C1", 0x30],
    ]);
    expect(r.link.counters.duplicates).toBe(2);
  });

  it("a repeat while the application is still deciding is counted; the reply then goes out once", async () => {
    const r = await rig("legacy", { answerDeadlineMs: 500 });
    const got = collect(r);
    await r.rsu(0x28, L.b2);
    await settle();
    await vi.advanceTimersByTimeAsync(120);
    await r.rsu(0x28, L.b2);
    await settle();
    expect(r.laneWrites).toHaveLength(0);
    expect(r.link.counters.duplicates).toBe(1);
    await got[0]?.reply(C1);
    await settle();
    expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([["C1", 0x82]]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.laneWrites).toHaveLength(1); // no automatic ACK on top
    expect(got).toHaveLength(1);
  });

  it("same RSCTL with different DATA is a new frame; the same frame after the window is new too", async () => {
    const r = await rig("legacy", { dedupeWindowMs: 1000 });
    const got = collect(r);
    r.link.incoming$.subscribe((f) => void f.ack());
    await r.rsu(0x08, L.b2);
    await settle();
    await r.rsu(0x08, L.b2Other);
    await settle();
    expect(got).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1001);
    await r.rsu(0x08, L.b2Other);
    await settle();
    expect(got).toHaveLength(3);
    expect(r.link.counters.duplicates).toBe(0);
  });

  it("reply() twice is refused with E304 and sends nothing", async () => {
    const r = await rig("legacy");
    const got = collect(r);
    await r.rsu(0x18, L.b2);
    await settle();
    const f = got[0] as IncomingFrame;
    await f.reply(C1);
    // marked as a refusal before any byte was written (firmware-bridge/errors.ts NOTHING_WRITTEN)
    await expect(f.ack()).rejects.toMatchObject({
      code: "E304_LINK_ALREADY_ANSWERED",
      details: { nothingWritten: true },
    });
    await settle();
    expect(r.laneWrites).toHaveLength(1);
    expect(f.answered).toBe(true);
  });

  for (const variant of ["legacy", "national"] as const) {
    it(`${variant}: a reply to a frame a different one replaced under the same sequence is refused, nothing written`, async () => {
      // legacy RSU with a fixed RSCTL per frame type: the first OBU's B2 went unanswered, the RSU gave up on
      // it, and the next OBU's B2 comes under the same RSCTL; an answer to the first would go out under the
      // reply sequence of the second, which the RSU would take for that one's answer
      const r = await rig(variant);
      const got = collect(r);
      const seq = variant === "legacy" ? 0x18 : 0x01;
      await r.rsu(seq, L.b2);
      await settle();
      await vi.advanceTimersByTimeAsync(600);
      await r.rsu(seq, L.b2Other);
      await settle();
      expect(got.map((g) => g.frame.type)).toEqual(["B2", "B2"]);
      const [first, second] = got as [IncomingFrame, IncomingFrame];
      await expect(first.ack()).rejects.toMatchObject({
        code: "E302_LINK_DOWN",
        message: expect.stringContaining("superseded"),
        details: { nothingWritten: true },
      });
      await expect(first.reply(C1)).rejects.toMatchObject({ details: { nothingWritten: true } });
      await settle();
      expect(r.laneWrites).toEqual([]);
      expect(first.answered).toBe(false);
      // the newer frame is answered as usual, under the swapped sequence
      await second.reply(C1);
      await settle();
      expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([
        ["C1", variant === "legacy" ? 0x81 : 0x10],
      ]);
    });
  }
});

describe("RsuLink: a byte-identical copy after the dedupe window does not supersede the frame it copies", () => {
  for (const [variant, seq, replySeq] of [
    ["legacy", 0x48, 0x84],
    ["national", 0x04, 0x40],
  ] as const) {
    it(`${variant}: B2 under 0x${seq.toString(16).padStart(2, "0")}, the same bytes 481 ms later; the reply to the first is still written`, async () => {
      // the lane's commit stalled past the dedupe window: the RSU's copy is delivered as a new frame, but
      // the reply to the first (a C6, a C8) is exactly the reply the copy asks for; refusing it stopped
      // the vehicle (second review of fix-link)
      const r = await rig(variant);
      const got = collect(r);
      await r.rsu(seq, "b2 01020304 00");
      await settle();
      await vi.advanceTimersByTimeAsync(481);
      await r.rsu(seq, "b2 01020304 00");
      await settle();
      expect(got.map((g) => g.frame.type)).toEqual(["B2", "B2"]);
      const [first] = got as [IncomingFrame];
      await first.reply(C1);
      await settle();
      expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([["C1", replySeq]]);
      expect(first.answered).toBe(true);
    });
  }
});

describe("RsuLink dedupe window: sized from the RSU's retransmission schedule", () => {
  const C2: Frame = { type: "C2", obuId: "01020304", stopType: 1 } as Frame;

  it("repeats up to 3 x 120 ms after the first sighting are absorbed, even when one of them was lost", async () => {
    const r = await rig("legacy");
    const got = collect(r);
    r.link.incoming$.subscribe((f) => void f.reply(C1));
    await r.rsu(0x18, L.b2);
    await settle();
    await vi.advanceTimersByTimeAsync(240); // the repeat at +120 was lost on the wire
    await r.rsu(0x18, L.b2);
    await settle();
    await vi.advanceTimersByTimeAsync(120);
    await r.rsu(0x18, L.b2);
    await settle();
    expect(got).toHaveLength(1);
    expect(r.link.counters.duplicates).toBe(2);
    expect(r.laneWrites.map((w) => w.frame.type)).toEqual(["C1", "C1", "C1"]);
  });

  it("the window runs from the first sighting: a repeat inside it does not stretch it", async () => {
    const r = await rig("legacy");
    const got = collect(r);
    r.link.incoming$.subscribe((f) => void f.reply(C1));
    await r.rsu(0x18, L.b2);
    await settle();
    await vi.advanceTimersByTimeAsync(360);
    await r.rsu(0x18, L.b2); // the RSU's third repeat
    await settle();
    await vi.advanceTimersByTimeAsync(121); // 481 ms after the first sighting
    await r.rsu(0x18, L.b2);
    await settle();
    expect(got).toHaveLength(2);
    expect(r.link.counters.duplicates).toBe(1);
  });

  for (const variant of ["legacy", "national"] as const) {
    const cycle =
      variant === "legacy" ? [0x08, 0x18, 0x28, 0x38, 0x48, 0x58, 0x68, 0x78] : [1, 2, 3, 4, 5, 6, 7, 8, 9];
    for (const gapMs of [70, 20]) {
      it(`${variant}: the same OBU re-read after C2 with a recycled sequence number is a new frame (re-reads ${gapMs} ms apart)`, async () => {
        const r = await rig(variant);
        const got = collect(r);
        r.link.incoming$.subscribe((f) => void f.reply(C2));
        const b2 = variant === "legacy" ? L.b2 : N.b2;
        for (const seq of [...cycle, cycle[0] as number]) {
          await r.rsu(seq, b2);
          await settle();
          await vi.advanceTimersByTimeAsync(gapMs);
        }
        // Every re-read reached the application and got its own C2: none was taken for a repeat.
        expect(got).toHaveLength(cycle.length + 1);
        expect(r.link.counters.duplicates).toBe(0);
        expect(r.link.counters.resentReplies).toBe(0);
        expect(r.laneWrites.map((w) => w.frame.type)).toEqual(Array(cycle.length + 1).fill("C2"));
      });
    }
  }

  it("the default window is the RSU's 3 repeats 120 ms apart plus one interval of margin", () => {
    expect(resolveRsuLinkOptions().dedupeWindowMs).toBe(3 * 120 + 120);
  });
});

describe("RsuLink automatic answers, per frame type (firmware-bridge/frames/answer-policy.ts)", () => {
  it("B0 allows an empty ACK: unanswered at answerDeadlineMs the link sends one, repeats get it again", async () => {
    const r = await rig("legacy", { answerDeadlineMs: 100 });
    const got = collect(r);
    await r.rsu(0x38, L.b0);
    await settle();
    await vi.advanceTimersByTimeAsync(99);
    expect(r.laneWrites).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([["ACK", 0x83]]);
    expect(r.laneWrites[0]?.hex).toBe("ffff8383ff"); // FF FF RSCTL BCC FF, BCC = RSCTL
    expect(r.link.counters.autoAcks).toBe(1);
    expect(r.link.counters.autoAnswers).toEqual({ B0: 1 });
    expect(r.link.counters.lateAnswers).toEqual({ B0: 1 });
    expect(r.warnings.some((w) => w.includes("empty ACK sent"))).toBe(true);
    expect(got[0]?.answered).toBe(true);
    await vi.advanceTimersByTimeAsync(20);
    await r.rsu(0x38, L.b0);
    await settle();
    expect(r.laneWrites.map((w) => w.frame.type)).toEqual(["ACK", "ACK"]);
    // A late application reply still goes out (the RSU may act on the command) and becomes the cache.
    await got[0]?.reply(C1);
    await settle();
    expect(r.laneWrites.map((w) => w.frame.type)).toEqual(["ACK", "ACK", "C1"]);
  });

  for (const [variant, seq, b0, reply] of [
    ["legacy", 0x38, L.b0, 0x83],
    ["national", 0x03, N.b0, 0x30],
  ] as const) {
    it(`${variant}: the application's empty ACK to a B0 the link already acknowledged writes nothing`, async () => {
      // A second ACK under the B0's reply sequence would reach the RSU as the answer to its next frame
      // (the simulator's B2 after the B0: docs/link.md "Automatic answers").
      const r = await rig(variant, { answerDeadlineMs: 100 });
      const got = collect(r);
      await r.rsu(seq, b0);
      await settle();
      await vi.advanceTimersByTimeAsync(100);
      expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([["ACK", reply]]);
      await expect(got[0]?.ack()).resolves.toMatchObject({ frame: { type: "ACK" }, seq: reply });
      await settle();
      expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([["ACK", reply]]);
      await expect(got[0]?.ack()).rejects.toMatchObject({ code: ErrorCodes.LinkAlreadyAnswered });
      // the RSU's repeat of the B0 still gets the ACK, once
      await r.rsu(seq, b0);
      await settle();
      expect(r.laneWrites.map((w) => w.frame.type)).toEqual(["ACK", "ACK"]);
    });
  }

  for (const variant of ["legacy", "national"] as const) {
    for (const type of ["B2", "B3", "B4", "B5", "B8"]) {
      it(`${variant} ${type} is never answered by the link: a late answer is counted, repeats are absorbed, the late reply goes out once`, async () => {
        const r = await rig(variant, { answerDeadlineMs: 100 });
        const got = collect(r);
        const seq = variant === "legacy" ? 0x48 : 0x04;
        const data = `${type.toLowerCase()} 01020304 00`;
        await r.rsu(seq, data);
        await settle();
        await vi.advanceTimersByTimeAsync(100);
        expect(r.laneWrites).toHaveLength(0);
        expect(r.link.counters.lateAnswers).toEqual({ [type]: 1 });
        expect(r.link.counters.autoAnswers).toEqual({});
        expect(r.link.counters.autoAcks).toBe(0);
        expect(r.warnings.some((w) => w.includes(`no answer to ${type} within 100 ms`))).toBe(true);
        expect(got[0]?.answered).toBe(false);
        // The RSU repeats while the lane is still deciding: absorbed, nothing written.
        await vi.advanceTimersByTimeAsync(20);
        await r.rsu(seq, data);
        await settle();
        expect(r.laneWrites).toHaveLength(0);
        expect(got).toHaveLength(1);
        // The application's command, however late, goes out once and answers the next repeat.
        const C2 = { type: "C2", obuId: "01020304", stopType: 1 } as Frame;
        await got[0]?.reply(C2);
        await settle();
        await vi.advanceTimersByTimeAsync(100);
        await r.rsu(seq, data);
        await settle();
        await vi.advanceTimersByTimeAsync(5000);
        expect(r.laneWrites.map((w) => w.frame.type)).toEqual(["C2", "C2"]);
        expect(r.link.counters.duplicates).toBe(2);
        expect(r.link.counters.resentReplies).toBe(1);
        expect(r.link.counters.lateAnswers).toEqual({ [type]: 1 });
      });
    }
  }
});

describe("RsuLink answer cache across a link loss", () => {
  const fastReconnect = { answerDeadlineMs: 1000, reconnect: { initialDelayMs: 10, jitter: 0 } };

  async function lossAndReconnect(r: Rig): Promise<void> {
    r.pair.unplug();
    r.pair.replug();
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(10);
    expect(r.link.state.status).toBe("up");
  }

  it("a deadline pending at the loss does not fire on the next connection", async () => {
    const r = await rig("legacy", fastReconnect);
    await r.rsu(0x18, L.b0); // B0: the one frame the link would answer with an empty ACK when late
    await settle();
    await lossAndReconnect(r);
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.laneWrites).toHaveLength(0);
    expect(r.link.counters.autoAcks).toBe(0);
    expect(r.link.counters.lateAnswers).toEqual({});
  });

  it("the same RSCTL and DATA on the next connection is a new frame, not a repeat of one before the loss", async () => {
    const r = await rig("legacy", fastReconnect);
    const got = collect(r);
    r.link.incoming$.subscribe((f) => void f.reply(C1).catch(() => undefined));
    await r.rsu(0x18, L.b2);
    await settle();
    await lossAndReconnect(r);
    await r.rsu(0x18, L.b2);
    await settle();
    expect(got).toHaveLength(2);
    expect(r.link.counters.duplicates).toBe(0);
    expect(r.link.counters.resentReplies).toBe(0);
  });

  it("a reply to a frame received before the loss is refused with LinkDown and never reaches the next connection", async () => {
    const r = await rig("legacy", fastReconnect);
    const got = collect(r);
    await r.rsu(0x28, L.b2);
    await settle();
    await lossAndReconnect(r);
    await expect(got[0]?.reply(C1)).rejects.toMatchObject({
      code: "E302_LINK_DOWN",
      details: { nothingWritten: true },
    });
    await settle();
    expect(r.laneWrites).toHaveLength(0);
  });
});

describe("RsuLink heartbeats", () => {
  it("legacy B2 heartbeats (0x80 and 0x08) are never answered nor delivered on incoming$", async () => {
    const r = await rig("legacy");
    const got = collect(r);
    const beats: string[] = [];
    r.link.heartbeat$.subscribe((h) => beats.push(h.wire.data.toString("hex")));
    await r.rsu(0x08, L.heartbeat80);
    await r.rsu(0x18, L.heartbeat08);
    await r.rsu(0x18, L.heartbeat08);
    await settle();
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.laneWrites).toHaveLength(0);
    expect(got).toHaveLength(0);
    expect(beats).toEqual(["b20000000080", "b20000000008", "b20000000008"]);
    expect(r.link.counters.heartbeats).toBe(3);
    expect(r.link.counters.autoAcks).toBe(0);
    expect(r.link.counters.autoAnswers).toEqual({});
  });

  it("a national B2 with OBUID 0 and ErrorCode 0x80 or 0x08 is no heartbeat: delivered on incoming$ as any B2", async () => {
    // docs/protocol.md §5: the B2 heartbeat is legacy; the national heartbeat is B1.
    const r = await rig("national");
    const got = collect(r);
    const beats: string[] = [];
    r.link.heartbeat$.subscribe((h) => beats.push(h.wire.data.toString("hex")));
    await r.rsu(0x01, "b2 00000000 80");
    await r.rsu(0x02, "b2 00000000 08");
    await settle();
    expect(got.map((f) => [f.frame, f.wire.seq])).toEqual([
      [{ type: "B2", obuId: "00000000", errorCode: 0x80 }, 0x01],
      [{ type: "B2", obuId: "00000000", errorCode: 0x08 }, 0x02],
    ]);
    expect(beats).toEqual([]);
    expect(r.link.counters.heartbeats).toBe(0);
  });

  it("national B1 is answered with CF status 0 and the swapped SEQ; not when answerHeartbeat is off", async () => {
    const r = await rig("national");
    await r.rsu(0x05, N.b1);
    await settle();
    expect(r.laneWrites.map((w) => [w.frame, w.seq])).toEqual([[{ type: "CF", status: 0 }, 0x50]]);
    expect(r.link.counters.autoAnswers).toEqual({ B1: 1 });
    const quiet = await rig("national", { answerHeartbeat: false });
    await quiet.rsu(0x05, N.b1);
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    expect(quiet.laneWrites).toHaveLength(0);
    expect(quiet.link.counters.heartbeats).toBe(1);
    expect(quiet.link.counters.autoAnswers).toEqual({});
  });
});

describe("RsuLink: a national B1 is a heartbeat whatever its body (docs/protocol.md §3, §7)", () => {
  /** The public sample B1 (docs/protocol.md §7): read by the reference layout, it ends before antennaNum. */
  const SAMPLE_B1 = "b1 00 11 01 00 03 00 01 00 01 00 01 00 00 02";
  const MISFIT_WARNING = /does not fit/;

  it("the public sample B1, every 10 s: counted, on heartbeat$ with its partial decode, answered with CF, misfit logged once", async () => {
    const r = await rig("national");
    const beats: Heartbeat[] = [];
    r.link.heartbeat$.subscribe((h) => beats.push(h));
    for (const seq of [0x01, 0x02, 0x03]) {
      await r.rsu(seq, SAMPLE_B1);
      await settle();
      await vi.advanceTimersByTimeAsync(10_000);
    }
    expect(r.link.state.status).toBe("up"); // 30 s of B1s only: the watchdog never tripped
    expect(r.link.counters).toMatchObject({
      heartbeats: 3,
      misfitHeartbeats: 3,
      decodeErrors: 0,
      watchdogTrips: 0,
      autoAnswers: { B1: 3 },
    });
    expect(r.laneWrites.map((w) => [w.frame, w.seq])).toEqual([
      [{ type: "CF", status: 0 }, 0x10],
      [{ type: "CF", status: 0 }, 0x20],
      [{ type: "CF", status: 0 }, 0x30],
    ]);
    expect(beats).toHaveLength(3);
    expect(beats[0]?.frame).toBeUndefined();
    expect(beats[0]?.partial).toMatchObject({
      type: "B1",
      known: true,
      missingField: "antennaNum",
      fields: { controller1Status: 0, controller2Status: 0x11, linkStatus: 1, psamNum1: 0, psamNum2: 3 },
    });
    expect(beats[0]?.wire.seq).toBe(0x01);
    expect(r.warnings.filter((w) => MISFIT_WARNING.test(w))).toHaveLength(1);
    expect(r.warnings.filter((w) => w.includes("undecodable"))).toEqual([]);
  });

  it("a misfit B1 gets no CF when answerHeartbeat is off, and is still a heartbeat", async () => {
    const r = await rig("national", { answerHeartbeat: false });
    await r.rsu(0x01, SAMPLE_B1);
    await settle();
    expect(r.laneWrites).toEqual([]);
    expect(r.link.counters).toMatchObject({ heartbeats: 1, misfitHeartbeats: 1, autoAnswers: {} });
  });

  it("a B1 that fits is not a misfit; a B2 cut short is still an undecodable frame", async () => {
    const r = await rig("national");
    await r.rsu(0x01, N.b1);
    await r.rsu(0x02, "b2 0102");
    await settle();
    expect(r.link.counters).toMatchObject({ heartbeats: 1, misfitHeartbeats: 0, decodeErrors: 1 });
    expect(r.warnings.filter((w) => MISFIT_WARNING.test(w))).toEqual([]);
  });
});

// protocol review: the legacy reference has the lane answer every RSU frame, at least with an empty ack;
// a well-framed frame of a type the catalogue does not declare went unanswered (docs/protocol.md §5)
describe("RsuLink: a legacy RSU frame of an undeclared type gets the empty ACK", () => {
  it("B1, B6, B7, B9 with a good BCC: an empty ACK each under the swapped RSCTL; still an undecodable frame, counted and logged", async () => {
    const r = await rig("legacy");
    const got = collect(r);
    await r.rsu(0x18, "b1 0102");
    await r.rsu(0x28, "b6");
    await r.rsu(0x38, "b7 01020304 00 aabb");
    await r.rsu(0x48, "b9 01020304 00 11223344");
    await settle();
    expect(r.laneWrites.map((w) => [w.frame.type, w.seq, w.hex])).toEqual([
      ["ACK", 0x81, "ffff8181ff"],
      ["ACK", 0x82, "ffff8282ff"],
      ["ACK", 0x83, "ffff8383ff"],
      ["ACK", 0x84, "ffff8484ff"],
    ]);
    expect(got).toEqual([]);
    expect(r.link.counters).toMatchObject({
      decodeErrors: 4,
      autoAnswers: { B1: 1, B6: 1, B7: 1, B9: 1 },
      autoAcks: 0,
    });
    expect(r.warnings.filter((w) => w.startsWith("undecodable frame"))).toHaveLength(4);
    // the RSU repeating one (our ACK lost) gets it again
    await r.rsu(0x38, "b7 01020304 00 aabb");
    await settle();
    expect(r.laneWrites.map((w) => w.seq)).toEqual([0x81, 0x82, 0x83, 0x84, 0x83]);
    expect(r.link.counters.autoAnswers).toMatchObject({ B7: 2 });
  });

  it("it supersedes a frame still waiting for the lane's answer under the same RSCTL: that frame's late reply is refused unwritten", async () => {
    // the ACK to the B7 took the reply RSCTL 0x84; a C6 to the B4 under it would be taken for the B7's answer
    const r = await rig("legacy");
    const got = collect(r);
    await r.rsu(0x48, "b4 01020304 00");
    await settle();
    await r.rsu(0x48, "b7 01020304 00 aabb");
    await settle();
    expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([["ACK", 0x84]]);
    const [b4] = got as [IncomingFrame];
    await expect(b4.reply(C1)).rejects.toMatchObject({
      code: "E302_LINK_DOWN",
      message: expect.stringContaining("superseded by a later B7"),
      details: { nothingWritten: true },
    });
    await settle();
    expect(r.laneWrites.map((w) => w.frame.type)).toEqual(["ACK"]);
    expect(b4.answered).toBe(false);
  });

  it("nothing for a bad BCC, for an undeclared type that is no RSU frame (not Bx), nor on a national link", async () => {
    const r = await rig("legacy");
    const bad = frameBytes("legacy", 0x18, "b7 01020304 00");
    bad[bad.length - 2] = (bad[bad.length - 2] as number) ^ 0x01; // the BCC
    await r.raw(bad);
    await r.rsu(0x28, "a7 0102");
    await settle();
    expect(r.link.counters).toMatchObject({ checksumErrors: 1, decodeErrors: 1, autoAnswers: {} });
    const n = await rig("national");
    await n.rsu(0x01, "b7 0102");
    await settle();
    expect(n.link.counters).toMatchObject({ decodeErrors: 1, autoAnswers: {} });
    expect([...r.laneWrites, ...n.laneWrites]).toEqual([]);
  });
});

describe("RsuLink RSU reboot", () => {
  it("B0 with RSCTL 0x98 is flagged and emitted on rsuRebooted$", async () => {
    const r = await rig("legacy");
    const reboots: IncomingFrame[] = [];
    r.link.rsuRebooted$.subscribe((f) => reboots.push(f));
    const all: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => all.push(f));
    await r.rsu(0x18, L.b0);
    await r.rsu(0x98, L.b0);
    await settle();
    expect(all.map((f) => f.rsuRebooted)).toEqual([false, true]);
    expect(reboots).toHaveLength(1);
    expect(r.link.counters.rsuReboots).toBe(1);
  });

  it("a reboot B0 repeated within the dedupe window (its ACK lost) is a repeat: the ACK is resent, the controller sees one", async () => {
    const r = await rig("legacy");
    const reboots: IncomingFrame[] = [];
    r.link.rsuRebooted$.subscribe((f) => {
      reboots.push(f);
      void f.ack();
    });
    const all: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => all.push(f));
    await r.rsu(0x98, L.b0);
    await settle();
    await vi.advanceTimersByTimeAsync(120);
    await r.rsu(0x98, L.b0); // byte-identical, 120 ms later: the RSU's retransmission
    await settle();
    expect([all.length, reboots.length]).toEqual([1, 1]);
    expect(r.laneWrites.map((w) => [w.frame.type, w.seq])).toEqual([
      ["ACK", 0x89],
      ["ACK", 0x89],
    ]);
    expect(r.link.counters).toMatchObject({ duplicates: 1, resentReplies: 1, rsuReboots: 1 });
  });

  it("the same reboot B0 after the dedupe window is a second reboot, delivered again", async () => {
    const r = await rig("legacy");
    const reboots: IncomingFrame[] = [];
    r.link.rsuRebooted$.subscribe((f) => {
      reboots.push(f);
      void f.ack();
    });
    await r.rsu(0x98, L.b0);
    await settle();
    await vi.advanceTimersByTimeAsync(resolveRsuLinkOptions({}).dedupeWindowMs + 1);
    await r.rsu(0x98, L.b0);
    await settle();
    expect(reboots).toHaveLength(2);
    expect(r.link.counters).toMatchObject({ duplicates: 0, rsuReboots: 2 });
  });

  it("only RSCTL 0x98 marks a reboot, for the link and the legacy codec alike", async () => {
    const r = await rig("legacy");
    const codec = createLegacyCodec(r.dialect);
    const seen: [number, boolean, boolean][] = [];
    r.link.incoming$.subscribe((f) => {
      const ev = codec.decode(f.frame, f.wire);
      seen.push([f.wire.seq, f.rsuRebooted, ev?.kind === "rsu-status" && ev.status.rebooted]);
    });
    for (const rsctl of [0x08, 0x90, 0x98, 0x9f]) {
      await r.rsu(rsctl, L.b0);
      await settle();
    }
    expect(seen).toEqual([
      [0x08, false, false],
      [0x90, false, false],
      [0x98, true, true],
      [0x9f, false, false],
    ]);
  });
});

describe("RsuLink: the 0x98 B0 answering the lane's C0 is the power-on answer, not a reboot", () => {
  const REBOOT_WARNING = /RSU rebooted/;
  const isB0 = (f: Frame): boolean => f.type === "B0";

  function watch(r: Rig): { all: IncomingFrame[]; reboots: IncomingFrame[] } {
    const all: IncomingFrame[] = [];
    const reboots: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => all.push(f));
    r.link.rsuRebooted$.subscribe((f) => reboots.push(f));
    return { all, reboots };
  }

  it("C0 by send() (as the lane sends it), answered with RSCTL 0x98: no reboot, no warning", async () => {
    const r = await rig("legacy");
    const w = watch(r);
    await r.link.send(C0_FRAME.legacy);
    await r.rsu(0x98, L.b0);
    await settle();
    expect(w.all.map((f) => [f.wire.seq, f.rsuRebooted])).toEqual([[0x98, false]]);
    expect(w.reboots).toHaveLength(0);
    expect(r.link.counters.rsuReboots).toBe(0);
    expect(r.warnings.filter((m) => REBOOT_WARNING.test(m))).toEqual([]);
  });

  it("C0 by request(), answered with RSCTL 0x98: the request gets it, no reboot counted", async () => {
    const r = await rig("legacy");
    const w = watch(r);
    const answer = r.link.request(C0_FRAME.legacy, isB0, { timeoutMs: 1000 });
    await settle();
    await r.rsu(0x98, L.b0);
    expect((await answer).wire.seq).toBe(0x98);
    expect(w.reboots).toHaveLength(0);
    expect(r.link.counters.rsuReboots).toBe(0);
    expect(r.warnings.filter((m) => REBOOT_WARNING.test(m))).toEqual([]);
  });

  it("a 0x98 B0 after the C0 was answered is a reboot: counted, warned, on rsuRebooted$", async () => {
    const r = await rig("legacy");
    const w = watch(r);
    await r.link.send(C0_FRAME.legacy);
    await r.rsu(0x98, L.b0); // the power-on answer
    await settle();
    await vi.advanceTimersByTimeAsync(resolveRsuLinkOptions({}).dedupeWindowMs + 1);
    await r.rsu(0x98, L.b0); // no C0 pending: the RSU rebooted
    await settle();
    expect(w.all.map((f) => f.rsuRebooted)).toEqual([false, true]);
    expect(w.reboots).toHaveLength(1);
    expect(r.link.counters.rsuReboots).toBe(1);
    expect(r.warnings.filter((m) => REBOOT_WARNING.test(m))).toHaveLength(1);
  });

  it("a C0 answered by an ordinary B0 leaves nothing pending: a later 0x98 B0 is a reboot", async () => {
    const r = await rig("legacy");
    const w = watch(r);
    await r.link.send(C0_FRAME.legacy);
    await r.rsu(0x18, L.b0);
    await r.rsu(0x98, L.b0);
    await settle();
    expect(w.all.map((f) => f.rsuRebooted)).toEqual([false, true]);
    expect(r.link.counters.rsuReboots).toBe(1);
  });

  it("a C0 sent before the link was lost answers nothing after it: a 0x98 B0 then is a reboot", async () => {
    const r = await rig("legacy");
    const w = watch(r);
    await r.link.send(C0_FRAME.legacy);
    r.pair.unplug();
    r.pair.replug();
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(resolveRsuLinkOptions({}).reconnect.maxDelayMs);
    expect(r.link.state.status).toBe("up");
    await r.rsu(0x98, L.b0);
    await settle();
    expect(w.all.map((f) => f.rsuRebooted)).toEqual([true]);
    expect(r.link.counters.rsuReboots).toBe(1);
  });
});

describe("RsuLink: a C0's wait for its B0 ends when the lane's does (src/lane/rsu-session.ts)", () => {
  const isB0 = (f: Frame): boolean => f.type === "B0";
  /** E205 as the serial transport rejects a failed write or drain: not marked nothing written. */
  const WRITE_FAILED = new EtcError(ErrorCodes.PortClosed, "scripted:rsu: write failed: EIO");
  /** A refusal before any byte was written (firmware-bridge/errors.ts NOTHING_WRITTEN). */
  const NOTHING = new EtcError(ErrorCodes.PortClosed, "scripted:rsu: not written", { ...NOTHING_WRITTEN });

  async function scripted() {
    const t = new ScriptedTransport();
    const link = scriptedLink(t, {}, defaultDialect("legacy"));
    await link.start();
    const rsu = async (seq: number, dataHex: string): Promise<void> => {
      t.data.next(frameBytes("legacy", seq, dataHex));
      await settle();
    };
    return { t, link, rsu };
  }

  it("a request(C0) that timed out: a later 0x98 B0 is a reboot, counted", async () => {
    const r = await rig("legacy");
    const answer = r.link.request(C0_FRAME.legacy, isB0, { timeoutMs: 100 });
    const failed = expect(answer).rejects.toMatchObject({ code: ErrorCodes.LinkTimeout });
    await vi.advanceTimersByTimeAsync(101);
    await failed;
    const seen: boolean[] = [];
    r.link.incoming$.subscribe((f) => seen.push(f.rsuRebooted));
    await r.rsu(0x98, L.b0);
    await settle();
    expect(seen).toEqual([true]);
    expect(r.link.counters.rsuReboots).toBe(1);
  });

  it("send(C0, { answerWithinMs }): a 0x98 B0 within the window answers it, one after it is a reboot", async () => {
    const r = await rig("legacy");
    const seen: boolean[] = [];
    r.link.incoming$.subscribe((f) => seen.push(f.rsuRebooted));
    await r.link.send(C0_FRAME.legacy, { answerWithinMs: 1000 });
    await vi.advanceTimersByTimeAsync(999);
    await r.rsu(0x98, L.b0);
    await settle();
    await vi.advanceTimersByTimeAsync(resolveRsuLinkOptions({}).dedupeWindowMs + 1);
    await r.link.send(C0_FRAME.legacy, { answerWithinMs: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    await r.rsu(0x98, L.b0);
    await settle();
    expect(seen).toEqual([false, true]);
    expect(r.link.counters.rsuReboots).toBe(1);
  });

  it("a C0 whose write wrote nothing awaits nothing: a 0x98 B0 then is a reboot", async () => {
    const s = await scripted();
    s.t.failWrites = NOTHING;
    await expect(s.link.send(C0_FRAME.legacy)).rejects.toBe(NOTHING);
    s.t.failWrites = undefined;
    await s.rsu(0x98, L.b0);
    expect(s.link.counters.rsuReboots).toBe(1);
  });

  it("a C0 whose write failed part-way (E205, may have written) awaits nothing either, as the lane sends another", async () => {
    const s = await scripted();
    s.t.failWrites = WRITE_FAILED;
    await expect(s.link.send(C0_FRAME.legacy)).rejects.toBe(WRITE_FAILED);
    s.t.failWrites = undefined;
    await s.rsu(0x98, L.b0);
    expect(s.link.counters.rsuReboots).toBe(1);
  });

  it("a failed write of a C0 that a later C0 followed leaves the later one awaiting its B0", async () => {
    const s = await scripted();
    s.t.failWrites = NOTHING;
    const first = s.link.send(C0_FRAME.legacy); // written at once, its rejection settles later
    s.t.failWrites = undefined;
    const second = s.link.send(C0_FRAME.legacy);
    await expect(first).rejects.toBe(NOTHING);
    await second;
    await s.rsu(0x98, L.b0); // the answer to the second C0
    expect(s.link.counters.rsuReboots).toBe(0);
  });
});

describe("RsuLink automatic answers whose write fails (docs/link.md Counters)", () => {
  /** E205 as the serial transport rejects a failed write or drain: not marked nothing written. */
  const WRITE_FAILED = new EtcError(ErrorCodes.PortClosed, "scripted:rsu: write failed: EIO");

  async function scripted(variant: "legacy" | "national", options: RsuLinkOptionsInput = {}) {
    const t = new ScriptedTransport();
    const link = scriptedLink(t, options, defaultDialect(variant));
    await link.start();
    const rsu = async (seq: number, dataHex: string): Promise<void> => {
      t.data.next(frameBytes(variant, seq, dataHex));
      await settle();
    };
    return { t, link, rsu };
  }

  it("a CF to a national B1 whose write failed is not counted as written, but as a failed answer write", async () => {
    const s = await scripted("national");
    s.t.failWrites = WRITE_FAILED;
    await s.rsu(0x05, N.b1);
    expect(s.link.counters.heartbeats).toBe(1);
    expect(s.link.counters.autoAnswers).toEqual({});
    expect(s.link.counters.failedAnswerWrites).toBe(1);
    s.t.failWrites = undefined;
    await s.rsu(0x06, N.b1);
    expect(s.link.counters.autoAnswers).toEqual({ B1: 1 });
    expect(s.link.counters.failedAnswerWrites).toBe(1);
  });

  it("an automatic ACK to a late B0 whose write failed counts in neither autoAcks nor autoAnswers", async () => {
    const s = await scripted("legacy", { answerDeadlineMs: 100 });
    s.t.failWrites = WRITE_FAILED;
    await s.rsu(0x38, L.b0);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.link.counters.lateAnswers).toEqual({ B0: 1 });
    expect(s.link.counters.autoAcks).toBe(0);
    expect(s.link.counters.autoAnswers).toEqual({});
    expect(s.link.counters.failedAnswerWrites).toBe(1);
  });

  // noticed: an automatic ACK whose write failed after the port took it (it may be out, whole or in part)
  // stayed cached, so the B0's repeat got it resent, and then the controller's ack() wrote a second ACK
  // under the same RSCTL, answering no repeat (it would reach an RSU that moved on as its next frame's answer)
  it("an automatic ACK whose write may have been written: the application's ACK writes nothing, only the RSU's repeat gets it resent", async () => {
    const s = await scripted("legacy", { answerDeadlineMs: 100 });
    const got: IncomingFrame[] = [];
    s.link.incoming$.subscribe((f) => got.push(f));
    const writes: string[] = [];
    s.t.respond = (b) => writes.push(b.toString("hex"));
    s.t.failWrites = WRITE_FAILED;
    await s.rsu(0x38, L.b0);
    await vi.advanceTimersByTimeAsync(100);
    expect(writes).toEqual(["ffff8383ff"]);
    expect(got[0]?.answered).toBe(true);
    s.t.failWrites = undefined;
    // the RSU got no whole ACK: it repeats the B0, and the cached ACK answers the repeat
    await s.rsu(0x38, L.b0);
    expect(s.link.counters.duplicates).toBe(1);
    expect(s.link.counters.resentReplies).toBe(1);
    expect(writes).toEqual(["ffff8383ff", "ffff8383ff"]);
    // the application's ACK: refused, the link's ACK may have reached the RSU (not marked nothing written)
    const e = await (got[0] as IncomingFrame).ack().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toMatchObject({ code: "E205_PORT_CLOSED" });
    expect((e as EtcError).message).toMatch(
      /^B0 \(seq 0x38\): the link's automatic ACK failed to write \(scripted:rsu: write failed: EIO\) and may have reached the RSU; not writing a second ACK \(an RSU repeat gets it resent\)$/,
    );
    expect(wroteNothing(e)).toBe(false);
    await settle();
    expect(writes).toEqual(["ffff8383ff", "ffff8383ff"]);
    // it counts as the application's answer: a further one is refused as for any frame answered twice
    await expect(got[0]?.ack()).rejects.toMatchObject({ code: "E304_LINK_ALREADY_ANSWERED" });
    // with no repeat before it, the application's ACK writes nothing either
    s.t.failWrites = WRITE_FAILED;
    await s.rsu(0x48, L.b0);
    await vi.advanceTimersByTimeAsync(100);
    s.t.failWrites = undefined;
    await expect(got[1]?.ack()).rejects.toMatchObject({ code: "E205_PORT_CLOSED" });
    await settle();
    expect(writes).toEqual(["ffff8383ff", "ffff8383ff", "ffff8484ff"]);
  });

  // review: the automatic ACK stayed cached when its write wrote nothing; the B0's repeat then got it resent,
  // and the controller's ack(), seeing the automatic ACK failed, wrote a second ACK under the same RSCTL
  it("an automatic ACK refused before any byte is not cached: the repeat is counted, the application's ACK is the one written", async () => {
    const NOTHING = new EtcError(ErrorCodes.PortClosed, "scripted:rsu: not written", { ...NOTHING_WRITTEN });
    const s = await scripted("legacy", { answerDeadlineMs: 100 });
    const got: IncomingFrame[] = [];
    s.link.incoming$.subscribe((f) => got.push(f));
    const written: string[] = [];
    s.t.respond = (b) => {
      if (s.t.failWrites === undefined) written.push(b.toString("hex"));
    };
    s.t.failWrites = NOTHING;
    await s.rsu(0x38, L.b0);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.link.counters.failedAnswerWrites).toBe(1);
    expect(got[0]?.answered).toBe(false);
    s.t.failWrites = undefined;
    await s.rsu(0x38, L.b0);
    expect(got).toHaveLength(1);
    expect(s.link.counters.duplicates).toBe(1);
    await expect(got[0]?.ack()).resolves.toMatchObject({ frame: { type: "ACK" }, seq: 0x83 });
    await settle();
    expect(written).toEqual(["ffff8383ff"]);
    expect(s.link.counters.resentReplies).toBe(0);
  });

  it("a cached reply resent for a repeat whose write failed is not counted in resentReplies", async () => {
    const s = await scripted("legacy");
    s.link.incoming$.subscribe((f) => void f.reply(C1));
    await s.rsu(0x18, L.b2);
    s.t.failWrites = WRITE_FAILED;
    await vi.advanceTimersByTimeAsync(120);
    await s.rsu(0x18, L.b2);
    expect(s.link.counters.duplicates).toBe(1);
    expect(s.link.counters.resentReplies).toBe(0);
    expect(s.link.counters.failedAnswerWrites).toBe(1);
    s.t.failWrites = undefined;
    await vi.advanceTimersByTimeAsync(120);
    await s.rsu(0x18, L.b2);
    expect(s.link.counters.resentReplies).toBe(1);
  });
});
