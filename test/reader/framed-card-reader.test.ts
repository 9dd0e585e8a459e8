/**
 * The host driver over our framing, against a hand-written device on an in-process pair, with fake
 * timers: one command in flight, deadlines, WAIT extension and its cap, aborts, stale and stray replies,
 * NAK resends, statuses, card events, unplug and replug, a silent reader, writes that never complete or
 * fail, idle pings, bad input.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../../firmware-bridge/errors.js";
import { crc16x25 } from "../../firmware-bridge/framing/crc.js";
import {
  CARD_ACTIVATE,
  CARD_APDU,
  CARD_APDU_LIST,
  CARD_EVENT,
  INFO,
  PSAM_APDU,
  PSAM_RESET,
  SIGNAL,
  WAIT,
} from "../../firmware-bridge/reader/commands.js";
import { commandMayHaveRun, ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { ReaderStatus } from "../../firmware-bridge/reader/status.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { makeReaderRig, type ReaderRig, SIM_INFO, settle } from "./harness.js";

const h = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");
const rigs: ReaderRig[] = [];

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.reader.close();
  vi.useRealTimers();
});

async function rig(...args: Parameters<typeof makeReaderRig>): Promise<ReaderRig> {
  const r = await makeReaderRig(...args);
  rigs.push(r);
  return r;
}

/** The settled outcome of a promise, without an unhandled rejection while the test advances time. */
function outcome<T>(p: Promise<T>): { done: boolean; value?: T; error?: EtcError } {
  const o: { done: boolean; value?: T; error?: EtcError } = { done: false };
  p.then(
    (v) => {
      o.done = true;
      o.value = v;
    },
    (e: EtcError) => {
      o.done = true;
      o.error = e;
    },
  );
  return o;
}

