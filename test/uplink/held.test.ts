import { afterEach, beforeEach, expect, it } from "vitest";
import { heldHow, uplinkRecordsHeldEvent } from "../../src/audit/events.js";
import { Journal } from "../../src/journal/journal.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { makeRig, stationMatchesJournal, statusWhere } from "./rig.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-held-"));
});
afterEach(() => cleanup());

it("records the station refuses are held (kept, never pruned) and do not block the queue; requeue sends them and clears E613", async () => {
  let t = Date.parse("2026-01-01T00:00:00Z");
  const journal = Journal.open({
    dataDir: dir,
    laneIdentity: LANE,
    utcOffsetMinutes: LANE_UTC_OFFSET,
    now: () => new Date(t),
  });
  const recs = Array.from({ length: 6 }, (_, i) => journal.commit(sampleRecord(i)));
  const refuse = new Set([recs[2]!.tradeId]);
  const stationGot: string[] = [];
  const fakeFetch = (async (_url: string, init: { body: string }) => {
    const body = JSON.parse(init.body) as { records: { tradeId: string }[] };
    const ids = body.records.map((r) => r.tradeId);
    stationGot.push(...ids);
    return new Response(
      JSON.stringify({
        accepted: ids.filter((id) => !refuse.has(id)).map((tradeId) => ({ tradeId, status: "stored" })),
        rejected: ids
          .filter((id) => refuse.has(id))
          .map((tradeId) => ({ tradeId, code: "BAD_RECORD", message: "no" })),
      }),
      { status: 200 },
    );
  }) as unknown as typeof fetch;
  const audit: string[] = [];
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: fakeFetch,
    heartbeatIntervalMs: 0,
    batchSize: 2,
    audit: { append: (e) => audit.push(e.type) },
    now: () => t,
  });
  uplink.start();
  await uplink.whenDrained();
  expect(stationGot).toEqual(recs.map((r) => r.tradeId)); // in order, the refused one did not block the rest
  expect(journal.heldCount()).toBe(1);
  expect(uplink.status()).toMatchObject({ state: "degraded", held: 1, queueDepth: 0 });
  expect(uplink.status().lastError?.code).toBe("E613_STATION_REJECTED");
  expect(audit).toContain("uplink.records-held");
  const held = journal.get(recs[2]!.tradeId);
  expect(held?.held).toMatchObject({ code: "BAD_RECORD" });
  expect(held?.uploadedAt).toBeNull();
  expect(journal.stats().pending).toBe(1);

  t += 365 * 86_400_000;
  await journal.runRetention();
  expect(journal.get(recs[2]!.tradeId)).not.toBeNull(); // a held record is never pruned
  expect(journal.list().map((r) => r.seq)).toEqual([recs[2]!.seq]);

  refuse.clear();
  expect(journal.requeueHeld()).toEqual({ requeued: 1, leftConflicts: 0 });
  await uplink.whenDrained();
  await statusWhere(uplink, (s) => s.state === "online", "online again");
  expect(journal.heldCount()).toBe(0);
  expect(uplink.status().lastError).toBeNull(); // no record is held: the refusal no longer stands
  expect(journal.get(recs[2]!.tradeId)?.uploadedAt).not.toBeNull();
  await uplink.stop();
  await journal.close();
});

it("a record the station's parser chokes on (400 for any request carrying it, station simulator): halved down to it, held alone, the queue behind it drains; requeue sends it", async () => {
  let poison = "";
  const sizes: number[] = [];
  const audit: { type: string; severity: string; data?: object }[] = [];
  const rig = await makeRig(
    { batchSize: 8, audit: { append: (e) => audit.push(e) } },
    {
      refuseUpload: (ids) => {
        sizes.push(ids.length);
        return ids.includes(poison) ? { status: 400, message: "record 5 does not parse" } : null;
      },
    },
  );
  try {
    const ids = rig.commit(20);
    poison = ids[4]!;
    rig.uplink.start();
    await statusWhere(rig.uplink, (s) => s.queueDepth === 0 && s.held === 1, "the queue drained, one held");
    expect(sizes).toEqual([
      ...[8, 8, 4], // refused twice, halved: the 4 records before the poison one go
      ...[4, 4, 2, 2, 1, 1], // the poison record at the head: halved down to it, refused alone twice
      ...Array(15).fill(1), // the fifteen after it alone (16 answers in a row before the size doubles)
    ]);
    // held, never acknowledged, visible as a refused record is; every other record at the station once
    expect(rig.journal.get(poison)).toMatchObject({ uploadedAt: null, held: { code: "HTTP_400" } });
    expect(rig.station.received().map((r) => [r.tradeId, r.arrivals])).toEqual(
      ids.filter((id) => id !== poison).map((id) => [id, 1]),
    );
    expect(rig.uplink.status()).toMatchObject({ held: 1, queueDepth: 0, counters: { rejected: 1 } });
    expect(rig.uplink.status().lastError).toMatchObject({ code: "E613_STATION_REJECTED" });
    expect(rig.uplink.status().lastError?.message).toContain(poison);
    expect(audit.filter((e) => e.type === "uplink.records-held")).toEqual([
      expect.objectContaining({
        severity: "alarm",
        message: `station refused 1 record(s); held for an operator (first ${poison}: HTTP_400)`,
        data: expect.objectContaining({ tradeIds: [poison] }),
      }),
    ]);

    poison = ""; // the station's parser is fixed
    expect(rig.journal.requeueHeld()).toEqual({ requeued: 1, leftConflicts: 0 });
    await statusWhere(rig.uplink, (s) => s.queueDepth === 0 && s.held === 0, "the requeued record sent");
    expect(stationMatchesJournal(rig).ok).toBe(true);
    expect(rig.uplink.status().lastError).toBeNull();
  } finally {
    await rig.close();
  }
});

