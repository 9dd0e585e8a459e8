/**
 * A DSRC suspect the card proves not debited (src/booth/settle.ts settleSuspect): whether the card has moved
 * on since the attempt (the vehicle at the booth on a later trip), and what the booth does when the lane
 * settled the suspect meanwhile from a late B5 although the card says "not debited".
 *
 * The card's evidence is stubbed (card-probe.ts gatherEvidence): this is the settlement, not the reading.
 */
import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import { type CardRead, gatherEvidence } from "../../src/booth/card-probe.js";
import type { BoothCase } from "../../src/booth/cases.js";
import type { BoothContext } from "../../src/booth/context.js";
import type { CardEvidence } from "../../src/booth/evidence.js";
import { settleSuspect } from "../../src/booth/settle.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import type { EntryExitRecord } from "../../src/rsu/driver.js";
import { sampleRecord } from "../journal/sample-record.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  gatherEvidence: vi.fn(),
}));

const CARD_ID = "43012200000000000001";
/** The attempt: exit 4301/0102 lane 3 at 10:15:00 (+08:00), card offline serial 100, balance 5000. */
const ATTEMPT_MS = Date.parse("2025-12-03T10:15:00+08:00");

/** A 0019 entry written at `station` lane 1 at `time` (+08:00) by that station's own clock. */
const entryAt = (station: string, time: string): EntryExitRecord => ({
  network: "4301",
  station,
  lane: 1,
  timeMs: Date.parse(`2025-12-03T${time}+08:00`),
  vehicleClass: 1,
  status: 3,
  plate: "",
});

/** The suspect, which recorded the card's 0019 at the attempt as its entry (null: the card had none). */
function suspect(entry: EntryExitRecord | null): CommittedRecord {
  return {
    ...sampleRecord(1, "suspect"),
    kind: "suspect",
    outcome: "B5_NO_DSRC",
    seq: 1,
    tradeId: "T1",
    revision: 1,
    cardId: CARD_ID,
    obuSerial: "4301000000000001",
    amount: 1425,
    balanceBefore: 5000,
    lane: { network: "4301", station: "0102", lane: 3 },
    entry: entry && {
      network: entry.network,
      station: entry.station,
      lane: entry.lane,
      time: new Date(entry.timeMs + 8 * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "+08:00"),
    },
    transTime: "20251203101500",
    iccPaySerial: "0064",
    psamNo: "430100000001",
    psamTransSerial: "00001234",
    transType: "09",
    vehicleClass: 1,
    createdAt: "2025-12-03T10:15:00+08:00",
    extra: { uncertain: true, purchaseTimeMs: ATTEMPT_MS, b5TransTime: "20251203101500" },
  } as CommittedRecord;
}

/** The card's evidence: a new INIT still returns serial 100, the balance unchanged: not debited. */
const notDebited = (record0019: EntryExitRecord | null): CardEvidence => ({
  balance: 5000,
  nextSerial: 100,
  details: [],
  detailsComplete: false,
  record0019,
});

/**
 * Settles `s` against evidence `ev`; `meanwhile`: the lane settled the suspect first (the booth's settlement
 * refused), the record now as it says.
 */
async function settle(s: CommittedRecord, ev: CardEvidence, meanwhile?: Partial<CommittedRecord>) {
  vi.mocked(gatherEvidence).mockResolvedValue(ev);
  const audits: { type: string; severity: string; message: string }[] = [];
  const ctx = {
    rec: { lane: { role: "exit" } },
    reader: {},
    psam: { prepare: async () => Buffer.from("430100000001", "hex"), keys: { keyIndex: 1 } },
    trySettle: async () => (meanwhile ? "refused" : { ...s, kind: "stop", revision: 2 }),
    journal: { get: () => (meanwhile ? { ...s, ...meanwhile } : s) },
    counters: { settledDebited: 0, settledNotDebited: 0, paidUnsettled: 0 },
    lane: {
      guards: { release: () => undefined, rememberTraded: () => undefined, noteDebit: () => undefined },
      statusList: { lookup: () => ({ listed: false }) },
    },
    recorded: () => undefined,
    audit: (type: string, severity: string, message: string) => audits.push({ type, severity, message }),
    alarm: () => undefined,
    show: () => undefined,
    log: silentLogger,
  } as unknown as BoothContext;
  const c = { id: "s1", seq: 1, reason: "B5_NO_DSRC" } as BoothCase;
  const card = { cardId: CARD_ID, last: ev.record0019 } as unknown as CardRead;
  const r = await settleSuspect(ctx, s, c, card, new AbortController().signal);
  return { r, audits };
}

// review: for "not debited" the card's 0019 is still the entry it held at the attempt (another station's
// write): "moved on" rested only on that station's clock being later than this lane's attempt
describe("a suspect the card proves not debited: has the card moved on since? (settle.ts movedOn)", () => {
  it.each([
    [
      "the entry it held at the attempt, stamped after the attempt by an entry station whose clock runs ahead",
      "not-debited",
      entryAt("0101", "10:30:00"),
      entryAt("0101", "10:30:00"),
    ],
    [
      "the entry it held at the attempt, stamped before it",
      "not-debited",
      entryAt("0101", "09:00:00"),
      entryAt("0101", "09:00:00"),
    ],
    [
      "a new entry, stamped before the attempt by a station whose clock runs behind",
      "not-debited-later",
      entryAt("0101", "09:00:00"),
      entryAt("0105", "10:00:00"),
    ],
    [
      "a new entry at the same station and lane, stamped after the attempt",
      "not-debited-later",
      entryAt("0101", "09:00:00"),
      entryAt("0101", "11:30:00"),
    ],
    ["none, as at the attempt", "not-debited", null, null],
    ["an entry, where it held none at the attempt", "not-debited-later", null, entryAt("0105", "11:30:00")],
  ] as const)("its 0019 %s: %s", async (_, expected, atAttempt, now) => {
    const { r } = await settle(suspect(atAttempt), notDebited(now));
    expect(r).toBe(expected);
  });
});

describe("a suspect the lane settled as paid from a late B5 while the card says it was not debited (settle.ts)", () => {
  const paidByB5 = { kind: "transaction", outcome: "EXIT_DEBIT_SETTLED", revision: 2 } as const;

  it("the card moved on since (a new entry): the vehicle pays the trip it is on (paid-earlier), and the contradiction is a warning", async () => {
    const { r, audits } = await settle(
      suspect(entryAt("0101", "09:00:00")),
      notDebited(entryAt("0105", "11:30:00")),
      paidByB5,
    );
    // never "settled-meanwhile" on a trip the card has left: that passed the vehicle on its later trip unpaid
    expect(r).toBe("paid-earlier");
    // before: an info entry, as for a late B5 that agrees with the card
    expect(audits).toEqual([
      expect.objectContaining({
        type: "booth.evidence",
        severity: "warn",
        message: expect.stringContaining("the card shows it was not debited"),
      }),
    ]);
  });

  it("the card still on that trip: the vehicle has paid (settled-meanwhile), and the contradiction is a warning", async () => {
    const entry = entryAt("0101", "09:00:00");
    const { r, audits } = await settle(suspect(entry), notDebited(entry), paidByB5);
    expect(r).toBe("settled-meanwhile");
    expect(audits.map((a) => [a.type, a.severity])).toEqual([["booth.evidence", "warn"]]);
  });
});
