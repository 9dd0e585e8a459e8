/**
 * The collector's screen after a recovery that a card event ended (src/booth/card-loop.ts onCardEvent,
 * src/booth/recovery-book.ts run): the original card put back while the booth shows 请放回原卡, the TAC
 * proved, the result on the screen (RECOVERED, or a listed card's refusal). The result stays there, as a
 * paid DEBIT's does, until something new happens (a card put on the reader, a case, an operator's action):
 * the card event the recovery consumed does not bring one more pass of the loop that puts the waiting
 * screen (the next case's WAIT_CARD, or IDLE) over it.
 *
 * The real card loop, case desk and recovery book (recover.ts too), on the booth's real Wakeup; readCard
 * is stubbed, and the reader answers GET TRANSACTION PROVE with MAC2 and TAC. Fake timers: the original
 * card's deadline never passes, every wait ends on an event.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import type { BoothIntentPayload, RecordContext } from "../../src/booth/booth-records.js";
import { CardLoop } from "../../src/booth/card-loop.js";
import { type CardRead, readCard } from "../../src/booth/card-probe.js";
import { CaseDesk } from "../../src/booth/case-desk.js";
import { DEFAULT_BOOTH_REASONS } from "../../src/booth/cases.js";
import { type BoothContext, newCounters, Wakeup } from "../../src/booth/context.js";
import { RecoveryBook } from "../../src/booth/recovery-book.js";
import type { CommittedRecord } from "../../src/journal/types.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  readCard: vi.fn(),
}));

const ORIGINAL = "43012200000000000001";
const WAIT_MS = 120_000;

function rig(o: { listed: boolean }) {
  const shown: string[] = [];
  const waiters: { step: string; resolve: () => void }[] = [];
  const show = (p: { step: string }): void => {
    shown.push(p.step);
    for (const w of waiters.filter((x) => x.step === p.step)) w.resolve();
  };
  /** resolves when the screen shows `step` */
  const showing = (step: string): Promise<void> => new Promise((resolve) => waiters.push({ step, resolve }));
  const committed: string[] = [];
  const wakeup = new Wakeup();
  const counters = newCounters();
  const guards = {
    hold: () => undefined,
    release: () => undefined,
    rememberTraded: () => undefined,
    noteDebit: () => undefined,
  };
  const proveAnswer = Buffer.from("0102030411223344" + "9000", "hex"); // MAC2 ‖ TAC, 9000
  // the card's newest 0018 record is this purchase (recover.ts checks it before it takes the proof):
  // serial 3, 1425 fen, type 09, the PSAM's terminal, the purchase time
  const newest0018 = Buffer.from(
    `0003000000${(1425).toString(16).padStart(8, "0")}09430100000001202512031015009000`,
    "hex",
  );
  const reader = {
    cardApdu: async (apdu: Buffer) =>
      apdu.subarray(0, 2).toString("hex") === "00b2" ? newest0018 : proveAnswer,
  } as unknown as CardReader;
  const ctx = {
    reader,
    dialect: {},
    options: { originalCardWaitMs: WAIT_MS, layout0019: "auto" },
    process: "this",
    now: () => Date.now(),
    wallNow: () => Date.now(),
    gen: () => wakeup.generation,
    wait: (ms: number, signal?: AbortSignal, since?: number) => wakeup.wait(ms, signal, since),
    show,
    signal: async () => undefined,
    audit: () => undefined,
    alarm: () => undefined,
    log: silentLogger,
    counters,
    readerPort: "test",
    clock: { waitMs: 0 },
    lineBytes: () => null,
    psam: { invalidate: () => undefined, verifyMac2: async () => ({ result: "verified" }) },
    lane: {
      guards,
      statusList: {
        lookup: () =>
          o.listed ? { listed: true, entry: { kind: "card", id: ORIGINAL } } : { listed: false, entry: null },
      },
    },
    recorded: () => undefined,
    tryCommit: async (rec: { outcome: string }) => {
      committed.push(rec.outcome);
      return { seq: 9, tradeId: "t9", obuSerial: null, ...rec } as unknown as CommittedRecord;
    },
    lastCommit: { quietMs: 0, commitMs: 0 },
  } as unknown as BoothContext;
  let loop!: CardLoop;
  const desk = new CaseDesk({
    options: {
      queueMax: 10,
      offerFor: [...DEFAULT_BOOTH_REASONS],
      caseMaxAgeMinutes: 60,
      originalCardWaitMs: WAIT_MS,
    },
    journal: {
      list: () => [],
      firstSeqCreatedBetween: () => null,
      newestCreatedMs: () => null,
      noteCaseClosed: () => true,
      closedCasesSince: () => [],
      settledPaidBelow: () => [],
    },
    rec: { utcOffsetMinutes: 480 } as unknown as RecordContext,
    fx: {
      show,
      appendAudit: () => undefined,
      alarm: () => undefined,
      tryCommit: () => undefined,
      recorded: () => undefined,
      quietMoment: async () => 0,
    },
    events: { next: () => undefined },
    counters,
    log: silentLogger,
    wallNow: () => Date.now(),
    work: {
      closed: () => loop.closed(),
      activeId: () => loop.activeId(),
      cardPresent: () => loop.cardPresent(),
      stopIfActive: (id) => loop.stopIfActive(id),
      rearmCard: () => loop.rearmCard(),
      kick: () => loop.kick(),
    },
  });
  const book = new RecoveryBook({
    ctx,
    journal: { openIntents: () => [] },
    guards,
    fx: { alarm: () => undefined, signal: async () => undefined },
    desk,
    log: silentLogger,
  });
  loop = new CardLoop({ ctx, reader, wakeup, desk, recoveries: book, log: silentLogger });
  return { loop, desk, book, shown, showing, committed };
}

