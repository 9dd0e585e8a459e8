/**
 * A DSRC suspect the card proves not debited, or shows debited without its TAC (src/booth/settle.ts
 * settleSuspect): whether the card has moved on since the attempt (the vehicle at the booth on a later trip),
 * and what the booth does when the lane settled the suspect meanwhile from a late B5 although the card says
 * "not debited".
 *
 * The card's evidence is stubbed (card-probe.ts gatherEvidence): this is the settlement, not the reading.
 */
import { describe, expect, it, vi } from "vitest";
import type { Detail0018 } from "../../src/booth/apdus.js";
import { type CardRead, gatherEvidence } from "../../src/booth/card-probe.js";
import type { BoothCase } from "../../src/booth/cases.js";
import type { CardEvidence } from "../../src/booth/evidence.js";
import { settleSuspect } from "../../src/booth/settle.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import type { EntryExitRecord } from "../../src/rsu/driver.js";
import { ATTEMPT_DETAIL, b5NoDsrcSuspect, CARD_ID, settleContext } from "./settle-fakes.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  gatherEvidence: vi.fn(),
}));

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
  return b5NoDsrcSuspect({
    entry: entry && {
      network: entry.network,
      station: entry.station,
      lane: entry.lane,
      time: new Date(entry.timeMs + 8 * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "+08:00"),
    },
  });
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
async function settle(
  s: CommittedRecord,
  ev: CardEvidence,
  meanwhile?: Partial<CommittedRecord>,
  o: { noteThrows?: boolean; role?: "entry" | "exit" } = {},
) {
  vi.mocked(gatherEvidence).mockResolvedValue(ev);
  const { ctx, audits, noted, released, barriers } = settleContext({
    role: o.role,
    trySettle: async () => (meanwhile ? "refused" : { ...s, kind: "stop", revision: 2 }),
    now: () => (meanwhile ? { ...s, ...meanwhile } : s),
    noteShown: o.noteThrows
      ? async () => {
          throw new Error("SQLITE_FULL: database or disk is full");
        }
      : undefined,
  });
  const c = { id: "s1", seq: 1, reason: "B5_NO_DSRC" } as BoothCase;
  const card = { cardId: CARD_ID, last: ev.record0019 } as unknown as CardRead;
  const r = await settleSuspect(ctx, s, c, card, new AbortController().signal);
  return { r, audits, noted, released, barriers };
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

// an entry lane's DSRC suspect keeps its own write as `entry` (the trip's entry, obu-outcomes.ts entryOf) and
// the card's 0019 at the attempt, its last trip's exit here, as `extra.card0019`: the card still showing that
// exit has not moved on (judged by `entry`, the write it never took, it read as moved on)
describe("an entry lane's DSRC suspect the card proves not debited: the 0019 it held is extra.card0019 (settle.ts movedOn)", () => {
  const lastExit: EntryExitRecord = { ...entryAt("0201", "08:00:00"), status: 4 };
  const entrySuspect = (): CommittedRecord => {
    const s = suspect(null);
    return {
      ...s,
      entry: { network: "4301", station: "0102", lane: 3, time: "2025-12-03T10:15:00+08:00" },
      extra: {
        ...s.extra,
        card0019: { network: "4301", station: "0201", lane: 1, time: "2025-12-03T08:00:00+08:00" },
      },
    } as CommittedRecord;
  };
  it.each([
    ["its last trip's exit, as at the attempt", "not-debited", lastExit],
    ["a new entry elsewhere", "not-debited-later", entryAt("0105", "11:30:00")],
  ] as const)("its 0019 %s: %s", async (_, expected, now) => {
    const { r } = await settle(entrySuspect(), notDebited(now), undefined, { role: "entry" });
    expect(r).toBe(expected);
  });
});

/** A 0018 record of a composite purchase (09). */
const detail = (
  offlineSerial: number,
  amount: number,
  terminalNo: string,
  transTime: string,
): Detail0018 => ({
  offlineSerial,
  amount,
  transType: 0x09,
  terminalNo,
  transTime,
});

/**
 * The card's evidence: it paid the attempt (its 0018 record is there), then made `after` (newest first), the
 * newest proved by GET TRANSACTION PROVE; its 0019 `record0019`.
 */
const debited = (record0019: EntryExitRecord, after: Detail0018[]): CardEvidence => {
  const newest = after[0];
  return {
    balance: 5000 - 1425,
    nextSerial: 101 + after.length,
    details: [...after, ATTEMPT_DETAIL],
    detailsComplete: false,
    record0019,
    ...(newest
      ? { proof: { offlineSerial: newest.offlineSerial, tac: "a1b2c3d4", mac2: Buffer.alloc(4) } }
      : {}),
  };
};

/** The 0019 the attempt's own lane writes (exit 4301/0102 lane 3, status 04) at `time` by its own clock. */
const exitHere = (time: string): EntryExitRecord => ({
  ...entryAt("0102", time),
  lane: 3,
  status: 4,
});

// review: for "debited" the debit committed the attempt's 0019 write with it, so a 0019 written at another
// place is later, whatever that station's clock says; before, its time had to be after the attempt's, and
// an entry station whose clock ran behind passed the vehicle's later trip as paid by the earlier debit
describe("a suspect the card shows debited without its TAC: has the card moved on since? (settle.ts movedOn)", () => {
  it("a new entry at 0201, whose clock is an hour behind (stamped 09:40, before the attempt): the vehicle pays the trip it is on (paid-earlier)", async () => {
    const entry0201 = entryAt("0201", "09:40:00");
    const { r, audits, noted, released } = await settle(
      suspect(entryAt("0101", "09:00:00")),
      debited(entry0201, [detail(101, 0, "430100000201", "20251203094000")]),
    );
    // before: "paid-unsettled", the trip 0201 -> 0102 passed as paid by the earlier trip's debit
    expect(r).toBe("paid-earlier");
    // the evidence noted with the debit shown (committed with its entry), the hold on the card released
    expect(noted).toEqual([
      expect.objectContaining({
        type: "booth.evidence",
        data: expect.objectContaining({ movedOn: expect.stringContaining("another place") }),
      }),
    ]);
    expect(audits).toEqual([]);
    expect(released).toHaveLength(1);
  });

  it("the journal cannot note the debit shown: the evidence entry is written alone and the hold stays", async () => {
    const { r, audits, noted, released } = await settle(
      suspect(entryAt("0101", "09:00:00")),
      debited(entryAt("0201", "09:40:00"), [detail(101, 0, "430100000201", "20251203094000")]),
      undefined,
      { noteThrows: true },
    );
    expect(r).toBe("paid-earlier");
    expect(noted).toEqual([]);
    expect(audits).toEqual([
      expect.objectContaining({
        type: "booth.evidence",
        data: expect.objectContaining({ movedOn: expect.stringContaining("another place") }),
      }),
    ]);
    expect(released).toEqual([]);
  });

  it.each([
    [
      "the entry the suspect kept of the card at the attempt (what it showed before it), stamped before the attempt",
      (s: CommittedRecord) => s,
      entryAt("0101", "09:00:00"),
    ],
    [
      "at the attempt's own place (exit 0102 lane 3), stamped a second before the attempt's write",
      (s: CommittedRecord) => s,
      exitHere("10:14:59"),
    ],
    [
      "a new entry elsewhere, but the suspect does not know the attempt's write (no purchase time)",
      (s: CommittedRecord) =>
        ({ ...s, extra: { uncertain: true, b5TransTime: "20251203101500" } }) as CommittedRecord,
      entryAt("0201", "09:40:00"),
    ],
    [
      "the entry the suspect kept, stamped after the attempt by an entry station whose clock runs ahead",
      (s: CommittedRecord) => s,
      entryAt("0101", "11:00:00"),
    ],
  ] as const)("its 0019 %s: still on its trip, paid and unsettled, not charged", async (_, edit, now) => {
    const kept = now.station === "0101" ? now : entryAt("0101", "09:00:00");
    const { r, audits, noted } = await settle(edit(suspect(kept)), debited(now, []));
    expect(r).toBe("paid-unsettled");
    expect(audits).toEqual([]);
    expect(noted).toEqual([
      expect.objectContaining({
        type: "booth.evidence",
        data: expect.not.objectContaining({ movedOn: expect.anything() }),
      }),
    ]);
  });

  it("at the attempt's own place, stamped after the attempt (one station's clock): moved on (paid-earlier), as before", async () => {
    const { r } = await settle(suspect(entryAt("0101", "09:00:00")), debited(exitHere("11:30:00"), []));
    expect(r).toBe("paid-earlier");
  });
});

describe("a suspect the lane settled as paid from a late B5 while the card says it was not debited (settle.ts)", () => {
  const paidByB5 = { kind: "transaction", outcome: "EXIT_DEBIT_SETTLED", revision: 2 } as const;

  it("the card moved on since (a new entry): the vehicle pays the trip it is on (paid-earlier), and the contradiction is a warning", async () => {
    const { r, audits, barriers } = await settle(
      suspect(entryAt("0101", "09:00:00")),
      notDebited(entryAt("0105", "11:30:00")),
      paidByB5,
    );
    // never "settled-meanwhile" on a trip the card has left: that passed the vehicle on its later trip unpaid
    expect(r).toBe("paid-earlier");
    expect(barriers).toEqual([]);
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
    const { r, audits, barriers } = await settle(suspect(entry), notDebited(entry), paidByB5);
    expect(r).toBe("settled-meanwhile");
    // the record says paid, and the vehicle at the booth passes on it: the barrier opens (settle.ts)
    expect(barriers).toEqual([expect.objectContaining(paidByB5)]);
    expect(audits.map((a) => [a.type, a.severity])).toEqual([["booth.evidence", "warn"]]);
  });
});
