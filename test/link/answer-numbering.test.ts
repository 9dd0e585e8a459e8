/**
 * An RSU may number the B0 answering the lane's C0 with the C0's SEQ/RSCTL swapped (the rule the lane
 * follows for its own replies, docs/protocol.md §1) or with its own counter. Either way the answer reaches
 * the waiter, also right after the RSU announced itself with the same status bytes; a true retransmission
 * is still absorbed (docs/link.md "Lane SEQ and answers numbered after it"). National skips a lane SEQ;
 * legacy, whose lane RSCTL is always 0x80, holds the C0 until the window has passed.
 */
import { describe, expect, it, vi } from "vitest";
import { type EtcError, wroteNothing } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { replySeq } from "../../firmware-bridge/framing/national.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { C0_FRAME, L, linksPerTest, N, settle } from "./harness.js";

const C0 = C0_FRAME.national;
const isB0 = (f: Frame): boolean => f.type === "B0";
const { rig } = linksPerTest();

describe("national: the B0 answering C0, after the RSU announced itself with SEQ 01", () => {
  it("an RSU answering with the C0's swapped SEQ: the answer reaches the waiter; the C0 skipped SEQ 10", async () => {
    const r = await rig("national");
    const got: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => {
      got.push(f);
      void f.ack();
    });
    await r.rsu(0x01, N.b0); // power-on or a new connection: the RSU announces itself
    await settle();
    const answer = r.link.request(C0, isB0, { timeoutMs: 1000 });
    await settle();
    const c0 = r.laneWrites.find((w) => w.frame.type === "C0");
    expect(c0?.seq).toBe(0x20); // 10 would make the mirrored answer SEQ 01, the announcement's
    await r.rsu(replySeq(c0?.seq ?? 0), N.b0); // the same status bytes, numbered after the C0
    await settle();
    const b0 = await answer;
    expect(b0.wire.seq).toBe(0x02);
    expect(got).toHaveLength(2);
    expect(r.link.counters).toMatchObject({ duplicates: 0, resentReplies: 0 });
  });

  it("the announcement repeated (our ACK lost) is still a repeat, not the answer", async () => {
    const r = await rig("national");
    r.link.incoming$.subscribe((f) => void f.ack());
    await r.rsu(0x01, N.b0);
    await settle();
    let answered = false;
    const answer = r.link.request(C0, isB0, { timeoutMs: 1000 }).then((b0) => {
      answered = true;
      return b0;
    });
    await r.rsu(0x01, N.b0); // the RSU repeating its announcement within the window
    await settle();
    expect(answered).toBe(false);
    expect(r.link.counters).toMatchObject({ duplicates: 1, resentReplies: 1 });
    await r.rsu(0x03, N.b0); // an RSU with its own counter answers under its next SEQ
    await settle();
    expect((await answer).wire.seq).toBe(0x03);
  });

  it("nothing received lately: the lane SEQs cycle 10, 20 ... as before", async () => {
    const r = await rig("national");
    for (let i = 0; i < 3; i++) await r.link.send(C0);
    await settle();
    expect(r.laneWrites.map((w) => w.seq)).toEqual([0x10, 0x20, 0x30]);
  });
});