describe("opening", () => {
  it("opens the port, asks INFO (SEQ 1, exact bytes) and comes up with the reader's info", async () => {
    const r = await rig({}, false);
    const p = r.reader.open();
    await settle();
    await expect(p).resolves.toEqual(SIM_INFO);
    expect(r.pair.lane.written[0]?.toString("hex")).toBe("020003010100a9be03");
    expect(r.reader.state.status).toBe("up");
    expect(r.states.map((s) => s.status)).toEqual(["stopped", "connecting", "up"]);
    expect(r.reader.info).toEqual(SIM_INFO);
  });

  it("a reader that does not answer INFO: open rejects (E807), the link is down and retries with backoff", async () => {
    const r = await rig({ timeouts: { infoMs: 300 }, reconnect: { initialDelayMs: 100, jitter: 0 } }, false);
    r.device.answerInfo = false;
    const o = outcome(r.reader.open());
    await vi.advanceTimersByTimeAsync(299);
    expect(o.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(o.error?.code).toBe(ReaderErrorCodes.LinkDown);
    expect(o.error?.message).toMatch(/did not answer INFO/);
    expect(r.reader.state.status).toBe("down");
    r.device.answerInfo = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(r.reader.state).toMatchObject({ status: "up", reason: "reconnected" });
    expect(r.device.commands.filter((c) => c.cmd === INFO.code)).toHaveLength(2);
  });

  it("a port that cannot be opened: open rejects naming the port; a later replug is picked up", async () => {
    const r = await rig({ reconnect: { initialDelayMs: 100, jitter: 0 } }, false);
    r.pair.unplug();
    const o = outcome(r.reader.open());
    await settle();
    expect(o.error?.code).toBe(ReaderErrorCodes.LinkDown);
    expect(o.error?.message).toMatch(/pair:lane-reader/);
    r.pair.replug();
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(r.reader.state.status).toBe("up");
  });
});

describe("commands", () => {
  it("CARD_APDU: the R-APDU comes back; the command is on the wire byte for byte", async () => {
    const r = await rig();
    r.device.onCommand = (f) => r.device.reply(f, 0, h("6f04840210019000"));
    await expect(r.reader.cardApdu(h("00a40000021001"))).resolves.toEqual(h("6f04840210019000"));
    expect(r.device.nonInfo[0]?.raw.toString("hex")).toBe("02000a02120000a40000021001eab803");
  });

  it("every command kind round-trips through its declaration", async () => {
    const r = await rig();
    r.device.onCommand = (f) => {
      switch (f.cmd) {
        case CARD_ACTIVATE.code:
          return r.device.reply(
            f,
            0,
            CARD_ACTIVATE.reply.encode({
              cardType: "cpu-contactless",
              uid: h("a1b2c3d4"),
              ats: h("0578807002"),
            }),
          );
        case CARD_APDU_LIST.code:
          return r.device.reply(f, 0, CARD_APDU_LIST.reply.encode([h("9000"), h("000027109000")]));
        case PSAM_RESET.code:
          return r.device.reply(f, 0, h("3b6a00"));
        case PSAM_APDU.code:
          return r.device.reply(f, 0, h("4301000000019000"));
        default:
          return r.device.reply(f, 0);
      }
    };
    await expect(r.reader.activate()).resolves.toEqual({
      cardType: "cpu-contactless",
      uid: h("a1b2c3d4"),
      ats: h("0578807002"),
    });
    await expect(r.reader.cardApduList([h("00a40000021001"), h("805c000204")])).resolves.toEqual([
      h("9000"),
      h("000027109000"),
    ]);
    await expect(r.reader.psamReset(2)).resolves.toEqual(h("3b6a00"));
    await expect(r.reader.psamApdu(2, h("00b0960006"))).resolves.toEqual(h("4301000000019000"));
    await r.reader.signal({ beep: 200, led: "green" });
    await r.reader.halt();
    const sent = r.device.nonInfo;
    expect(sent.map((c) => [c.cmd, c.p])).toEqual([
      [0x10, 0],
      [0x13, 0],
      [0x20, 2],
      [0x21, 2],
      [0x02, 0],
      [0x11, 0],
    ]);
    expect(sent[2]?.data.toString("hex")).toBe("00"); // PSAM reset: protocol auto
    expect(SIGNAL.request.decode(sent[4]!.data)).toEqual({ beepMs: 200, led: "green" });
  });

  it("one command in flight: the second is written only after the first one's reply", async () => {
    const r = await rig();
    const a = outcome(r.reader.cardApdu(h("0084000004")));
    const b = outcome(r.reader.psamApdu(1, h("00b0960006")));
    await settle();
    expect(r.device.nonInfo).toHaveLength(1);
    r.device.reply(r.device.nonInfo[0]!, 0, h("112233449000"));
    await settle();
    expect(a.value).toEqual(h("112233449000"));
    expect(r.device.nonInfo).toHaveLength(2);
    expect(r.device.nonInfo[1]?.cmd).toBe(PSAM_APDU.code);
    r.device.reply(r.device.nonInfo[1]!, 0, h("9000"));
    await settle();
    expect(b.value).toEqual(h("9000"));
  });

  it("a list's timeout is per APDU; a shorter answer (stopped at the first error) is returned as it is", async () => {
    const r = await rig({ timeouts: { cardApduMs: 100 } });
    const o = outcome(r.reader.cardApduList([h("805000000b"), h("80dcaac82b"), h("8054010000")]));
    await vi.advanceTimersByTimeAsync(299);
    expect(o.done).toBe(false);
    r.device.reply(r.device.nonInfo[0]!, 0, CARD_APDU_LIST.reply.encode([h("9401")]));
    await settle();
    expect(o.value).toEqual([h("9401")]);
  });

  it("a PSAM slot out of range is refused before anything is sent", async () => {
    const r = await rig();
    await expect(r.reader.psamApdu(0, h("00b0960006"))).rejects.toMatchObject({
      code: ReaderErrorCodes.BadRequest,
      details: { executed: "no" },
    });
    expect(r.device.nonInfo).toHaveLength(0);
  });
});

describe("statuses become reader errors that say whether the command may have run", () => {
  it.each([
    ["noCard", ReaderStatus.noCard, ReaderErrorCodes.NoCard, "no"],
    ["cardRemoved", ReaderStatus.cardRemoved, ReaderErrorCodes.CardRemoved, "unknown"],
    ["cardMute", ReaderStatus.cardMute, ReaderErrorCodes.CardMute, "unknown"],
    ["psamAbsent", ReaderStatus.psamAbsent, ReaderErrorCodes.PsamAbsent, "no"],
    ["psamMute", ReaderStatus.psamMute, ReaderErrorCodes.PsamMute, "unknown"],
    ["busy", ReaderStatus.busy, ReaderErrorCodes.Busy, "no"],
    ["unknownCommand", ReaderStatus.unknownCommand, ReaderErrorCodes.UnknownCommand, "no"],
    ["badRequest", ReaderStatus.badRequest, ReaderErrorCodes.BadRequest, "no"],
    ["an undefined status 0x7f", 0x7f, ReaderErrorCodes.BadReply, "unknown"],
  ] as const)("%s", async (_n, status, code, executed) => {
    const r = await rig();
    r.device.onCommand = (f) => r.device.reply(f, status);
    const err = (await r.reader.cardApdu(h("8054010000")).catch((e: EtcError) => e)) as EtcError;
    expect(err.code).toBe(code);
    expect(err.details?.executed).toBe(executed);
    expect(commandMayHaveRun(err)).toBe(executed === "unknown");
  });

  it("malformed reply data is a bad reply (E808), the command may have run", async () => {
    const r = await rig();
    r.device.onCommand = (f) => r.device.reply(f, 0, h("01"));
    await expect(r.reader.activate()).rejects.toMatchObject({
      code: ReaderErrorCodes.BadReply,
      details: { executed: "unknown" },
    });
  });

  it("a CARD_APDU_LIST reply whose lengths do not add up: its length and first bytes told, not a card's 0015 in it", async () => {
    const r = await rig();
    const card = "43010000000000009001";
    // SELECT's answer short, then the card's file 0015 (issuer id, type, version, number, ...) and a list
    // length one byte too long
    const data = h(
      `02 0002 9000 002d c9bdb6ab43010001 1640 ${card} 2020010120300101 ${"41".repeat(12)} 000001 9000 ff`,
    );
    r.device.onCommand = (f) => r.device.reply(f, 0, data);
    const err = (await r.reader
      .cardApduList([h("00a40000021001"), h("00b095002b")])
      .catch((e: EtcError) => e)) as EtcError;
    expect(err).toMatchObject({
      code: ReaderErrorCodes.BadReply,
      message: expect.stringContaining(
        `CARD_APDU_LIST reply data is malformed (${data.length} bytes, starting 020002)`,
      ),
      details: { executed: "unknown", length: data.length },
    });
    expect(JSON.stringify({ message: err.message, details: err.details })).not.toContain(card);
  });

  it("BAD_CHECKSUM: the command is resent under a new SEQ, up to nakRetries times, then E813", async () => {
    const r = await rig({ nakRetries: 2 });
    r.device.onCommand = (f) => r.device.reply(f, ReaderStatus.badChecksum);
    const err = (await r.reader.cardApdu(h("00a40000021001")).catch((e: EtcError) => e)) as EtcError;
    expect(err).toMatchObject({ code: ReaderErrorCodes.LineErrors, details: { executed: "no" } });
    const sent = r.device.nonInfo;
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s.seq)).size).toBe(3);
    expect(sent.every((s) => s.data.equals(h("00a40000021001")))).toBe(true);
    expect(r.reader.counters.nakResends).toBe(2);
  });

  it("BAD_CHECKSUM to a command sent with noResend: never resent, E813 executed unknown (it may have run); the next command goes out", async () => {
    const r = await rig({ nakRetries: 2 });
    r.device.onCommand = (f) => r.device.reply(f, ReaderStatus.badChecksum);
    const err = (await r.reader
      .cardApdu(h("805401000F 00000001 20250102100005 11223344 08"), undefined, { noResend: true })
      .catch((e: EtcError) => e)) as EtcError;
    expect(err).toMatchObject({
      code: ReaderErrorCodes.LineErrors,
      details: { executed: "unknown", status: "badChecksum", noResend: true },
    });
    expect(commandMayHaveRun(err)).toBe(true);
    expect(r.device.nonInfo).toHaveLength(1);
    expect(r.reader.counters.nakResends).toBe(0);
    r.device.onCommand = (f) => r.device.reply(f, 0, h("9000"));
    await expect(r.reader.cardApdu(h("00a40000021001"))).resolves.toEqual(h("9000"));
    expect(r.device.nonInfo).toHaveLength(2);
  });

  it("BAD_CHECKSUM once, then OK: the resent command's answer is the result", async () => {
    const r = await rig();
    let n = 0;
    r.device.onCommand = (f) =>
      n++ === 0 ? r.device.reply(f, ReaderStatus.badChecksum) : r.device.reply(f, 0, h("9000"));
    await expect(r.reader.cardApdu(h("00a40000021001"))).resolves.toEqual(h("9000"));
  });
});

