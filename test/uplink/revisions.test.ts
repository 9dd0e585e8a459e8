import { afterEach, expect, it } from "vitest";
import type { Settlement } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";
import { makeRig, type Rig, stationMatchesJournal, statusWhere } from "./rig.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const settlement: Settlement = {
  kind: "transaction",
  outcome: "EXIT_DEBIT_SETTLED",
  settledBy: "b8",
  fields: { tac: "0A0B0C0D", balanceAfter: 4_000 },
  evidence: { b8: "ffffb8" },
};

it("a suspect settled after its upload goes again; the station holds one record for it, the settled one", async () => {
  rig = await makeRig();
  const r = rig;
  const tx = r.journal.commit(sampleRecord(1));
  const suspect = r.journal.commit(sampleRecord(2, "suspect"));
  r.uplink.start();
  await r.uplink.whenDrained();
  expect(r.station.received().find((x) => x.tradeId === suspect.tradeId)).toMatchObject({
    kind: "suspect",
    revision: 1,
  });

  r.journal.settle(suspect.seq, settlement);
  expect(r.journal.queueDepth()).toBe(1);
  await r.uplink.whenDrained();
  expect(r.station.received().map((x) => [x.tradeId, x.kind, x.revision])).toEqual([
    [tx.tradeId, "transaction", 1],
    [suspect.tradeId, "transaction", 2],
  ]);
  const held = r.station.received()[1]!.record as {
    tac: string;
    extra: { settlement: { settledBy: string } };
  };
  expect([held.tac, held.extra.settlement.settledBy]).toEqual(["0A0B0C0D", "b8"]);
  expect(r.station.stats()).toMatchObject({ distinct: 2, updates: 1, duplicates: 0 });
  expect(r.uplink.status().counters.updatesAcked).toBe(1);
  expect(stationMatchesJournal(r).ok).toBe(true);
});

/**
 * A fetch whose first upload waits at a gate until `release()` (the test settles the suspect meanwhile),
 * then is answered by `firstAnswer` when given (else it reaches the station).
 */
function gateFirstUpload(firstAnswer?: () => Response) {
  let release: () => void = () => undefined;
  let arrived: () => void = () => undefined;
  const onItsWay = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const state = { uploads: 0 };
  const gatedFetch = (async (url: string | URL | Request, init?: RequestInit) => {
    if (String(url).endsWith("/api/v1/transactions") && state.uploads++ === 0) {
      arrived();
      await gate;
      if (firstAnswer) return firstAnswer();
    }
    return fetch(url, init);
  }) as typeof fetch;
  return { fetch: gatedFetch, onItsWay, release: () => release(), state };
}

it("settled while its first revision is on the way: the late acknowledgement does not take the new one off the queue", async () => {
  const g = gateFirstUpload(); // the first upload (revision 1) waits until the suspect is settled
  rig = await makeRig({ fetch: g.fetch });
  const r = rig;
  const suspect = r.journal.commit(sampleRecord(3, "suspect"));
  r.uplink.start();
  await g.onItsWay;
  r.journal.settle(suspect.seq, settlement);
  g.release();
  await r.uplink.whenDrained();
  expect(g.state.uploads).toBe(2);
  expect(r.station.received().map((x) => [x.tradeId, x.kind, x.revision, x.arrivals])).toEqual([
    [suspect.tradeId, "transaction", 2, 2],
  ]);
  expect(r.journal.get(suspect.seq)).toMatchObject({ revision: 2, uploadedAt: expect.any(String) });
});

/**
 * A suspect whose first revision is on its way (the upload gated) when a late B5 settles it; then the
 * station refuses that revision with `code`. Resolves once the refusal was let through.
 */
async function settledWhileRefused(code: string, message: string) {
  let refusedTradeId = "";
  const g = gateFirstUpload(
    () =>
      new Response(JSON.stringify({ accepted: [], rejected: [{ tradeId: refusedTradeId, code, message }] }), {
        status: 200,
        headers: { "content-type": "application/json" },
      }),
  );
  rig = await makeRig({ fetch: g.fetch });
  const r = rig;
  const suspect = r.journal.commit(sampleRecord(4, "suspect"));
  refusedTradeId = suspect.tradeId;
  r.uplink.start();
  await g.onItsWay;
  r.journal.settle(suspect.seq, settlement);
  g.release();
  return { r, suspect, g };
}

