/**
 * The card watch during a recovery (src/booth/recover.ts) against a reader whose card events race its
 * answers: the collector puts the original card back while a read (or the evidence) is being answered
 * "no card" / "card removed", or while another card is read. The card-inserted event is handled first
 * (card-loop.ts onCardEvent: the watch "present", the booth's event generation moved), then the stale
 * answer: it must not mark the card absent (the booth then showed 请放回原卡 with the card on the reader
 * and wrote BOOTH_DEBIT_UNCONFIRMED at the deadline instead of proving the debit).
 *
 * And the card event that put the card back (or took the other card away) lost on the line: while it
 * waits, the recovery asks the reader every second (a bare activate) whether a card lies on it (before,
 * it waited for an event until the deadline and wrote BOOTH_DEBIT_UNCONFIRMED with the card on the reader).
 *
 * readCard is stubbed (the card's id is all recover.ts reads of it before the evidence); the clock is a
 * counter that a wait moves forward by its whole length unless an event came since its generation, as
 * context.ts Wakeup resolves it, or, for the polling, fake timers under the booth's own Wakeup.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import type { BoothIntentPayload } from "../../src/booth/booth-records.js";
import { type CardRead, readCard } from "../../src/booth/card-probe.js";
import { type BoothContext, Wakeup } from "../../src/booth/context.js";
import { type CardWatch, type PendingDebit, POLL_MS, recover } from "../../src/booth/recover.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  readCard: vi.fn(),
}));

const ORIGINAL = "43012200000000000001";
const OTHER = "43012200000000000099";
const WAIT_MS = 120_000;

const err = (code: string) => new EtcError(code, code);

/**
 * `wakeup`: the booth's own (real waits, under fake timers, Date.now the clock); else a counter clock that
 * a wait moves forward by its whole length. The reader answers a bare activate (the polling) with
 * `activate`, "no card" unless a test says otherwise.
 */
function rig(wakeup?: Wakeup) {
  let clock = 0;
  let generation = 0;
  const activate = vi.fn(async (): Promise<unknown> => {
    throw err(ReaderErrorCodes.NoCard);
  });
  const watch: CardWatch = { state: "unknown" };
  const abort = new AbortController();
  const shown: string[] = [];
  /** every screen's detail line, in order */
  const details: string[] = [];
  const audits: { type: string; message: string; data: Record<string, unknown> }[] = [];
  const alarms: { code: string; message: string }[] = [];
  /** the records committed, as written */
  const records: { outcome: string; extra?: { booth?: Record<string, unknown> } }[] = [];
  /** the seconds left each PUT_BACK / NOT_ORIGINAL screen said, in order */
  const seconds: number[] = [];
  const committed: string[] = [];
  const waits: number[] = [];
  /** card-loop.ts onCardEvent, as far as recover.ts sees it */
  const cardEvent = (kind: "inserted" | "removed"): void => {
    watch.state = kind === "inserted" ? "present" : "absent";
    generation++;
    wakeup?.wake();
  };
  const apdus: ((s: AbortSignal) => Promise<Buffer>)[] = [];
  const ctx = {
    reader: {
      activate,
      cardApdu: (_a: Buffer, s: AbortSignal) => (apdus.shift() as (s: AbortSignal) => Promise<Buffer>)(s),
    },
    dialect: {},
    options: { originalCardWaitMs: WAIT_MS },
    process: "this",
    ...(wakeup
      ? {
          now: () => Date.now(),
          gen: () => wakeup.generation,
          wait: (ms: number, signal?: AbortSignal, since?: number) => {
            waits.push(ms);
            return wakeup.wait(ms, signal, since);
          },
        }
      : {
          now: () => clock,
          gen: () => generation,
          wait: async (ms: number, signal?: AbortSignal, since = generation) => {
            if (signal?.aborted || since !== generation) return;
            waits.push(ms);
            clock += ms;
          },
        }),
    show: (p: { step: string; detail: string }) => {
      shown.push(p.step);
      details.push(p.detail);
      const left = /剩余 (\d+) 秒/.exec(p.detail);
      if (left) seconds.push(Number(left[1]));
    },
    signal: async () => undefined,
    audit: (type: string, _severity: string, message: string, data: Record<string, unknown>) =>
      audits.push({ type, message, data }),
    alarm: (code: string, message: string) => alarms.push({ code, message }),
    log: silentLogger,
    counters: { recoveries: 0, unconfirmed: 0 },
    lane: { guards: { hold: () => undefined } },
    recorded: () => undefined,
    tryCommit: async (rec: { outcome: string }) => {
      committed.push(rec.outcome);
      records.push(rec);
      return { seq: 9, ...rec };
    },
    lastCommit: { quietMs: 0, commitMs: 0 },
  } as unknown as BoothContext;
  const payload = {
    v: 1,
    path: "booth",
    case: { id: "s1", seq: 1, reason: "OBU_NO_CARD" },
    cardId: ORIGINAL,
    obuSerial: null,
    draft: { kind: "transaction", outcome: "BOOTH_EXIT_DEBIT", stageTimes: {}, extra: { booth: {} } },
    prepared: { amount: 1425, offlineSerial: 3, transType: 9 },
    mac1Ref: { epoch: 1, mac1: 1 },
    process: "other",
    write: {},
    layout: "aa43",
  } as unknown as BoothIntentPayload;
  const pd: PendingDebit = {
    intentId: 1,
    payload,
    case: { id: "r1" } as never,
    deadline: (wakeup ? Date.now() : 0) + WAIT_MS,
  };
  const run = () => recover(ctx, pd, watch, abort.signal);
  return {
    watch,
    abort,
    shown,
    details,
    audits,
    alarms,
    records,
    seconds,
    committed,
    waits,
    cardEvent,
    apdus,
    activate,
    run,
  };
}