describe("timing", () => {
  it("no reply: E806 exactly at the command's timeout, counted; executed unknown", async () => {
    const r = await rig({ timeouts: { cardApduMs: 400 } });
    const o = outcome(r.reader.cardApdu(h("8054010000")));
    await vi.advanceTimersByTimeAsync(399);
    expect(o.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.Timeout, details: { executed: "unknown" } });
    expect(o.error?.message).toMatch(/CARD_APDU \(seq 2\) got no reply after 400 ms/);
    expect(r.reader.counters.timeouts).toBe(1);
  });

  it("WAIT moves the deadline to stillWorkingMs ahead (or the reader's hint if longer)", async () => {
    const r = await rig({ timeouts: { cardApduMs: 400 }, stillWorkingMs: 1000 });
    const o = outcome(r.reader.cardApdu(h("8054010000")));
    await vi.advanceTimersByTimeAsync(300);
    const cmd = r.device.nonInfo[0]!;
    r.device.raw(encodeReaderFrame(cmd.seq, WAIT.code, 0, WAIT.encode(0)));
    await vi.advanceTimersByTimeAsync(1299 - 300);
    expect(o.done).toBe(false);
    r.device.raw(encodeReaderFrame(cmd.seq, WAIT.code, 0, WAIT.encode(3000))); // at 1299: deadline 4299
    await vi.advanceTimersByTimeAsync(4298 - 1299);
    expect(o.done).toBe(false);
    r.device.reply(cmd, 0, h("9000"));
    await settle();
    expect(o.value).toEqual(h("9000"));
    expect(r.reader.counters.waits).toBe(2);
  });

  it("WAIT frames never extend past maxCommandMs from the write", async () => {
    const r = await rig({ timeouts: { cardApduMs: 400 }, stillWorkingMs: 1000, maxCommandMs: 2500 });
    const o = outcome(r.reader.cardApdu(h("8054010000")));
    await settle();
    const cmd = r.device.nonInfo[0]!;
    for (let t = 0; t < 2400; t += 300) {
      r.device.raw(encodeReaderFrame(cmd.seq, WAIT.code, 0, WAIT.encode(0)));
      await vi.advanceTimersByTimeAsync(300);
    }
    expect(o.done).toBe(false);
    r.device.raw(encodeReaderFrame(cmd.seq, WAIT.code, 0, WAIT.encode(60_000)));
    await vi.advanceTimersByTimeAsync(2499 - 2400);
    expect(o.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(o.error?.code).toBe(ReaderErrorCodes.Timeout);
  });

  it("a list's timeout (per APDU times the count) never goes past maxCommandMs from the write", async () => {
    const r = await rig({ timeouts: { cardApduMs: 400, psamResetMs: 1000 }, maxCommandMs: 1000 });
    // 5 APDUs: 2000 ms by the per-APDU timeout, cut to 1000
    const o = outcome(r.reader.cardApduList([1, 2, 3, 4, 5].map(() => h("0084000004"))));
    await settle();
    expect(r.device.nonInfo.map((f) => f.cmd)).toEqual([CARD_APDU_LIST.code]);
    await vi.advanceTimersByTimeAsync(999);
    expect(o.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.Timeout, details: { executed: "unknown" } });
  });

  it("a WAIT for another SEQ is stray: counted, the deadline does not move", async () => {
    const r = await rig({ timeouts: { cardApduMs: 400 } });
    const o = outcome(r.reader.cardApdu(h("8054010000")));
    await vi.advanceTimersByTimeAsync(300);
    const cmd = r.device.nonInfo[0]!;
    r.device.raw(encodeReaderFrame((cmd.seq + 7) & 0xff, WAIT.code, 0, WAIT.encode(0)));
    await vi.advanceTimersByTimeAsync(100);
    expect(o.error?.code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.counters.strayWaits).toBe(1);
  });

  it("a late reply of a timed-out command (stale SEQ) is counted and dropped; the next command gets its own", async () => {
    const r = await rig({ timeouts: { cardApduMs: 400 }, silentLimit: 5 });
    const first = outcome(r.reader.cardApdu(h("8054010000")));
    await vi.advanceTimersByTimeAsync(400);
    expect(first.error?.code).toBe(ReaderErrorCodes.Timeout);
    const second = outcome(r.reader.cardApdu(h("805a000902000308")));
    await settle();
    const [old, cur] = r.device.nonInfo;
    r.device.reply(old!, 0, h("11223344aabbccdd9000")); // the late answer to the first
    await settle();
    expect(second.done).toBe(false);
    expect(r.reader.counters.staleReplies).toBe(1);
    r.device.reply(cur!, 0, h("55667788eeff00119000"));
    await settle();
    expect(second.value).toEqual(h("55667788eeff00119000"));
    expect(r.log.some((l) => /stale sequence number/.test(l.msg))).toBe(true);
  });

  it("a reply with the right SEQ and another CMD is dropped and counted", async () => {
    const r = await rig({ timeouts: { cardApduMs: 400 } });
    const o = outcome(r.reader.cardApdu(h("0084000004")));
    await settle();
    const cmd = r.device.nonInfo[0]!;
    r.device.raw(encodeReaderFrame(cmd.seq, PSAM_APDU.code, 0, h("9000")));
    await settle();
    expect(o.done).toBe(false);
    expect(r.reader.counters.mismatchedReplies).toBe(1);
    r.device.reply(cmd, 0, h("9000"));
    await settle();
    expect(o.value).toEqual(h("9000"));
  });
});