it("settled while its first revision is on the way: the station refusing that revision does not hold the new one, nor reports E613", async () => {
  // revision 1 is on its way until the suspect is settled; then the station refuses it
  const { r, suspect } = await settledWhileRefused("BAD_RECORD", "no");
  await r.uplink.whenDrained();
  // revision 2 was not held with revision 1's refusal: it went to the station, which stored it
  expect(r.journal.heldCount()).toBe(0);
  // nothing was held: no E613 (src/uplink/record-upload.ts upload), no record counted as rejected
  expect(r.uplink.status().lastError).toBeNull();
  expect(r.uplink.status().counters.rejected).toBe(0);
  expect(r.station.received().map((x) => [x.tradeId, x.kind, x.revision])).toEqual([
    [suspect.tradeId, "transaction", 2],
  ]);
  expect(r.journal.get(suspect.seq)).toMatchObject({ revision: 2, uploadedAt: expect.any(String) });
});

// review 2 (session 38): a CONFLICT answered for revision 1 while a late B5 settled the suspect held
// nothing, and revision 2 went out at once to replace the other lane's record at the station
it("settled while its first revision is on the way: a CONFLICT for that revision holds the settled one, with E613", async () => {
  const { r, suspect, g } = await settledWhileRefused("CONFLICT", "revision 1 held with other content");
  const st = await statusWhere(r.uplink, (s) => s.held === 1, "the settled revision held");
  expect(st.queueDepth).toBe(0);
  expect(st.lastError?.code).toBe("E613_STATION_REJECTED");
  expect(g.state.uploads).toBe(1);
  expect(r.station.received()).toEqual([]);
  expect(r.journal.get(suspect.seq)).toMatchObject({
    revision: 2,
    uploadedAt: null,
    held: { code: "CONFLICT" },
  });
  expect(r.journal.get(suspect.seq)?.held?.message).toMatch(
    /^revision 2 \(settled\) stays held with the conflict: .*revision 1 held with other content/,
  );
});

// review (session 38): the settlement of a record the station had refused as CONFLICT took it out of held,
// and its revision 2 replaced the other record the station held under that trade id (lane B's debit, gone
// at the station unseen)
it("two lanes under one lane id: a CONFLICT hold stays held through a settlement, and the station keeps the other lane's record", async () => {
  rig = await makeRig();
  const r = rig;
  const suspect = r.journal.commit(sampleRecord(2, "suspect"));
  // lane B's record under the same trade id reached the station first
  const mine = JSON.parse(r.journal.pending(1)[0]!.json) as Record<string, unknown>;
  const theirs = { ...mine, obuId: "B0B0B0B0", amount: 1_234 };
  const res = await fetch(`${r.station.url}/api/v1/transactions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-lane-id": "4301010203" },
    body: JSON.stringify({
      lane: { network: "4301", station: "0102", lane: 3 },
      records: [{ tradeId: suspect.tradeId, seq: suspect.seq, kind: "suspect", revision: 1, record: theirs }],
    }),
  });
  expect(((await res.json()) as { accepted: unknown[] }).accepted).toHaveLength(1);
  r.uplink.start();
  await statusWhere(r.uplink, (s) => s.held === 1, "the CONFLICT held");
  expect(r.journal.get(suspect.seq)?.held?.code).toBe("CONFLICT");
  // lane A settles its suspect: revision 2 stays held with the conflict, and goes nowhere
  r.journal.settle(suspect.seq, settlement);
  expect([r.journal.heldCount(), r.journal.queueDepth()]).toEqual([1, 0]);
  expect(r.journal.get(suspect.seq)).toMatchObject({ revision: 2, held: { code: "CONFLICT" } });
  expect(r.journal.get(suspect.seq)?.held?.message).toMatch(
    /^revision 2 \(settled\) stays held with the conflict/,
  );
  // an operator's plain requeue leaves it held; with --conflicts, before resolving the conflict, the
  // station refuses revision 2 too (its settlement names lane A's suspect, not lane B's it holds), and
  // the lane holds it again
  const uploads = r.station.stats().uploadRequests;
  expect(r.journal.requeueHeld()).toEqual({ requeued: 0, leftConflicts: 1 });
  expect([r.journal.heldCount(), r.journal.queueDepth()]).toEqual([1, 0]);
  expect(r.journal.requeueHeld(undefined, { conflicts: true })).toEqual({ requeued: 1, leftConflicts: 0 });
  await statusWhere(
    r.uplink,
    (s) => s.held === 1 && s.queueDepth === 0 && r.station.stats().uploadRequests > uploads,
    "revision 2 refused and held",
  );
  expect(r.journal.get(suspect.seq)).toMatchObject({
    revision: 2,
    uploadedAt: null,
    held: { code: "CONFLICT" },
  });
  // neither record is lost: lane B's at the station, lane A's settled one held at the lane
  expect(
    r.station.received().map((x) => [x.tradeId, x.revision, (x.record as { obuId: string }).obuId]),
  ).toEqual([[suspect.tradeId, 1, "B0B0B0B0"]]);
  expect(r.station.stats()).toMatchObject({ updates: 0, conflicts: 2 });
});
