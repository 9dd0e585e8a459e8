/** RsuLink itself: request(), malformed input, options. */
import { describe, expect, it, vi } from "vitest";
import { ErrorCodes, type EtcError } from "../../firmware-bridge/errors.js";
import { encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { resolveRsuLinkOptions } from "../../firmware-bridge/link/options.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { C0_FRAME, frameBytes, L, linksPerTest, N, ScriptedTransport, settle } from "./harness.js";

const C0 = C0_FRAME.legacy;
const isB0 = (f: Frame): boolean => f.type === "B0";
const { rig, scriptedLink } = linksPerTest();

describe("RsuLink request()", () => {
  it("registers the waiter before writing: an answer pushed back inside the write is caught", async () => {
    const t = new ScriptedTransport();
    const link = scriptedLink(t);
    const writes: string[] = [];
    t.respond = (bytes) => {
      writes.push(bytes.toString("hex"));
      if (bytes[3] === 0xc0) t.data.next(frameBytes("legacy", 0x18, L.b0)); // synchronously, before resolve
    };
    await link.start();
    const seen: IncomingFrame[] = [];
    link.incoming$.subscribe((f) => seen.push(f));
    const b0 = await link.request(C0, isB0, { timeoutMs: 1000 });
    expect(b0.frame.type).toBe("B0");
    expect(seen).toEqual([b0]); // still emitted on incoming$
    expect(writes[0]?.slice(4, 6)).toBe("80"); // lane-initiated RSCTL 0x80
    await b0.ack();
    expect(writes[1]).toBe(encodeLegacy(0x81, Buffer.alloc(0)).toString("hex"));
  });

  it("times out with a message naming the command and the wait; the timer starts after the write resolved", async () => {
    const t = new ScriptedTransport();
    t.writeDelayMs = 500;
    const link = scriptedLink(t);
    await link.start();
    const p = link.request(C0, isB0, { timeoutMs: 1000 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1499);
    let settled = false;
    void p.then(() => {
      settled = true;
    });
    await settle();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const e = (await p) as EtcError;
    expect(e.code).toBe(ErrorCodes.LinkTimeout);
    expect(e.message).toBe("scripted:rsu: C0 -> B0 after 1000 ms");
    expect(link.counters.timeouts).toBe(1);
  });

  it("fails fast with LinkDown when not open, and pending requests fail on unplug", async () => {
    const r = await rig("legacy");
    const pending = r.link.request(C0, isB0, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    await settle();
    r.pair.unplug();
    const e = (await pending) as EtcError;
    expect(e.code).toBe(ErrorCodes.LinkDown);
    expect(e.message).toContain("device disconnected");
    await expect(r.link.request(C0, isB0, { timeoutMs: 1000 })).rejects.toMatchObject({
      code: ErrorCodes.LinkDown,
      details: { nothingWritten: true },
    });
    expect(r.link.counters.timeouts).toBe(0);
  });

  it("honours an AbortSignal, before and during the wait", async () => {
    const r = await rig("legacy");
    const before = new AbortController();
    before.abort();
    await expect(r.link.request(C0, isB0, { timeoutMs: 1000, signal: before.signal })).rejects.toMatchObject({
      code: ErrorCodes.LinkAborted,
    });
    const ac = new AbortController();
    const p = r.link.request(C0, isB0, { timeoutMs: 1000, signal: ac.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    ac.abort();
    expect(((await p) as EtcError).code).toBe(ErrorCodes.LinkAborted);
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1); // only the watchdog remains
  });

  it("runs requests one at a time, each matched to its own answer; national lane SEQ cycles 10, 20...", async () => {
    const r = await rig("national");
    const order: string[] = [];
    let n = 0;
    r.pair.device.data$.subscribe(() => {
      n++;
      // answer each C0 with a B0 after 30 ms
      setTimeout(() => void r.rsu(n, N.b0), 30);
    });
    const C0n = C0_FRAME.national;
    const a = r.link.request(C0n, isB0, { timeoutMs: 1000 }).then((f) => order.push(`a:${f.wire.seq}`));
    const b = r.link.request(C0n, isB0, { timeoutMs: 1000 }).then((f) => order.push(`b:${f.wire.seq}`));
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([a, b]);
    expect(order).toEqual(["a:1", "b:2"]);
    expect(r.laneWrites.filter((w) => w.frame.type === "C0").map((w) => w.seq)).toEqual([0x10, 0x20]);
    expect(encodeFrame(C0n, 0x10, r.dialect).toString("hex")).toBe(r.laneWrites[0]?.hex);
  });
});

describe("RsuLink reply path", () => {
  it("reply() hands the bytes to the transport within the call itself: nothing is queued between a frame and its answer", async () => {
    const t = new ScriptedTransport();
    const link = scriptedLink(t);
    const writes: string[] = [];
    t.respond = (bytes) => writes.push(bytes.toString("hex"));
    await link.start();
    const answeredInside: number[] = [];
    link.incoming$.subscribe((f) => {
      void f.reply({ type: "C2", obuId: "01020304", stopType: 1 } as Frame);
      answeredInside.push(writes.length); // the write already happened, synchronously
    });
    t.data.next(frameBytes("legacy", 0x18, L.b2));
    expect(answeredInside).toEqual([1]);
    expect(writes[0]).toBe(encodeLegacy(0x81, Buffer.from("c20102030401", "hex")).toString("hex"));
  });
});

describe("RsuLink malformed input", () => {
  it("bad BCC and garbage are counted and skipped; the following frames are delivered", async () => {
    const r = await rig("legacy");
    const all: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => all.push(f));
    const problems: string[] = [];
    r.link.problems$.subscribe((p) =>
      problems.push(p.kind === "discarded" ? `discarded:${p.reason}` : p.kind),
    );
    const good = frameBytes("legacy", 0x08, L.b2);
    const badBcc = Buffer.from(good);
    badBcc[badBcc.length - 2] = (badBcc[badBcc.length - 2] as number) ^ 0x01; // BCC 0x0d -> 0x0c
    await r.raw(Buffer.concat([Buffer.from("00112233", "hex"), badBcc, Buffer.from("55aa", "hex"), good]));
    await r.rsu(0x18, L.b2Other);
    await settle();
    expect(all.map((f) => [f.frame.type, f.wire.seq])).toEqual([
      ["B2", 0x08],
      ["B2", 0x18],
    ]);
    const c = r.link.counters;
    expect(c.checksumErrors).toBe(1);
    expect(c.discardedBytes).toBeGreaterThanOrEqual(6);
    expect(problems).toContain("checksum-error");
    expect(problems).toContain("discarded:noise");
    expect(c.framesIn).toBe(2);
  });
  it.each(["legacy", "national"] as const)(
    "one bad-checksum %s frame is one checksum error and one discarded run of its bytes (docs/link.md)",
    async (variant) => {
      const r = await rig(variant);
      const problems: string[] = [];
      r.link.problems$.subscribe((p) =>
        problems.push(p.kind === "discarded" ? `discarded:${p.reason}:${p.bytes.toString("hex")}` : p.kind),
      );
      const bad = frameBytes(variant, variant === "legacy" ? 0x08 : 0x02, variant === "legacy" ? L.b2 : N.b2);
      bad[bad.length - 2] = (bad[bad.length - 2] as number) ^ 0x01; // BCC, or the CRC's low byte
      await r.raw(bad);
      await settle();
      await vi.advanceTimersByTimeAsync(1000); // past the inter-byte timeout: nothing of it is left over
      // legacy: the ETX is kept as a good frame's is (it may start the next STX), never reported on its own
      const reported = variant === "legacy" ? bad.subarray(0, -1) : bad;
      expect(problems).toEqual(["checksum-error", `discarded:checksum:${reported.toString("hex")}`]);
      const c = r.link.counters;
      expect([c.checksumErrors, c.malformed, c.tooLong, c.halfFrameTimeouts]).toEqual([1, 0, 0, 0]);
      expect(c.discardedBytes).toBe(reported.length);
    },
  );
  it("an oversize national frame is counted as too long (not malformed) and the frame behind it is delivered", async () => {
    const r = await rig("national");
    const all: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => all.push(f));
    const oversize = frameBytes("national", 0x02, `b2 01020304 00 ${"11".repeat(2000)}`); // > 1024 bytes
    await r.raw(Buffer.concat([oversize, frameBytes("national", 0x03, N.b2)]));
    await settle();
    expect(all.map((f) => [f.frame.type, f.wire.seq])).toEqual([["B2", 0x03]]);
    const c = r.link.counters;
    expect(c.tooLong).toBe(1);
    expect(c.malformed).toBe(0);
    expect(c.checksumErrors).toBe(0);
    expect(c.discardedBytes).toBe(oversize.length);
  });
  it("a too-long span ends at the inter-byte timeout even with nothing held: the corrupted frame after the silence is a checksum error", async () => {
    const r = await rig("national");
    const problems: string[] = [];
    r.link.problems$.subscribe((p) =>
      problems.push(p.kind === "discarded" ? `discarded:${p.reason}` : p.kind),
    );
    // a B2 whose LEN lost its high byte to noise (0x0005 -> 0x8005): a 32 KiB span, all its bytes dropped
    const lied = frameBytes("national", 0x01, "b2 01020304");
    lied[6] = 0x80;
    await r.raw(lied);
    await settle();
    await vi.advanceTimersByTimeAsync(60_000); // silence: the link's timer ends the span
    const bad = frameBytes("national", 0x02, N.b2);
    bad[bad.length - 2] = (bad[bad.length - 2] as number) ^ 0x01; // the CRC's low byte
    await r.raw(bad);
    await settle();
    expect(problems).toEqual(["discarded:too-long", "checksum-error", "discarded:checksum"]);
    const c = r.link.counters;
    expect([c.tooLong, c.checksumErrors, c.malformed, c.halfFrameTimeouts]).toEqual([1, 1, 0, 0]);
  });
  it("a national header whose reserved LEN bytes are set is malformed, not too long", async () => {
    const r = await rig("national");
    const all: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => all.push(f));
    // FF FF, VER 0, SEQ 1, LEN 0x00010005: the top two LEN bytes are reserved (00 00) in VER 00
    await r.raw(Buffer.concat([Buffer.from("ffff000100010005", "hex"), frameBytes("national", 0x03, N.b2)]));
    await settle();
    expect(all.map((f) => f.wire.seq)).toEqual([0x03]);
    expect([r.link.counters.malformed, r.link.counters.tooLong]).toEqual([1, 0]);
  });
});

describe("RsuLink options", () => {
  it("rejects out-of-range values naming the field", () => {
    expect(() => resolveRsuLinkOptions({ missedHeartbeats: 0 })).toThrow(
      /options\.missedHeartbeats must be an integer in 1\.\.100, got 0/,
    );
    expect(() => resolveRsuLinkOptions({ reconnect: { jitter: 2 } })).toThrow(/options\.reconnect\.jitter/);
    expect(() => resolveRsuLinkOptions({ reconnect: { initialDelayMs: 1000, maxDelayMs: 500 } })).toThrow(
      /options\.reconnect\.maxDelayMs must be a number in 1000\.\.600000/,
    );
    expect(() => resolveRsuLinkOptions({ deframer: { maxFrameLength: 10 } })).toThrow(
      /deframer\.maxFrameLength/,
    );
    // NaN is neither below nor above a range: it must be refused on its own
    expect(() => resolveRsuLinkOptions({ answerDeadlineMs: Number.NaN })).toThrow(
      expect.objectContaining({
        code: ErrorCodes.ConfigInvalid,
        message: expect.stringMatching(/answerDeadlineMs/),
      }),
    );
    expect(resolveRsuLinkOptions().heartbeatPeriodMs).toBe(10_000);
  });
});