describe("aborts", () => {
  it("abort in flight: E811 at once, executed unknown; the late reply is stale", async () => {
    const r = await rig();
    const ac = new AbortController();
    const o = outcome(r.reader.cardApdu(h("8054010000"), ac.signal));
    await settle();
    ac.abort();
    await settle();
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.Aborted, details: { executed: "unknown" } });
    r.device.reply(r.device.nonInfo[0]!, 0, h("9000"));
    await settle();
    expect(r.reader.counters.staleReplies).toBe(1);
  });

  it("abort while queued: E811, executed no, never written", async () => {
    const r = await rig();
    const ac = new AbortController();
    const first = outcome(r.reader.cardApdu(h("0084000004")));
    const second = outcome(r.reader.cardApdu(h("8054010000"), ac.signal));
    await settle();
    ac.abort();
    await settle();
    expect(second.error).toMatchObject({ code: ReaderErrorCodes.Aborted, details: { executed: "no" } });
    r.device.reply(r.device.nonInfo[0]!, 0, h("9000"));
    await settle();
    expect(first.value).toEqual(h("9000"));
    expect(r.device.nonInfo).toHaveLength(1);
  });

  it("an already aborted signal: rejected before anything is sent", async () => {
    const r = await rig();
    await expect(r.reader.cardApdu(h("8054010000"), AbortSignal.abort())).rejects.toMatchObject({
      code: ReaderErrorCodes.Aborted,
      details: { executed: "no" },
    });
    expect(r.device.nonInfo).toHaveLength(0);
  });

  it("close() fails what is pending and queued, and the link is stopped", async () => {
    const r = await rig();
    const a = outcome(r.reader.cardApdu(h("8054010000")));
    const b = outcome(r.reader.cardApdu(h("0084000004")));
    await settle();
    await r.reader.close();
    expect(a.error).toMatchObject({ code: ReaderErrorCodes.Aborted, details: { executed: "unknown" } });
    expect(b.error).toMatchObject({ code: ReaderErrorCodes.Aborted, details: { executed: "no" } });
    expect(r.reader.state.status).toBe("stopped");
  });
});

describe("card events", () => {
  it("CARD_EVENT frames become cardEvents$, in order, between replies", async () => {
    const r = await rig();
    const events: string[] = [];
    r.reader.cardEvents$.subscribe((e) => events.push(e.kind));
    r.device.raw(encodeReaderFrame(0, CARD_EVENT.code, CARD_EVENT.inserted));
    r.device.onCommand = (f) => {
      r.device.reply(f, ReaderStatus.cardRemoved);
      r.device.raw(encodeReaderFrame(0, CARD_EVENT.code, CARD_EVENT.removed));
    };
    await expect(r.reader.cardApdu(h("8054010000"))).rejects.toMatchObject({
      code: ReaderErrorCodes.CardRemoved,
    });
    await settle();
    expect(events).toEqual(["inserted", "removed"]);
    expect(r.reader.counters.cardEvents).toBe(2);
  });
});

