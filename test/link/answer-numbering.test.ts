/**
 * National: an RSU may number the B0 answering the lane's C0 with the C0's SEQ swapped (the rule the lane
 * follows for its own replies, docs/protocol.md §1) or with its own counter. Either way the answer reaches
 * the waiter, also right after the RSU announced itself with the same status bytes; a true retransmission
 * is still absorbed (docs/link.md "Lane SEQ and answers numbered after it").
 */
import { describe, expect, it } from "vitest";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { replySeq } from "../../firmware-bridge/framing/national.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { C0_FRAME, linksPerTest, N, settle } from "./harness.js";

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
