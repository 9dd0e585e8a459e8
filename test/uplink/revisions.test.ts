import { afterEach, expect, it } from "vitest";
import type { Settlement } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";
import { makeRig, type Rig, stationMatchesJournal } from "./rig.js";

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

it("settled while its first revision is on the way: the station refusing that revision does not hold the new one, nor reports E613", async () => {
  let refusedTradeId = "";
  // revision 1 is on its way until the suspect is settled; then the station refuses it
  const g = gateFirstUpload(
    () =>
      new Response(
        JSON.stringify({
          accepted: [],
          rejected: [{ tradeId: refusedTradeId, code: "BAD_RECORD", message: "no" }],
        }),
        { status: 200, headers: { "content-type": "application/json" } },
      ),
  );
  rig = await makeRig({ fetch: g.fetch });
  const r = rig;
  const suspect = r.journal.commit(sampleRecord(4, "suspect"));
  refusedTradeId = suspect.tradeId;
  r.uplink.start();
  await g.onItsWay;
  r.journal.settle(suspect.seq, settlement);
  g.release();
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