describe("unplug and replug", () => {
  it("unplug mid-command: E807 (executed unknown) at once, down, backoff retries, replug: up, commands work", async () => {
    const r = await rig({ reconnect: { initialDelayMs: 100, maxDelayMs: 400, factor: 2, jitter: 0 } });
    const o = outcome(r.reader.cardApdu(h("8054010000")));
    await settle();
    r.pair.unplug();
    await settle();
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.LinkDown, details: { executed: "unknown" } });
    expect(r.reader.state.status).toBe("down");
    // Fails fast while down; nothing hangs.
    await expect(r.reader.cardApdu(h("00a40000021001"))).rejects.toMatchObject({
      code: ReaderErrorCodes.LinkDown,
      details: { executed: "no" },
    });
    const t0 = Date.now();
    const before = r.states.length;
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 400);
    const attempts = r.states
      .slice(before)
      .filter((s) => s.status === "connecting")
      .map((s) => s.since - t0);
    expect(attempts).toEqual([100, 300, 700, 1100]);
    r.pair.replug();
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(400);
    expect(r.reader.state).toMatchObject({ status: "up", reason: "reconnected" });
    expect(r.reader.counters.reconnects).toBe(1);
    r.device.onCommand = (f) => r.device.reply(f, 0, h("9000"));
    await expect(r.reader.cardApdu(h("00a40000021001"))).resolves.toEqual(h("9000"));
  });

  it("a half frame from before the unplug is dropped on reconnect, not glued to new bytes", async () => {
    const r = await rig({ reconnect: { initialDelayMs: 100, jitter: 0 }, interByteTimeoutMs: 5000 });
    const half = encodeReaderFrame(9, CARD_APDU.code, 0, h("9000")).subarray(0, 5);
    r.device.raw(half);
    await settle();
    r.pair.unplug();
    await settle();
    r.pair.replug();
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(r.reader.state.status).toBe("up");
    expect(r.reader.counters.truncated).toBe(1);
  });

  it("a silent reader: after silentLimit unanswered commands the link goes down and reconnects", async () => {
    const r = await rig({
      timeouts: { cardApduMs: 200, infoMs: 200 },
      silentLimit: 2,
      reconnect: { initialDelayMs: 100, jitter: 0 },
    });
    r.device.answerInfo = false;
    const a = outcome(r.reader.cardApdu(h("0084000004")));
    await vi.advanceTimersByTimeAsync(200);
    expect(a.error?.code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.state.status).toBe("up");
    const b = outcome(r.reader.cardApdu(h("0084000004")));
    await vi.advanceTimersByTimeAsync(200);
    expect(b.error?.code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.state).toMatchObject({
      status: "down",
      reason: "reader silent: 2 command(s) in a row unanswered",
    });
    expect(r.reader.counters.silentTrips).toBe(1);
    r.device.answerInfo = true;
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(r.reader.state.status).toBe("up");
  });

  it("a timeout that trips silentLimit takes the link down before the next queued command is sent: a queued DEBIT is never written (E807, executed no)", async () => {
    const r = await rig({
      timeouts: { cardApduMs: 200 },
      silentLimit: 1,
      reconnect: { initialDelayMs: 1000, jitter: 0 },
    });
    const debit = h("805401000f 00000001 20250102 100005 11223344 08");
    const a = outcome(r.reader.cardApdu(h("0084000004")));
    const b = outcome(r.reader.cardApdu(debit));
    await settle();
    await vi.advanceTimersByTimeAsync(200);
    expect(a.error).toMatchObject({ code: ReaderErrorCodes.Timeout, details: { executed: "unknown" } });
    expect(b.error).toMatchObject({ code: ReaderErrorCodes.LinkDown, details: { executed: "no" } });
    expect(r.reader.state).toMatchObject({
      status: "down",
      reason: "reader silent: 1 command(s) in a row unanswered",
    });
    expect(r.device.nonInfo.map((f) => f.data.toString("hex"))).toEqual(["0084000004"]);
  });

  it("a timeout that does not trip silentLimit sends the next queued command", async () => {
    const r = await rig({ timeouts: { cardApduMs: 200 }, silentLimit: 2 });
    const a = outcome(r.reader.cardApdu(h("0084000004")));
    const b = outcome(r.reader.cardApdu(h("0084000008")));
    await settle();
    await vi.advanceTimersByTimeAsync(200);
    expect(a.error?.code).toBe(ReaderErrorCodes.Timeout);
    expect(b.done).toBe(false);
    expect(r.device.nonInfo.map((f) => f.data.toString("hex"))).toEqual(["0084000004", "0084000008"]);
    expect(r.reader.state.status).toBe("up");
  });

  it("any reply clears the silence count", async () => {
    const r = await rig({ timeouts: { cardApduMs: 200 }, silentLimit: 2 });
    const a = outcome(r.reader.cardApdu(h("0084000004")));
    await vi.advanceTimersByTimeAsync(200);
    expect(a.error?.code).toBe(ReaderErrorCodes.Timeout);
    r.device.onCommand = (f) => r.device.reply(f, 0, h("9000"));
    await r.reader.cardApdu(h("0084000004"));
    r.device.onCommand = undefined;
    const c = outcome(r.reader.cardApdu(h("0084000004")));
    await vi.advanceTimersByTimeAsync(200);
    expect(c.error?.code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.state.status).toBe("up");
  });
});

/**
 * The reader's port as the driver sees it, with its writes made to misbehave: "hang" never completes and
 * passes nothing on (the reader stopped reading, a port pushing back); "fail-after" passes every byte on
 * and then rejects, unmarked (serial.ts's drain that failed after the write); "refuse" rejects before any
 * byte, marked nothingWritten (a port that is not open); "drain-late" passes every byte on and resolves
 * only when the test calls `drained()` (a drain that reports late).
 */