/** The UIDs the cards answer an activate with. */
const UID: Record<string, Buffer> = {
  [ORIGINAL]: Buffer.from("01020304", "hex"),
  [OTHER]: Buffer.from("0a0b0c0d", "hex"),
};

const card = (cardId: string) =>
  ({ cardId, last: null, activation: { uid: UID[cardId] } }) as unknown as CardRead;

describe("the card watch during a recovery", () => {
  const reads = vi.mocked(readCard);
  beforeEach(() => reads.mockReset());

  it("the original card put back while a read is answered 'no card': read again at once, not waited for", async () => {
    const r = rig();
    reads.mockImplementationOnce(async () => {
      r.cardEvent("inserted"); // handled before the stale answer of this read
      throw err(ReaderErrorCodes.NoCard);
    });
    reads.mockImplementationOnce(async () => {
      r.abort.abort(); // the read the event asked for: the test ends here
      throw err(ReaderErrorCodes.Aborted);
    });
    expect(await r.run()).toBe("closed");
    expect(reads).toHaveBeenCalledTimes(2);
    expect(r.committed).toEqual([]);
    expect(r.shown).not.toContain("UNCONFIRMED");
  });

  it("a 'no card' answer with no card event since the read began: the card is waited for, the reader asked every second (still no card: unconfirmed at the deadline)", async () => {
    const r = rig();
    reads.mockImplementationOnce(async () => {
      throw err(ReaderErrorCodes.NoCard);
    });
    expect(await r.run()).toBe("unconfirmed");
    expect(reads).toHaveBeenCalledTimes(1);
    expect(r.watch.state).toBe("absent");
    expect(r.waits).toEqual(Array(WAIT_MS / POLL_MS).fill(POLL_MS));
    expect(r.activate).toHaveBeenCalledTimes(WAIT_MS / POLL_MS);
    // the screen asks for the card, its seconds left counting down at each poll (before: shown once, the
    // seconds never moved)
    expect(r.shown).toEqual([...Array(WAIT_MS / POLL_MS).fill("PUT_BACK"), "UNCONFIRMED"]);
    expect(r.seconds).toEqual(Array.from({ length: WAIT_MS / POLL_MS }, (_, i) => WAIT_MS / 1000 - i));
    expect(r.committed).toEqual(["BOOTH_DEBIT_UNCONFIRMED"]);
  });

  it("another card read while the collector swaps the original in: NOT_ORIGINAL, then the original read at once", async () => {
    const r = rig();
    reads.mockImplementationOnce(async () => {
      r.cardEvent("removed");
      r.cardEvent("inserted"); // the other card lifted, the original put on, before this read's answer
      return card(OTHER);
    });
    reads.mockImplementationOnce(async () => {
      r.abort.abort();
      throw err(ReaderErrorCodes.Aborted);
    });
    expect(await r.run()).toBe("closed");
    expect(r.shown[0]).toBe("NOT_ORIGINAL");
    expect(reads).toHaveBeenCalledTimes(2);
    expect(r.committed).toEqual([]);
  });

  it("the original card lifted and put back while its evidence is read: read again at once", async () => {
    const r = rig();
    reads.mockResolvedValueOnce(card(ORIGINAL));
    r.apdus.push(async () => {
      // GET TRANSACTION PROVE: the card lifted (and the answer says so) and put straight back
      r.cardEvent("removed");
      r.cardEvent("inserted");
      throw err(ReaderErrorCodes.CardRemoved);
    });
    reads.mockImplementationOnce(async () => {
      r.abort.abort();
      throw err(ReaderErrorCodes.Aborted);
    });
    expect(await r.run()).toBe("closed");
    expect(reads).toHaveBeenCalledTimes(2);
    expect(r.committed).toEqual([]);
  });
});