// review r2 (finding 2): legacy always sends 0x80, so a mirroring RSU answers 08, the RSCTL it announced
// itself with; the answer was absorbed as the announcement's repeat and the C0 timed out
describe("legacy: the B0 answering C0 (0x80) mirrored as 08, after the RSU announced itself with 08", () => {
  const LC0 = C0_FRAME.legacy;
  const WINDOW = 480; // dedupeWindowMs default

  it("the C0 is held until the window has passed; the mirrored answer then reaches the waiter", async () => {
    const r = await rig("legacy");
    const got: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => {
      got.push(f);
      void f.ack();
    });
    await r.rsu(0x08, L.b0); // a new connection without a reboot: the RSU announces itself
    await settle();
    const t0 = Date.now();
    const answer = r.link.request(LC0, isB0, { timeoutMs: 1000 });
    await settle();
    expect(r.laneWrites.filter((w) => w.frame.type === "C0")).toEqual([]);
    await vi.advanceTimersByTimeAsync(WINDOW + 1);
    const c0 = r.laneWrites.filter((w) => w.frame.type === "C0");
    expect(c0.map((w) => [w.seq, w.at - t0])).toEqual([[0x80, WINDOW + 1]]);
    await r.rsu(0x08, L.b0); // the same status bytes, numbered after the C0
    await settle();
    expect((await answer).wire.seq).toBe(0x08);
    expect(got).toHaveLength(2);
    expect(r.link.counters).toMatchObject({ duplicates: 0, resentReplies: 0 });
  });

  it("the announcement repeated while the C0 is held (our ACK lost) is still a repeat, not the answer", async () => {
    const r = await rig("legacy");
    r.link.incoming$.subscribe((f) => void f.ack());
    await r.rsu(0x08, L.b0);
    await settle();
    let answered = false;
    const answer = r.link.request(LC0, isB0, { timeoutMs: 1000 }).then((b0) => {
      answered = true;
      return b0;
    });
    await vi.advanceTimersByTimeAsync(200);
    await r.rsu(0x08, L.b0); // the RSU repeating its announcement within the window
    await settle();
    expect(answered).toBe(false);
    expect(r.link.counters).toMatchObject({ duplicates: 1, resentReplies: 1 });
    await vi.advanceTimersByTimeAsync(WINDOW);
    await r.rsu(0x08, L.b0);
    await settle();
    expect((await answer).wire.seq).toBe(0x08);
  });

  it("a power-on announcement (98) or a frame of another type under 08: the C0 goes out at once", async () => {
    const r = await rig("legacy");
    r.link.incoming$.subscribe((f) => void f.ack());
    await r.rsu(0x98, L.b0);
    await r.rsu(0x08, L.b2); // an OBU frame under 08 cannot be a C0's answer
    await settle();
    void r.link.send(LC0);
    await settle();
    expect(r.laneWrites.filter((w) => w.frame.type === "C0").map((w) => w.seq)).toEqual([0x80]);
  });

  it("frames sent while the C0 is held go out after it, in order; a link stopped meanwhile sends nothing", async () => {
    const r = await rig("legacy");
    r.link.incoming$.subscribe((f) => void f.ack());
    await r.rsu(0x08, L.b0);
    await settle();
    const c4 = { type: "C4", controlType: 1 } as Frame;
    const sends = [r.link.send(LC0), r.link.send(c4)];
    await settle();
    expect(r.laneWrites.filter((w) => w.frame.type !== "ACK")).toEqual([]);
    await vi.advanceTimersByTimeAsync(WINDOW + 1);
    await Promise.all(sends);
    expect(r.laneWrites.filter((w) => w.frame.type !== "ACK").map((w) => w.frame.type)).toEqual(["C0", "C4"]);

    const r2 = await rig("legacy");
    r2.link.incoming$.subscribe((f) => void f.ack());
    await r2.rsu(0x08, L.b0);
    await settle();
    const held = r2.link.send(LC0).catch((e: Error) => e.message);
    await r2.link.stop();
    await vi.advanceTimersByTimeAsync(WINDOW + 1);
    expect(await held).toMatch(/C0 not sent: the RSU link was lost or stopped while it was held/);
    expect(r2.laneWrites.filter((w) => w.frame.type === "C0")).toEqual([]);
  });

  // review: the link lost while a request(C0) was held rejected it with an unmarked E302, as if the C0 may
  // have reached the RSU (docs/link.md "Refused before any byte was written")
  it("request(C0) held when the link is lost (or stopped) rejects marked nothing-written; one written already does not", async () => {
    for (const end of ["lost", "stopped"] as const) {
      const r = await rig("legacy");
      r.link.incoming$.subscribe((f) => void f.ack());
      await r.rsu(0x08, L.b0);
      await settle();
      const held = r.link.request(LC0, isB0, { timeoutMs: 1000 }).catch((e: unknown) => e);
      await settle();
      if (end === "lost") r.pair.unplug();
      else await r.link.stop();
      await settle();
      expect(await held).toMatchObject({
        code: end === "lost" ? "E302_LINK_DOWN" : "E303_LINK_ABORTED",
        message: expect.stringContaining("C0 not sent: it was still held"),
        details: { nothingWritten: true },
      });
      await vi.advanceTimersByTimeAsync(WINDOW + 1);
      expect(r.laneWrites.filter((w) => w.frame.type === "C0")).toEqual([]);
    }

    // a C0 written (no announcement to hold it for) and then lost while waiting for its B0: not marked
    const r = await rig("legacy");
    const sent = r.link.request(LC0, isB0, { timeoutMs: 1000 }).catch((e: unknown) => e);
    await settle();
    expect(r.laneWrites.filter((w) => w.frame.type === "C0")).toHaveLength(1);
    r.pair.unplug();
    await settle();
    const e = (await sent) as EtcError;
    expect(e.code).toBe("E302_LINK_DOWN");
    expect(wroteNothing(e)).toBe(false);
  });
});