class FaultyWrites implements Transport {
  mode: "pass" | "hang" | "fail-after" | "refuse" | "drain-late" = "pass";
  /** Frames the driver handed to write() while hanging. */
  readonly hung: Buffer[] = [];
  private readonly draining: (() => void)[] = [];
  /** Resolves the "drain-late" writes made so far. */
  drained(): void {
    for (const done of this.draining.splice(0)) done();
  }
  constructor(private readonly inner: Transport) {}
  get name(): string {
    return this.inner.name;
  }
  get data$() {
    return this.inner.data$;
  }
  get state$() {
    return this.inner.state$;
  }
  get status() {
    return this.inner.status;
  }
  open(): Promise<void> {
    return this.inner.open();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  async write(bytes: Buffer): Promise<void> {
    if (this.mode === "hang") {
      this.hung.push(bytes);
      return new Promise<void>(() => {});
    }
    if (this.mode === "refuse") {
      throw new EtcError(ErrorCodes.PortClosed, `${this.name}: write while closed`, NOTHING_WRITTEN);
    }
    await this.inner.write(bytes);
    if (this.mode === "drain-late") {
      await new Promise<void>((resolve) => this.draining.push(resolve));
      return;
    }
    if (this.mode === "fail-after") {
      throw new EtcError(ErrorCodes.PortClosed, `${this.name}: drain failed: Port is not open`);
    }
  }
}

async function faultyRig(
  options: Parameters<typeof makeReaderRig>[0],
  open = true,
): Promise<ReaderRig & { port: FaultyWrites }> {
  let port: FaultyWrites | undefined;
  const r = await rig(options, open, (lane) => {
    port = new FaultyWrites(lane);
    return port;
  });
  return { ...r, port: port as FaultyWrites };
}

/** A DEBIT (80 54 01 00 0F: transaction serial, date and time, MAC1; Le 08), as the booth sends it. */
const DEBIT = h("805401000F 00000001 20250102100005 11223344 08");

describe("writes that never complete or fail", () => {
  it("a WAIT that arrives before the write's promise resolved moves the deadline; the write's completion keeps it", async () => {
    const r = await faultyRig({ timeouts: { cardApduMs: 1000 }, stillWorkingMs: 1000 });
    r.port.mode = "drain-late";
    const debit = outcome(r.reader.cardApdu(DEBIT));
    await settle();
    const cmd = r.device.nonInfo[0]!;
    r.device.raw(encodeReaderFrame(cmd.seq, WAIT.code, 0, WAIT.encode(3000))); // at 0: deadline 3000
    await vi.advanceTimersByTimeAsync(500);
    r.port.drained(); // written at 500: its own deadline would be 1500
    await vi.advanceTimersByTimeAsync(2999 - 500);
    expect(debit.done).toBe(false);
    r.device.reply(cmd, 0, h("11223344 55667788 9000"));
    await settle();
    expect(debit.value).toEqual(h("11223344 55667788 9000"));
    expect(r.reader.counters).toMatchObject({ waits: 1, strayWaits: 0, timeouts: 0 });
  });

  it("a DEBIT whose write never completes times out (E806, executed unknown) at twice its timeout and counts as silence", async () => {
    const r = await faultyRig({
      timeouts: { cardApduMs: 400, infoMs: 200 },
      silentLimit: 2,
      reconnect: { initialDelayMs: 100, jitter: 0 },
    });
    r.port.mode = "hang";
    const debit = outcome(r.reader.cardApdu(DEBIT));
    const queued = outcome(r.reader.cardApdu(h("0084000004")));
    await settle();
    expect(r.port.hung).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(799);
    expect(debit.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(debit.error).toMatchObject({
      code: ReaderErrorCodes.Timeout,
      details: { executed: "unknown", writePending: true },
    });
    expect(commandMayHaveRun(debit.error)).toBe(true);
    expect(debit.error?.message).toMatch(
      /CARD_APDU \(seq 2\) timed out after 800 ms: the port did not take the frame/,
    );
    expect(r.reader.counters.timeouts).toBe(1);
    expect(r.reader.state.status).toBe("up");
    // The command queued behind it is written next; its write hangs too: the second silence in a row
    // takes the link down, and it reconnects once the port takes writes again.
    expect(queued.done).toBe(false);
    await vi.advanceTimersByTimeAsync(800);
    expect(queued.error).toMatchObject({ code: ReaderErrorCodes.Timeout, details: { executed: "unknown" } });
    expect(r.reader.state).toMatchObject({
      status: "down",
      reason: "reader silent: 2 command(s) in a row unanswered",
    });
    expect(r.reader.counters.silentTrips).toBe(1);
    r.port.mode = "pass";
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(r.reader.state).toMatchObject({ status: "up", reason: "reconnected" });
    r.device.onCommand = (f) => r.device.reply(f, 0, h("9000"));
    await expect(r.reader.cardApdu(h("0084000004"))).resolves.toEqual(h("9000"));
  });

  it("the write allowance never takes a command past maxCommandMs", async () => {
    // psamResetMs (default 1500) must be at most maxCommandMs too
    const r = await faultyRig({ timeouts: { cardApduMs: 800, psamResetMs: 1000 }, maxCommandMs: 1000 });
    r.port.mode = "hang";
    const o = outcome(r.reader.cardApdu(DEBIT));
    await vi.advanceTimersByTimeAsync(999);
    expect(o.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(o.error?.code).toBe(ReaderErrorCodes.Timeout);
  });

  it("the INFO probe of a (re)connect whose write never completes: open rejects (E807), the link is down and retries", async () => {
    const r = await faultyRig(
      { timeouts: { infoMs: 300 }, reconnect: { initialDelayMs: 100, jitter: 0 } },
      false,
    );
    r.port.mode = "hang";
    const o = outcome(r.reader.open());
    await vi.advanceTimersByTimeAsync(599);
    expect(o.done).toBe(false);
    expect(r.reader.state.status).toBe("connecting");
    await vi.advanceTimersByTimeAsync(1);
    expect(o.error?.code).toBe(ReaderErrorCodes.LinkDown);
    expect(o.error?.message).toMatch(/did not answer INFO: .*the port did not take the frame/);
    expect(r.reader.state.status).toBe("down");
    r.port.mode = "pass";
    await r.pair.device.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(r.reader.state).toMatchObject({ status: "up", reason: "reconnected" });
  });

  it("a write that failed after its bytes went out: E807, executed unknown (the reader has the frame)", async () => {
    // the port died as the frame drained: the reader has it, its answer never comes
    const r = await faultyRig({});
    r.port.mode = "fail-after";
    const o = outcome(r.reader.cardApdu(DEBIT));
    await settle();
    expect(r.device.nonInfo.map((f) => f.data)).toEqual([DEBIT]);
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.LinkDown, details: { executed: "unknown" } });
    expect(commandMayHaveRun(o.error)).toBe(true);
    expect(o.error?.message).toMatch(/the write failed, the reader may have received it: .*drain failed/);
  });

  it("a write refused before any byte (nothingWritten): E807, executed no", async () => {
    const r = await faultyRig({});
    r.port.mode = "refuse";
    const o = outcome(r.reader.cardApdu(DEBIT));
    await settle();
    expect(r.device.nonInfo).toHaveLength(0);
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.LinkDown, details: { executed: "no" } });
    expect(commandMayHaveRun(o.error)).toBe(false);
    expect(o.error?.message).toMatch(/CARD_APDU not sent: .*write while closed/);
  });