it("a record the station fails on (500 for any upload carrying it, record-500) while it answers heartbeats: halved down to it, held alone, the queue behind it drains", async () => {
  const audit: { type: string; severity: string; data?: object }[] = [];
  // heartbeats an hour apart: those that go are the uplink asking the station after a failed upload
  const rig = await makeRig({
    batchSize: 10,
    heartbeatIntervalMs: 3_600_000,
    audit: { append: (e) => audit.push(e) },
  });
  try {
    const ids = rig.commit(10);
    const poison = ids[3]!;
    await rig.station.setFault("record-500", { tradeId: poison });
    rig.uplink.start();
    const s = await statusWhere(
      rig.uplink,
      (x) => x.queueDepth === 0 && x.held === 1,
      "the queue drained, one held",
    );
    // held as a refused record is (visible, alarmed, requeue-able), and the nine others at the station once
    expect(rig.journal.get(poison)).toMatchObject({ uploadedAt: null, held: { code: "HTTP_500" } });
    expect(rig.station.received().map((r) => [r.tradeId, r.arrivals])).toEqual(
      ids.filter((id) => id !== poison).map((id) => [id, 1]),
    );
    expect(s.lastError).toMatchObject({ code: "E613_STATION_REJECTED" });
    // worded by its cause (review, session 38: "station refused" for a 500)
    expect(s.lastError?.message).toMatch(
      new RegExp(
        `^station failed the request of record ${poison} \\(seq \\d+\\) alone 3 times while answering other requests: held`,
      ),
    );
    expect(audit.filter((e) => e.type === "uplink.records-held")).toEqual([
      expect.objectContaining({
        severity: "alarm",
        message: `station failed on 1 record(s); held for an operator (first ${poison}: HTTP_500)`,
        data: expect.objectContaining({ tradeIds: [poison] }),
      }),
    ]);
    await rig.station.setFault("none");
    expect(rig.journal.requeueHeld()).toEqual({ requeued: 1, leftConflicts: 0 });
    await statusWhere(rig.uplink, (x) => x.queueDepth === 0 && x.held === 0, "the requeued record sent");
    expect(stationMatchesJournal(rig).ok).toBe(true);
  } finally {
    await rig.close();
  }
});

it("a station that answers 500 to every request, heartbeats too: the batch is kept whole, nothing held", async () => {
  const rig = await makeRig({ batchSize: 10, heartbeatIntervalMs: 3_600_000 });
  try {
    rig.commit(10);
    await rig.station.setFault("500s");
    rig.uplink.start();
    const s = await statusWhere(rig.uplink, (x) => x.counters.failures >= 12, "twelve failed requests");
    expect(s).toMatchObject({ held: 0, queueDepth: 10, batch: { size: 10, max: 10 } });
    await rig.station.setFault("none");
    await rig.uplink.whenDrained();
    expect(stationMatchesJournal(rig).ok).toBe(true);
  } finally {
    await rig.close();
  }
});

it("a hold is worded by its cause: refused (rejected, 400, 413), failed on (500), did not answer in time for (TIMEOUT)", () => {
  expect(heldHow(["BAD_RECORD"])).toBe("refused");
  expect(heldHow(["HTTP_400", "CONFLICT"])).toBe("refused");
  expect(heldHow(["HTTP_500"])).toBe("failed on");
  expect(heldHow(["TIMEOUT"])).toBe("did not answer in time for");
  expect(heldHow(["BAD_RECORD", "HTTP_500"])).toBe("refused or failed on");
  const held = (codes: string[]) =>
    uplinkRecordsHeldEvent(
      { tradeIds: ["T1"], codes, held: [[7, 7]], count: 1 },
      { tradeId: "T1", code: codes[0]! },
    ).message;
  expect(held(["TIMEOUT"])).toBe(
    "station did not answer in time for 1 record(s); held for an operator (first T1: TIMEOUT; seq 7)",
  );
  expect(held(["HTTP_500"])).toBe(
    "station failed on 1 record(s); held for an operator (first T1: HTTP_500; seq 7)",
  );
  expect(held(["BAD_RECORD"])).toBe(
    "station refused 1 record(s); held for an operator (first T1: BAD_RECORD; seq 7)",
  );
});