/** A booth debit whose DEBIT answer was lost (charge.ts: the intent's payload), for case s1. */
const payload = {
  v: 1,
  path: "booth",
  case: { id: "s1", seq: 1, reason: "OBU_NO_CARD" },
  cardId: ORIGINAL,
  obuSerial: null,
  draft: {
    kind: "transaction",
    outcome: "BOOTH_EXIT_DEBIT",
    amount: 1425,
    balanceBefore: 10_000,
    obuId: "",
    plate: null,
    plateColor: null,
    vehicleClass: 1,
    stageTimes: {},
    extra: { booth: {} },
  },
  prepared: {
    amount: 1425,
    offlineSerial: 3,
    transType: 9,
    transTime: "20251203101500",
    psamNo: "430100000001",
  },
  mac1Ref: { epoch: 1, mac1: 1 },
  process: "this",
  write: null,
  layout: "aa43",
} as unknown as BoothIntentPayload;

/** The next vehicle's case: an OBU without its card, waiting behind the recovery. */
const nextCase = {
  seq: 2,
  kind: "stop",
  outcome: "OBU_NO_CARD",
  createdAt: new Date(0).toISOString(),
  tradeId: "t2",
  obuId: "0A0B0C0D",
  obuSerial: "4301000000000002",
  cardId: null,
  plate: "湘A00002",
  plateColor: 0,
  vehicleClass: 1,
  amount: 0,
  extra: {},
} as unknown as CommittedRecord;

describe("the screen after a recovery that a card event ended", () => {
  const reads = vi.mocked(readCard);
  beforeEach(() => {
    vi.useFakeTimers();
    reads.mockReset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** The link up on an empty reader, then the debit whose answer was lost and the next case behind it. */
  async function waitingForTheCard(listed: boolean) {
    const r = rig({ listed });
    reads.mockRejectedValueOnce(new EtcError(ReaderErrorCodes.NoCard, "no card"));
    r.loop.onLink({ status: "up", since: 0 });
    await r.loop.idle();
    expect(r.shown).toEqual(["IDLE"]);
    // the recovery asks for the original card (the card was lifted after DEBIT)
    const putBack = r.showing("PUT_BACK");
    r.book.add(1, payload);
    r.desk.onLaneRecord(nextCase);
    await putBack;
    return r;
  }

  /** The recovery ended, and the loop with it: its result is the screen, the card taken off leaves it. */
  async function resultStays(r: ReturnType<typeof rig>, result: string): Promise<void> {
    await r.loop.idle();
    expect(r.committed).toEqual(["BOOTH_EXIT_DEBIT_PROVED"]);
    expect(reads).toHaveBeenCalledTimes(2);
    expect(r.shown.at(-1)).toBe(result);
    // the card taken off the reader: the result still stands, as a paid DEBIT's does
    r.loop.onCardEvent({ kind: "removed" });
    await r.loop.idle();
    expect(r.shown.at(-1)).toBe(result);
    expect(r.desk.views().map((c) => c.id)).toEqual(["s2"]);
    await r.loop.stop();
  }

  it.each([
    { listed: false, result: "RECOVERED" },
    { listed: true, result: "REFUSED_CARD_ON_STATUS_LIST" },
  ])(
    "the original card put back (listed: $listed): $result stays on the screen, not the next case's WAIT_CARD",
    async ({ listed, result }) => {
      const r = await waitingForTheCard(listed);
      // the collector puts the original card back: the event ends the recovery's wait
      reads.mockResolvedValueOnce({ cardId: ORIGINAL, last: null } as unknown as CardRead);
      const shown = r.showing(result);
      r.loop.onCardEvent({ kind: "inserted" });
      await shown;
      await resultStays(r, result);
    },
  );

  it("the reader's link back up with the original card on it: RECOVERED stays on the screen", async () => {
    const r = await waitingForTheCard(false);
    const down = r.showing("READER_DOWN");
    r.loop.onLink({ status: "down", since: 1, reason: "unplugged" });
    await down;
    // the card put back while the reader was away: the link's return ends the recovery's wait
    reads.mockResolvedValueOnce({ cardId: ORIGINAL, last: null } as unknown as CardRead);
    const shown = r.showing("RECOVERED");
    r.loop.onLink({ status: "up", since: 2 });
    await shown;
    await resultStays(r, "RECOVERED");
  });
});