  it("a resend after BAD_CHECKSUM refused before any byte: executed no (the NAKed attempt ran nothing)", async () => {
    const r = await faultyRig({});
    r.device.onCommand = (f) => {
      r.port.mode = "refuse";
      r.device.reply(f, ReaderStatus.badChecksum);
    };
    const o = outcome(r.reader.cardApdu(DEBIT));
    await settle();
    expect(r.device.nonInfo.map((f) => f.data)).toEqual([DEBIT]);
    expect(r.reader.counters.nakResends).toBe(1);
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.LinkDown, details: { executed: "no" } });
    expect(commandMayHaveRun(o.error)).toBe(false);
    expect(o.error?.message).toMatch(/CARD_APDU not sent: .*write while closed/);
  });

  it("a resend after BAD_CHECKSUM whose write failed after its bytes went out: executed unknown", async () => {
    const r = await faultyRig({});
    r.device.onCommand = (f) => {
      if (r.port.mode === "pass") {
        r.port.mode = "fail-after";
        r.device.reply(f, ReaderStatus.badChecksum);
      }
    };
    const o = outcome(r.reader.cardApdu(DEBIT));
    await settle();
    expect(r.device.nonInfo.map((f) => f.data)).toEqual([DEBIT, DEBIT]);
    expect(o.error).toMatchObject({ code: ReaderErrorCodes.LinkDown, details: { executed: "unknown" } });
    expect(commandMayHaveRun(o.error)).toBe(true);
  });
});

describe("idle pings", () => {
  it("an idle reader is probed with INFO every pingIntervalMs; a dead one goes down without a command", async () => {
    const r = await rig({
      pingIntervalMs: 1000,
      timeouts: { infoMs: 200 },
      silentLimit: 1,
      reconnect: { initialDelayMs: 5000, jitter: 0 },
    });
    const infos = () => r.device.commands.filter((c) => c.cmd === INFO.code).length;
    expect(infos()).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(infos()).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(infos()).toBe(3);
    r.device.answerInfo = false;
    await vi.advanceTimersByTimeAsync(1000 + 200);
    expect(r.reader.state).toMatchObject({ status: "down" });
    expect(r.reader.counters.pings).toBe(3);
  });

  it("no ping while commands keep the reader busy", async () => {
    const r = await rig({ pingIntervalMs: 1000 });
    r.device.onCommand = (f) => setTimeout(() => r.device.reply(f, 0, h("9000")), 600);
    for (let i = 0; i < 3; i++) {
      const o = outcome(r.reader.cardApdu(h("0084000004")));
      await vi.advanceTimersByTimeAsync(600);
      expect(o.value).toEqual(h("9000"));
    }
    expect(r.device.commands.filter((c) => c.cmd === INFO.code)).toHaveLength(1);
  });
});

describe("bad input on the reader port", () => {
  it("noise, a corrupted reply, an oversize length and a truncated frame are counted, logged and skipped", async () => {
    const r = await rig({ maxFrameLength: 512, interByteTimeoutMs: 50, timeouts: { cardApduMs: 1000 } });
    const o = outcome(r.reader.cardApdu(h("00a40000021001")));
    await settle();
    const cmd = r.device.nonInfo[0]!;
    const good = encodeReaderFrame(cmd.seq, cmd.cmd, 0, h("9000"));
    const corrupted = Buffer.from(good);
    corrupted[7] = (corrupted[7] as number) ^ 0xff;
    r.device.raw(Buffer.concat([h("ffff55"), corrupted]));
    await settle();
    r.device.raw(good.subarray(0, 4)); // then silence: truncated
    await vi.advanceTimersByTimeAsync(60);
    expect(o.done).toBe(false);
    // An oversize header, after the cut-short frame: the bytes it announces are its own as they come, up
    // to the first good frame or a pause of the inter-byte timeout, so the cut-short frame right behind it
    // would be part of it, not truncated (docs/reader.md §2.2).
    r.device.raw(h("02 7fff 05 12 00"));
    await settle();
    r.device.raw(good);
    await settle();
    expect(o.value).toEqual(h("9000"));
    // Every injected byte is discarded, none of the good frame. The command's SEQ is 02, so when the
    // corrupted frame and the cut one are rescanned from their second byte, their SEQ byte opens one more
    // (false) candidate each, which fails inside them and is part of them: not counted, not noise
    // (docs/reader.md §2.2).
    expect(r.reader.counters).toMatchObject({
      discardedBytes: 3 + corrupted.length + 6 + 4,
      noiseBytes: 3,
      checksumErrors: 1,
      oversize: 1,
      truncated: 1,
      frames: 2,
    });
    const warned = r.log
      .filter((l) => l.level === "warn" && l.msg === "bytes discarded")
      .map((l) => (l.obj as { reason: string }).reason);
    expect(new Set(warned)).toEqual(new Set(["noise", "checksum", "oversize", "truncated"]));
    // the checksum warning names the CRC the frame carried and the one its bytes gave
    const crcAt = good.length - 3;
    const badCrc = r.log.find(
      (l) => l.msg === "bytes discarded" && (l.obj as { reason: string }).reason === "checksum",
    );
    expect(badCrc?.obj).toMatchObject({
      crcFrame: good.readUInt16BE(crcAt).toString(16).padStart(4, "0"),
      crcComputed: crc16x25(corrupted, 1, crcAt).toString(16).padStart(4, "0"),
    });
  });

  it("every byte in and out is on the wire log (debug, channel READER) with hex and the frame's name", async () => {
    const r = await rig();
    r.device.onCommand = (f) => r.device.reply(f, 0, h("9000"));
    await r.reader.cardApdu(h("00a40000021001"));
    const wire = r.log.filter((l) => l.level === "debug" && (l.msg === "tx" || l.msg === "rx"));
    expect(wire.map((l) => (l.obj as { what: string }).what)).toEqual([
      "INFO seq 1",
      "INFO seq 1 ok",
      "CARD_APDU seq 2",
      "CARD_APDU seq 2 ok",
    ]);
    expect((wire[2]!.obj as { hex: string }).hex).toBe("02000a02120000a40000021001eab803");
  });
});