describe("the reader polled while a recovery waits for the original card (its card event lost)", () => {
  const reads = vi.mocked(readCard);
  beforeEach(() => {
    reads.mockReset();
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the original card put back with its card-inserted event lost: found by the next poll and read, not waited for until the deadline", async () => {
    const r = rig(new Wakeup());
    r.watch.state = "absent"; // lifted after DEBIT: the answer lost
    reads.mockImplementationOnce(async () => {
      r.abort.abort(); // the read of the card put back: the test ends here
      throw err(ReaderErrorCodes.Aborted);
    });
    const result = r.run();
    await vi.advanceTimersByTimeAsync(3 * POLL_MS + POLL_MS / 2);
    // every second a bare activate, answered "no card"; nothing read
    expect(r.activate).toHaveBeenCalledTimes(3);
    expect(reads).not.toHaveBeenCalled();
    // the card put back; its CARD_EVENT dropped on the line (no card event, no wake)
    r.activate.mockResolvedValue({ uid: UID[ORIGINAL] });
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(r.activate).toHaveBeenCalledTimes(4);
    // before: no read until the deadline (two minutes), then BOOTH_DEBIT_UNCONFIRMED
    expect(reads).toHaveBeenCalledTimes(1);
    expect(await result).toBe("closed");
    expect(r.committed).toEqual([]);
    expect(r.shown).not.toContain("UNCONFIRMED");
  });

  it("another card refused, lifted and the original put on, both card events lost: the poll sees the reader empty, then the original, and reads it", async () => {
    const r = rig(new Wakeup());
    reads.mockResolvedValueOnce(card(OTHER));
    reads.mockImplementationOnce(async () => {
      r.abort.abort();
      throw err(ReaderErrorCodes.Aborted);
    });
    // the other card still lies there at the first poll (refused once: not read again), gone at the second
    r.activate.mockResolvedValueOnce({ uid: UID[OTHER] });
    const result = r.run();
    await vi.advanceTimersByTimeAsync(2 * POLL_MS + POLL_MS / 2);
    // NOT_ORIGINAL stays (counting down) while the other card lies there, PUT_BACK once it has left
    // (before: NOT_ORIGINAL was put over with PUT_BACK at once)
    expect(r.shown).toEqual(["NOT_ORIGINAL", "NOT_ORIGINAL", "PUT_BACK"]);
    expect(r.seconds).toEqual([120, 119, 118]);
    expect(r.activate).toHaveBeenCalledTimes(2);
    expect(reads).toHaveBeenCalledTimes(1);
    expect(r.watch.state).toBe("absent");
    // the original put on
    r.activate.mockResolvedValue({ uid: UID[ORIGINAL] });
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(reads).toHaveBeenCalledTimes(2);
    expect(await result).toBe("closed");
    expect(r.committed).toEqual([]);
  });

  it("the reader not answering (its link down, a screen of its own up): the wait screen is not put over it; the countdown goes on once the reader answers again", async () => {
    const wakeup = new Wakeup();
    const r = rig(wakeup);
    r.watch.state = "absent";
    const result = r.run();
    await vi.advanceTimersByTimeAsync(POLL_MS / 2);
    expect(r.shown).toEqual(["PUT_BACK"]);
    // the link goes down (card-loop.ts shows READER_DOWN and wakes the booth): the polls fail
    r.activate.mockRejectedValue(err(ReaderErrorCodes.LinkDown));
    wakeup.wake();
    await vi.advanceTimersByTimeAsync(3 * POLL_MS);
    expect(r.activate).toHaveBeenCalledTimes(3);
    expect(r.shown).toEqual(["PUT_BACK"]);
    // the reader answers again ("no card"): the countdown goes on
    r.activate.mockRejectedValue(err(ReaderErrorCodes.NoCard));
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(r.shown).toEqual(["PUT_BACK", "PUT_BACK"]);
    expect(r.seconds).toEqual([120, 116]);
    r.abort.abort();
    expect(await result).toBe("closed");
  });

  // review: with the reader's link down until the deadline the card was never asked, yet the screen, the
  // alarm, the audit entry and the suspect said the original card "was not put back"
  it.each([
    ["lies on the reader as it goes down (its reads fail)", "unknown"],
    ["was lifted before it went down (the polls fail)", "absent"],
  ] as const)(
    "the reader's link down until the deadline, the card %s: unconfirmed, and everything says the reader could not be reached, not that the card was not put back",
    async (_, state) => {
      const r = rig(new Wakeup());
      r.watch.state = state;
      reads.mockRejectedValue(err(ReaderErrorCodes.LinkDown));
      r.activate.mockRejectedValue(err(ReaderErrorCodes.LinkDown));
      const result = r.run();
      await vi.advanceTimersByTimeAsync(WAIT_MS + POLL_MS);
      expect(await result).toBe("unconfirmed");
      expect(r.committed).toEqual(["BOOTH_DEBIT_UNCONFIRMED"]);
      expect(r.shown.at(-1)).toBe("UNCONFIRMED");
      const detail = r.details.at(-1);
      // before: 原卡 ****0001 未放回：已记为待核实交易，请上报
      expect(detail).toBe("读卡器未连接，无法确认扣款：已记为待核实交易，请上报，勿重复收费");
      const why = `the card reader was not reachable within ${WAIT_MS} ms: the card could not be asked`;
      expect(r.alarms).toEqual([{ code: "BOOTH_DEBIT_UNCONFIRMED", message: expect.stringContaining(why) }]);
      expect(r.audits).toEqual([
        expect.objectContaining({ type: "booth.recovery", message: expect.stringContaining(why) }),
      ]);
      expect(r.records[0]?.extra?.booth?.unconfirmed).toBe(why);
    },
  );

  it("the reader's link down for a while, then answering 'no card' until the deadline: the original card was not put back", async () => {
    const r = rig(new Wakeup());
    r.watch.state = "absent";
    r.activate.mockRejectedValue(err(ReaderErrorCodes.LinkDown));
    const result = r.run();
    await vi.advanceTimersByTimeAsync(3 * POLL_MS + POLL_MS / 2);
    r.activate.mockRejectedValue(err(ReaderErrorCodes.NoCard));
    await vi.advanceTimersByTimeAsync(WAIT_MS);
    expect(await result).toBe("unconfirmed");
    expect(r.details.at(-1)).toBe("原卡 ****0001 未放回：已记为待核实交易，请上报");
    expect(r.alarms).toEqual([
      { code: "BOOTH_DEBIT_UNCONFIRMED", message: expect.stringContaining("was not put back within") },
    ]);
  });

  // review: in "done" a poll that found a card kept "done", whichever card it was
  it("another card refused, then swapped for the original within one poll, both card events lost: the poll finds a card with another UID than the one refused, and reads it", async () => {
    const r = rig(new Wakeup());
    reads.mockResolvedValueOnce(card(OTHER));
    reads.mockImplementationOnce(async () => {
      r.abort.abort();
      throw err(ReaderErrorCodes.Aborted);
    });
    // the other card still lies there at the first poll (refused once: not read again)
    r.activate.mockResolvedValue({ uid: UID[OTHER] });
    const result = r.run();
    await vi.advanceTimersByTimeAsync(POLL_MS + POLL_MS / 2);
    expect(r.activate).toHaveBeenCalledTimes(1);
    expect(reads).toHaveBeenCalledTimes(1);
    expect(r.watch.state).toBe("done");
    // lifted and the original put on between two polls: the reader never seen empty
    r.activate.mockResolvedValue({ uid: UID[ORIGINAL] });
    await vi.advanceTimersByTimeAsync(POLL_MS);
    // before: "done" kept until the deadline, then BOOTH_DEBIT_UNCONFIRMED with the original on the reader
    expect(reads).toHaveBeenCalledTimes(2);
    expect(await result).toBe("closed");
    expect(r.committed).toEqual([]);
  });
});
