/**
 * The lane's alarms about a vehicle's card or OBU carry them in their audit entry's data
 * (src/audit/events.ts EntryIds), so `etc-lane audit search --card/--obu` and the page's search find them
 * and show them in the CARD and OBU columns. Review: the suspect alarm, CRASH_RECOVERY and the booth-debit
 * alarms of a lane without a booth named the card only in their message (data `{ code }`), and search by
 * card missed them.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { matches, toRow } from "../../src/audit/search.js";
import type { RsuEvent } from "../../src/rsu/driver.js";
import { boothIntentPayload, FakeJournal, type Rig, RSU_OK, rig } from "./controller-fakes.js";
import { b2, b3, b4, b5, CARD_ID, NOW, OBU_ID, OBU_SERIAL } from "./machine-fixtures.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

interface Appended {
  type: string;
  severity: string;
  message: string;
  data?: Record<string, unknown>;
}

/** A rig whose audit entries are kept. */
function auditedRig(o: Parameters<typeof rig>[0] = {}): { r: Rig; entries: Appended[] } {
  const entries: Appended[] = [];
  const r = rig({ ...o, audit: { append: (e) => entries.push(e) } });
  return { r, entries };
}

const ev = {
  b0: (): RsuEvent => ({ kind: "rsu-status", status: RSU_OK }),
  b2: (): RsuEvent => ({ kind: "obu", info: b2() }),
  b3: (): RsuEvent => ({ kind: "vehicle", info: b3() }),
  b4: (): RsuEvent => ({ kind: "card", info: b4() }),
  b5: (): RsuEvent => ({ kind: "trade", info: b5() }),
};

async function open(r: Rig): Promise<void> {
  await r.ctl.start();
  r.link.up();
  await r.settle();
  r.link.frame(ev.b0());
  await r.settle();
}

/** One vehicle up to its C6 (the card read, the debit sent). */
async function toDebit(r: Rig): Promise<void> {
  for (const f of [ev.b2(), ev.b3(), ev.b4()]) {
    r.link.frame(f);
    await r.settle();
  }
}

/** The lane.alarm entries of `code`: their data. */
const alarmData = (entries: Appended[], code: string): Record<string, unknown>[] =>
  entries.filter((e) => e.type === "lane.alarm" && e.data?.code === code).map((e) => e.data!);

/** Whether search finds the entry by card and by OBU serial and MAC id, from its data alone. */
function foundByIds(e: Appended): boolean[] {
  const entry = {
    ...e,
    seq: 1,
    time: "2026-11-26T08:00:00.000+08:00",
    utc: "2026-11-26T00:00:00.000Z",
    // the message cleared: the data alone must say whom the entry is about
    message: "",
    prev: "0".repeat(64),
    hash: "0".repeat(64),
  } as Parameters<typeof toRow>[0];
  return [{ card: CARD_ID }, { obu: OBU_SERIAL }, { obu: OBU_ID }].map((f) =>
    matches(entry, toRow(entry), f),
  );
}

const IDS = { cardId: CARD_ID, obuSerial: OBU_SERIAL, obuId: OBU_ID };

describe("the lane's alarms about a card name it in their data", () => {
  it("an uncertain debit: SUSPECT_B5_MISSING", async () => {
    const { r, entries } = auditedRig();
    await open(r);
    await toDebit(r);
    await r.advance(1000); // b5TimeoutMs, no B5
    const [d, ...more] = alarmData(entries, "SUSPECT_B5_MISSING");
    expect(more).toEqual([]);
    expect(d).toEqual({ code: "SUSPECT_B5_MISSING", ...IDS });
    const e = entries.find((x) => x.data === d)!;
    expect(e.message).toContain(`card ${CARD_ID}`);
    expect(foundByIds(e)).toEqual([true, true, true]);
  });

  it("a listed card's stop: CARD_ON_STATUS_LIST", async () => {
    const { r, entries } = auditedRig();
    r.list.listed.add(CARD_ID);
    await open(r);
    await toDebit(r);
    expect(alarmData(entries, "CARD_ON_STATUS_LIST")).toEqual([{ code: "CARD_ON_STATUS_LIST", ...IDS }]);
  });

  it("a debit in flight when the process was killed: CRASH_RECOVERY", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    j.failCommits = true; // the process dies here: the C1 is out, the commit never happens
    first.link.frame(ev.b5());
    await first.settle();
    j.failCommits = false;
    j.health$.next({ healthy: true });
    const { r, entries } = auditedRig({ journal: j });
    await r.ctl.start();
    await r.settle();
    expect(alarmData(entries, "CRASH_RECOVERY")).toEqual([{ code: "CRASH_RECOVERY", ...IDS }]);
  });

  it("a B5 the lane cannot place: ORPHAN_B5 names its OBU", async () => {
    const { r, entries } = auditedRig();
    await open(r);
    r.link.frame(ev.b5()); // no vehicle, no suspect of this OBU
    await r.settle();
    expect(alarmData(entries, "ORPHAN_B5")).toEqual([{ code: "ORPHAN_B5", obuId: OBU_ID }]);
  });

  it("a booth debit left on a lane without a booth: BOOTH_CRASH_RECOVERY, BOOTH_DEBIT_UNSETTLED", async () => {
    const paid = new FakeJournal();
    paid.writeIntent(`booth:${CARD_ID}`, boothIntentPayload(CARD_ID, OBU_SERIAL, "a1b2c3d4"));
    const a = auditedRig({ journal: paid });
    await open(a.r);
    expect(alarmData(a.entries, "BOOTH_CRASH_RECOVERY")).toEqual([{ code: "BOOTH_CRASH_RECOVERY", ...IDS }]);
    const unknown = new FakeJournal();
    unknown.writeIntent(`booth:${CARD_ID}`, boothIntentPayload(CARD_ID, OBU_SERIAL));
    const b = auditedRig({ journal: unknown });
    await open(b.r);
    expect(alarmData(b.entries, "BOOTH_DEBIT_UNSETTLED")).toEqual([
      { code: "BOOTH_DEBIT_UNSETTLED", ...IDS },
    ]);
  });
});