describe("a line that echoes what the host writes (loopback plug, RS-485 local echo)", () => {
  /** Every byte the host writes comes back to it, ahead of any reply; `reader`: the device answers too. */
  function echoLine(r: ReaderRig, reader: boolean): void {
    r.device.answerInfo = false;
    r.device.onCommand = reader
      ? (f) => {
          // the reader's reply follows the echo on the line
          void Promise.resolve().then(() => {
            if (f.cmd === INFO.code) r.device.reply(f, 0, INFO.reply.encode(SIM_INFO));
            else if (f.cmd === PSAM_APDU.code) r.device.reply(f, 0, h("9000"));
          });
        }
      : undefined;
    r.pair.device.data$.subscribe((b) => r.device.raw(Buffer.from(b)));
  }

  it("no reader behind it: the echoed INFO is not taken as its reply; open fails naming the echo", async () => {
    const r = await rig({ timeouts: { infoMs: 300 }, reconnect: { initialDelayMs: 100, jitter: 0 } }, false);
    echoLine(r, false);
    const o = outcome(r.reader.open());
    await vi.advanceTimersByTimeAsync(300);
    expect(o.error?.code).toBe(ReaderErrorCodes.LinkDown);
    expect(o.error?.message).toMatch(
      /did not answer INFO: .*our own frame came back 1 time\(s\): the line echoes/,
    );
    expect(o.error?.message).not.toMatch(/malformed/);
    expect(r.reader.counters).toMatchObject({ echoes: 1, replies: 0, staleReplies: 0 });
    expect(r.reader.state.reason).toMatch(/line echoes what we send/);
    const warns = r.log.filter((l) => l.level === "warn" && /echoes our own frames/.test(l.msg));
    expect(warns).toHaveLength(1);
  });

  it("a reader behind it: its replies are taken, the echoes dropped; a PSAM slot 1 echo is not read as NO_CARD", async () => {
    const r = await rig({}, false);
    echoLine(r, true);
    const p = r.reader.open();
    await settle();
    await expect(p).resolves.toEqual(SIM_INFO);
    await expect(r.reader.psamApdu(1, h("00b0960006"))).resolves.toEqual(h("9000"));
    expect(r.reader.counters).toMatchObject({ echoes: 2, replies: 2, staleReplies: 0, statuses: {} });
    expect(r.log.filter((l) => l.level === "warn" && /echoes our own frames/.test(l.msg))).toHaveLength(1);
  });

  it("an echo that starts while up: the silent link goes down with a reason naming the echo", async () => {
    const r = await rig({
      timeouts: { cardApduMs: 200 },
      silentLimit: 2,
      reconnect: { initialDelayMs: 100 },
    });
    echoLine(r, false);
    const a = outcome(r.reader.cardApdu(h("0084000004")));
    await vi.advanceTimersByTimeAsync(200);
    expect(a.error?.code).toBe(ReaderErrorCodes.Timeout);
    expect(a.error?.message).toMatch(/got no reply after 200 ms; our own frame came back 1 time\(s\)/);
    const b = outcome(r.reader.cardApdu(h("0084000004")));
    await vi.advanceTimersByTimeAsync(200);
    expect(b.error?.code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.state).toMatchObject({
      status: "down",
      reason:
        "reader silent: 2 command(s) in a row unanswered; our own frames came back 2 time(s): the line echoes what we send (a loopback plug, RS-485 local echo?)",
    });
  });
});

describe("open() while opening", () => {
  it("a second open() during the first attempt shares it; once up it returns the info at once", async () => {
    const r = await rig({}, false);
    const a = r.reader.open();
    const b = r.reader.open();
    await settle();
    await expect(a).resolves.toEqual(SIM_INFO);
    await expect(b).resolves.toEqual(SIM_INFO);
    await expect(r.reader.open()).resolves.toEqual(SIM_INFO);
    expect(r.device.commands.filter((c) => c.cmd === INFO.code)).toHaveLength(1);
  });
});
