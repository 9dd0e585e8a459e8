/**
 * The case desk's queue rules (src/booth/case-desk.ts, docs/booth.md §4): a full queue never pushes out
 * the case being worked on, the case the collector took or a debit being recovered; it pushes out the
 * oldest waiting case with an alarm and an audit entry naming it, or refuses the new case when none may
 * leave; cases past `caseMaxAgeMinutes` leave while the lane runs as they do at start.
 */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import { CaseDesk } from "../../src/booth/case-desk.js";
import type { CommittedRecord, NewLaneRecord } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";

const T0 = Date.parse("2025-12-03T10:00:00+08:00");
const OP = { name: "op", uid: 1 };

const stop = (seq: number, obuSerial: string, minutes = 0): CommittedRecord =>
  ({
    ...sampleRecord(seq),
    seq,
    tradeId: `T${seq}`,
    kind: "stop",
    outcome: "OBU_NO_CARD",
    obuSerial,
    cardId: null,
    createdAt: new Date(T0 + minutes * 60_000).toISOString(),
    revision: 1,
  }) as CommittedRecord;

function rig(o: {
  queueMax: number;
  active?: () => string | null;
  records?: CommittedRecord[];
  /** the journal's records beyond `records` (settledPaidBelow answers from them) */
  older?: CommittedRecord[];
  /** noteCaseClosed throws this (a journal refusing writes) */
  refuseNotes?: Error;
}) {
  const alarms: { code: string; message: string }[] = [];
  const audits: { type: string; message: string; data: Record<string, unknown> | undefined }[] = [];
  const noted: { seq: number; why: string }[] = [];
  const closed: { id: string; why: string }[] = [];
  const committed: NewLaneRecord[] = [];
  // what each journal.list was asked from (a Date, a seq)
  const listed: (Date | number | undefined)[] = [];
  let now = T0;
  // the booth's quiet moment (effects.ts quietMoment), given by the test (quiet())
  const quietWaits: (() => void)[] = [];
  const desk = new CaseDesk({
    options: {
      queueMax: o.queueMax,
      offerFor: ["OBU_NO_CARD"],
      caseMaxAgeMinutes: 120,
      originalCardWaitMs: 1000,
    },
    journal: {
      // as the journal's list (src/journal/records.ts buildList): a Date by created time, a number by seq
      list: (q) => {
        listed.push(q.since);
        return (o.records ?? [])
          .filter((r) =>
            q.since instanceof Date
              ? Date.parse(r.createdAt) >= q.since.getTime()
              : q.since === undefined || r.seq >= q.since,
          )
          .sort((a, b) => a.seq - b.seq);
      },
      newestCreatedMs: () => {
        const newest = [...(o.records ?? [])].sort((a, b) => b.seq - a.seq)[0];
        return newest ? Date.parse(newest.createdAt) : null;
      },
      firstSeqCreatedBetween: (fromMs, toMs) => {
        const seqs = (o.records ?? [])
          .filter((r) => Date.parse(r.createdAt) >= fromMs && Date.parse(r.createdAt) <= toMs)
          .map((r) => r.seq);
        return seqs.length > 0 ? Math.min(...seqs) : null;
      },
      noteCaseClosed: (seq, why) => {
        if (o.refuseNotes) throw o.refuseNotes;
        noted.push({ seq, why });
        return true;
      },
      closedCasesSince: () => [],
      settledPaidBelow: (obuSerial, belowSeq) =>
        (o.older ?? []).filter((r) => r.obuSerial === obuSerial && r.seq < belowSeq && r.revision > 1),
    },
    rec: {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      utcOffsetMinutes: 480,
      tariffVersion: null,
    },
    fx: {
      show: () => undefined,
      appendAudit: (type: string, _s: string, message: string, data?: Record<string, unknown>) => {
        audits.push({ type, message, data });
      },
      alarm: (code: string, message: string) => {
        alarms.push({ code, message });
      },
      // a cancel's BOOTH_CANCELLED record, "committed"
      tryCommit: (rec: NewLaneRecord) => {
        committed.push(rec);
        return { ...rec, seq: 100, tradeId: "T100", revision: 1 } as CommittedRecord;
      },
      recorded: () => undefined,
      quietMoment: () => new Promise<number>((resolve) => quietWaits.push(() => resolve(0))),
    },
    events: {
      next: (e) => {
        if (e.type === "booth" && e.action === "closed") closed.push({ id: e.case.id, why: e.why ?? "" });
      },
    },
    counters: { cancelled: 0, journalFailures: 0 },
    log: silentLogger,
    wallNow: () => now,
    work: {
      closed: () => false,
      activeId: o.active ?? (() => null),
      cardPresent: () => false,
      stopIfActive: () => "idle",
      rearmCard: () => undefined,
      kick: () => undefined,
    },
  });
  return {
    desk,
    alarms,
    audits,
    noted,
    closed,
    committed,
    listed,
    ids: () => desk.views().map((c) => c.id),
    at: (minutes: number) => {
      now = T0 + minutes * 60_000;
    },
    atMs: (ms: number) => {
      now = ms;
    },
    /** the quiet moments waited for come, and what waited runs */
    async quiet() {
      for (const go of quietWaits.splice(0)) go();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe("a full booth queue", () => {
  it("keeps the case being charged and pushes out the oldest waiting one, naming it in an alarm and the audit trail", async () => {
    const r = rig({ queueMax: 2, active: () => "s1" });
    r.desk.onLaneRecord(stop(1, "A")); // the card on the reader is being charged on s1
    r.desk.onLaneRecord(stop(2, "B"));
    r.desk.onLaneRecord(stop(3, "C"));
    expect(r.desk.get("s1")).toBeDefined(); // charge.ts caseOpen() asks this right before DEBIT
    expect(r.ids()).toEqual(["s1", "s3"]);
    expect(r.closed).toEqual([{ id: "s2", why: "queue full (2): pushed out by case s3" }]);
    expect(r.alarms.map((a) => a.code)).toEqual(["BOOTH_QUEUE_FULL"]);
    expect(r.alarms[0]?.message).toContain("case s2 (OBU_NO_CARD");
    const entry = r.audits.find((a) => a.data?.closed === "queue-full");
    expect(entry?.type).toBe("booth.case");
    expect(entry?.data).toMatchObject({ case: "s2", seq: 2, obuSerial: "B", for: "s3" });
    // noted closed (at the booth's next quiet moment: the lane's record path does not wait for the note's
    // fsync): the queue rebuilt at start does not take it back in place of a newer case
    expect(r.noted).toEqual([]);
    await r.quiet();
    expect(r.noted.map((n) => n.seq)).toEqual([2]);
  });

  it("keeps the case the collector took: a card put on next is charged on it, not on another vehicle's", async () => {
    const r = rig({ queueMax: 2 });
    r.desk.onLaneRecord(stop(1, "A"));
    r.desk.onLaneRecord(stop(2, "B"));
    expect((await r.desk.take({ id: "s1", user: OP })).ok).toBe(true);
    r.desk.onLaneRecord(stop(3, "C"));
    expect(r.desk.pick("43012200000000000001")?.id).toBe("s1");
    expect(r.ids()).toEqual(["s1", "s3"]);
  });

  it("refuses the new case with the alarm when every queued case must stay", () => {
    const r = rig({ queueMax: 1, active: () => "s1" });
    r.desk.onLaneRecord(stop(1, "A"));
    r.desk.onLaneRecord(stop(2, "B"));
    expect(r.ids()).toEqual(["s1"]);
    expect(r.closed).toEqual([]);
    expect(r.alarms.map((a) => a.code)).toEqual(["BOOTH_QUEUE_FULL"]);
    expect(r.alarms[0]?.message).toContain("case s2 (OBU_NO_CARD");
    expect(r.audits.find((a) => a.data?.closed === "queue-full")?.data).toMatchObject({ case: "s2" });
  });

  it("rebuilt at start beyond queueMax, keeps the newest and notes the pushed-out ones closed", async () => {
    const r = rig({ queueMax: 2, records: [stop(1, "A"), stop(2, "B"), stop(3, "C")] });
    r.desk.restore();
    expect(r.ids()).toEqual(["s2", "s3"]);
    await r.quiet();
    expect(r.noted.map((n) => n.seq)).toEqual([1]);
    expect(r.alarms.map((a) => a.code)).toEqual(["BOOTH_QUEUE_FULL"]);
  });
});

describe("the queue rebuilt at start", () => {
  // a suspect of OBU A written before the window, settled paid in place by a late B5 after stop s5 of A
  // (the UNSETTLED_DEBIT its hold caused) was recorded: lastSeq 6, or 4 (settled before s5)
  const settled = (lastSeq: number): CommittedRecord =>
    ({
      ...stop(2, "A", -200),
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      revision: 2,
      extra: {
        settlement: {
          settledBy: "b5",
          settledAt: new Date(T0).toISOString(),
          lastSeq,
          previous: { kind: "suspect", outcome: "B5_NO_DSRC", amount: 1425, revision: 1 },
          evidence: null,
        },
      },
    }) as CommittedRecord;

  it("a suspect settled paid in place older than the records rebuilt from still closes its vehicle's case recorded before the settlement, with no note", () => {
    const records = [stop(5, "A", 1), stop(6, "B", 2)];
    const r = rig({ queueMax: 10, records, older: [settled(6)] });
    r.desk.restore();
    // before: s5 came back (only the note the desk wrote at the settlement kept it closed)
    expect(r.ids()).toEqual(["s6"]);
    expect(r.noted).toEqual([]);
    // settled before s5 was recorded: s5 is a trip of its own, and stays
    const later = rig({ queueMax: 10, records, older: [settled(4)] });
    later.desk.restore();
    expect(later.ids()).toEqual(["s5", "s6"]);
  });

  it("a card-only case paid by its card after the wall clock stepped back (its paid record older by wall time) stays closed when the window falls between the two", () => {
    const CARD = "43012200000000000001";
    // case s5 at T0: a stop naming card K and no OBU serial; then NTP steps the clock back 5 s, and K pays
    // at the booth (s6, its seq after s5's, its time before)
    const caseT = { ...stop(5, "A"), obuSerial: null, cardId: CARD } as CommittedRecord;
    const paidR = {
      ...stop(6, "B"),
      kind: "transaction",
      outcome: "BOOTH_EXIT_DEBIT",
      cardId: CARD,
      createdAt: new Date(T0 - 5_000).toISOString(),
    } as CommittedRecord;
    const r = rig({ queueMax: 10, records: [caseT, paidR] });
    // the lane restarts when the window (caseMaxAgeMinutes, 120) starts 2 s before s5: s6 is older than that
    r.atMs(T0 + 120 * 60_000 - 2_000);
    r.desk.restore();
    // before: s5 came back (read by time, s6 was not read), and card K on the reader was charged for it again
    expect(r.ids()).toEqual([]);
    expect(r.desk.pick(CARD)).toBeUndefined();
  });

  it("a case whose own record is older than the window (written after the clock stepped back) is not rebuilt, as it would leave for its age", () => {
    // s5 at T0, s6 (another vehicle) at T0 - 5 s after the step back: the window starts 2 s before s5
    const r = rig({
      queueMax: 10,
      records: [stop(5, "A"), { ...stop(6, "B"), createdAt: new Date(T0 - 5_000).toISOString() }],
    });
    r.atMs(T0 + 120 * 60_000 - 2_000);
    r.desk.restore();
    expect(r.ids()).toEqual(["s5"]);
  });

  it("a record dated far in the future (the clock was ahead, put back since) does not make every start read every record after it", () => {
    // s1 written while the clock was 30 days ahead, then s2..s500 two to three hours ago, then s501 a minute ago
    const records = [
      { ...stop(1, "Z"), kind: "transaction", createdAt: new Date(T0 + 30 * 86_400_000).toISOString() },
      ...Array.from({ length: 499 }, (_, i) => stop(i + 2, `V${i}`, -180 + i * 0.1)),
      stop(501, "A", -1),
    ] as CommittedRecord[];
    const r = rig({ queueMax: 10, records });
    r.desk.restore();
    // before (review round 2, finding 1): the reading started at s1, all 501 records read at every start
    expect(r.listed).toEqual([501]);
    expect(r.ids()).toEqual(["s501"]);
  });

  it("a clock behind at start (hours late) still rebuilds the cases of the newest records", () => {
    // s7 and s8 recorded at T0 and T0 + 1 min; the lane restarts with its clock 3 h behind
    const r = rig({ queueMax: 10, records: [stop(7, "A"), stop(8, "B", 1)] });
    r.atMs(T0 - 3 * 3_600_000);
    r.desk.restore();
    // before (review of 88cf8bd): both lay more than a window after now, no case was rebuilt
    expect(r.ids()).toEqual(["s7", "s8"]);
  });
});

describe("a suspect the lane settles paid in place (a late B5): the vehicle's later case", () => {
  // suspect 2 of OBU A, its UNSETTLED_DEBIT stop 5 queued, then the late B5 settles 2 in place (revision 2)
  const settledInPlace = {
    ...stop(2, "A"),
    kind: "transaction",
    outcome: "EXIT_DEBIT_SETTLED",
    cardId: "43012200000000000001",
    revision: 2,
  } as CommittedRecord;

  it("closes now, and its note (an fsync) waits for the booth's quiet moment, not the lane's reply to the B5", async () => {
    const r = rig({ queueMax: 10 });
    r.desk.onLaneRecord(stop(5, "A"));
    r.desk.onLaneRecord(settledInPlace);
    expect(r.ids()).toEqual([]);
    // before: noted here, inside the settlement's outcome, while the late B5's C1 waited
    expect(r.noted).toEqual([]);
    await r.quiet();
    expect(r.noted).toEqual([{ seq: 5, why: "paid over DSRC (record 2)" }]);
  });

  it("a charge asked for before the quiet moment writes the note first", () => {
    const r = rig({ queueMax: 10 });
    r.desk.onLaneRecord(stop(5, "A"));
    r.desk.onLaneRecord(settledInPlace);
    expect(r.desk.unnotedHolds({ cardId: "43012200000000000009", obuSerial: "A" })).toBeNull();
    expect(r.noted.map((n) => n.seq)).toEqual([5]);
  });

  it("a note the journal refuses at the quiet moment holds the OBU and card, with the alarm", async () => {
    const r = rig({ queueMax: 10, refuseNotes: new Error("SQLITE_FULL: database or disk is full") });
    r.desk.onLaneRecord(stop(5, "A"));
    r.desk.onLaneRecord(settledInPlace);
    await r.quiet();
    expect(r.alarms.map((a) => a.code)).toEqual(["BOOTH_JOURNAL_FAILED"]);
    expect(r.desk.unnotedHolds({ cardId: "43012200000000000009", obuSerial: "A" })).toBe("s5");
  });
});

describe("a case's age", () => {
  it("past caseMaxAgeMinutes, a waiting case leaves the queue while the lane runs (as it is not rebuilt at start); the taken one stays", async () => {
    const r = rig({ queueMax: 10 });
    r.desk.onLaneRecord(stop(1, "A", 0));
    r.desk.onLaneRecord(stop(2, "B", 10));
    r.desk.onLaneRecord(stop(3, "C", 30));
    expect((await r.desk.take({ id: "s2", user: OP })).ok).toBe(true);
    r.at(125);
    r.desk.expire();
    expect(r.ids()).toEqual(["s2", "s3"]);
    expect(r.closed).toEqual([{ id: "s1", why: "older than caseMaxAgeMinutes (120)" }]);
    expect(r.audits.find((a) => a.data?.closed === "aged-out")?.data).toMatchObject({ case: "s1" });
    expect(r.noted).toEqual([]); // the rebuild's window leaves it out already
    // a new case arriving ages the queue first: no alarm for a queue full of old cases
    r.at(200);
    r.desk.onLaneRecord(stop(4, "D", 200));
    expect(r.ids()).toEqual(["s2", "s4"]);
    expect(r.alarms).toEqual([]);
  });

  it("the case of a suspect whose card is at the booth counts its age from then, not from the suspect's record", () => {
    const r = rig({ queueMax: 10 });
    const suspect = {
      ...stop(1, "A"),
      kind: "suspect",
      outcome: "B5_NO_DSRC",
      cardId: "43012200000000000001",
    } as CommittedRecord;
    // days later its card is on the reader: settled "not debited", its fresh charge then failed
    r.at(3 * 24 * 60);
    r.desk.add(r.desk.ownCase(suspect));
    r.at(3 * 24 * 60 + 119);
    r.desk.expire();
    expect(r.ids()).toEqual(["s1"]); // the vehicle still owes this trip
    // a queued case whose card comes again: its age starts again too
    r.desk.ownCase(suspect);
    r.at(3 * 24 * 60 + 200);
    r.desk.expire();
    expect(r.ids()).toEqual(["s1"]);
    r.at(3 * 24 * 60 + 240);
    r.desk.expire();
    expect(r.ids()).toEqual([]);
    expect(r.closed).toEqual([{ id: "s1", why: "older than caseMaxAgeMinutes (120)" }]);
  });
});

describe("cancel without a case id", () => {
  const paid = (seq: number, obuSerial: string): CommittedRecord =>
    ({ ...stop(seq, obuSerial), kind: "transaction", outcome: "EXIT_DEBIT" }) as CommittedRecord;

  it("after the taken case was paid over DSRC: the first waiting case, not 'no booth case to cancel'", async () => {
    const r = rig({ queueMax: 10 });
    r.desk.onLaneRecord(stop(1, "A"));
    r.desk.onLaneRecord(stop(2, "B"));
    expect((await r.desk.take({ id: "s1", user: OP })).ok).toBe(true);
    r.desk.onLaneRecord(paid(3, "A")); // s1's vehicle paid over DSRC: its case closes
    expect(r.ids()).toEqual(["s2"]);
    expect(await r.desk.cancel({ reason: "sent on", user: OP })).toEqual({
      ok: true,
      message: "case s2 cancelled",
    });
    expect(r.ids()).toEqual([]);
  });

  it("through sudo -u: the BOOTH_CANCELLED record and the closed event name the person, not only the lane's account", async () => {
    const r = rig({ queueMax: 10 });
    r.desk.onLaneRecord(stop(1, "A"));
    const user = { name: "etclane", uid: 998, sudoUser: "wang" };
    expect((await r.desk.cancel({ reason: "paid in cash", user })).ok).toBe(true);
    expect(
      r.committed.map((c) => (c.extra as { booth?: { cancelledBy?: string } }).booth?.cancelledBy),
    ).toEqual(["wang (as etclane) (uid 998)"]);
    expect(r.closed).toEqual([{ id: "s1", why: "cancelled by wang (as etclane): paid in cash" }]);
  });

  it("with a debit being recovered at the head: the first case that is not the recovery", async () => {
    const r = rig({ queueMax: 10 });
    r.desk.onLaneRecord(stop(1, "A"));
    r.desk.openRecovery({ ...stop1Case(), id: "r7", kind: "recovery", reason: "BOOTH_RECOVERY" }, undefined);
    expect(r.ids()).toEqual(["r7", "s1"]);
    expect(await r.desk.cancel({ reason: "sent on", user: OP })).toEqual({
      ok: true,
      message: "case s1 cancelled",
    });
    expect(r.ids()).toEqual(["r7"]);
  });
});

describe("a walk-up (take --walk-up)", () => {
  it("while the queue is full of cases that may not leave: refused, not queued, with the alarm (before, take answered ok)", async () => {
    const r = rig({ queueMax: 1 });
    expect(await r.desk.take({ walkUp: true, vehicleClass: 1, user: OP })).toMatchObject({ ok: true });
    // w1 is taken: it may not leave, and the queue holds one case
    const second = await r.desk.take({ walkUp: true, vehicleClass: 2, user: OP });
    expect(second).toEqual({
      ok: false,
      message:
        "walk-up case w2 not queued: the booth queue is full (booth.queueMax 1; none of its cases may leave now); finish or cancel a case first (etc-lane booth list)",
    });
    expect(r.ids()).toEqual(["w1"]);
    expect(r.alarms.map((a) => a.code)).toEqual(["BOOTH_QUEUE_FULL"]);
    // the card put on is still w1's, the case taken (peek, as the recent-trade refusal asks: the same)
    expect(r.desk.peek("43012200000000000001")?.id).toBe("w1");
    expect(r.desk.pick("43012200000000000001")?.id).toBe("w1");
  });

  it("after a restart, numbered above the walk-ups the journal's records of the window name (the killed process's)", async () => {
    const paidW7: CommittedRecord = {
      ...stop(5, "W"),
      kind: "transaction",
      outcome: "EXIT_DEBIT",
      extra: { path: "booth", booth: { case: { id: "w7", seq: null, reason: "WALK_UP" } } },
    };
    const r = rig({ queueMax: 10, records: [stop(4, "A"), paidW7] });
    r.desk.restore();
    // before: w1, the id the killed process's records already name
    expect(await r.desk.take({ walkUp: true, vehicleClass: 1, user: OP })).toMatchObject({
      ok: true,
      data: { case: { id: "w8" } },
    });
  });
});

function stop1Case() {
  return {
    id: "s1",
    kind: "stop" as const,
    reason: "OBU_NO_CARD",
    openedAt: T0,
    seq: 1,
    tradeId: "T1",
    obuId: null,
    obuSerial: "A",
    cardId: null,
    plate: null,
    plateColor: null,
    vehicleClass: null,
    amount: null,
  };
}
