/**
 * An outbox row whose record row is gone (review, uplink finding 1): pending() joins each queued seq to its
 * record and skips it, but the in-memory count still held it, so once the records around it were
 * acknowledged the loop found records to send, read none, and its sleep woke synchronously: a loop on
 * microtasks only that froze the lane's thread (no timer, no I/O ever ran again). Now such a read is the
 * outbox's failure naming the seqs, the rows are taken out of the queue, the count is read again from the
 * disk, and the sleep never wakes synchronously.
 */
import { Subject } from "rxjs";
import { afterEach, expect, it } from "vitest";
import type { Outbox } from "../../src/journal/outbox.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE } from "../journal/helpers.js";
import { makeRig, type Rig, statusWhere } from "./rig.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** A timer scheduled now: resolves only if the event loop gets to run its timers. */
function timerFires(): Promise<"fired"> {
  return new Promise((resolve) => setTimeout(() => resolve("fired"), 0));
}

it("a records row deleted, its outbox row left: the records around it and after it go, the seq is named, the loop yields", async () => {
  rig = await makeRig();
  const ids = rig.commit(3);
  const db = rig.journal["h"].db;
  const orphan = db.prepare("SELECT seq FROM records WHERE trade_id = ?").pluck().get(ids[1]) as number;
  db.prepare("DELETE FROM records WHERE seq = ?").run(orphan); // journal.db edited: the outbox row stays
  expect(rig.journal.queueDepth()).toBe(3);
  rig.uplink.start();
  const s = await statusWhere(rig.uplink, (x) => x.outboxError !== null, "the orphan named");
  expect(s.outboxError?.message).toMatch(
    new RegExp(`^outbox rows with no journal record \\(seq ${orphan}\\): .*skipped`),
  );
  expect(await timerFires()).toBe("fired");
  await rig.uplink.whenDrained(10_000);
  expect(rig.journal.queueDepth()).toBe(0);
  expect(db.prepare("SELECT COUNT(*) FROM outbox").pluck().get()).toBe(0);
  // the uplink goes on: records committed later go too, and the event loop still runs timers
  const later = rig.commit(2);
  await rig.uplink.whenDrained(10_000);
  expect(rig.station.received().map((r) => r.tradeId)).toEqual([ids[0], ids[2], ...later]);
  expect(rig.uplink.status()).toMatchObject({ queueDepth: 0, outboxError: null, lastError: null });
  expect(await timerFires()).toBe("fired");
});

it("an outbox whose count says records wait but whose read finds none (no dropOrphans): a named failure, backed off, the event loop runs", async () => {
  let reads = 0;
  const outbox: Outbox = {
    pending: () => {
      reads++;
      return [];
    },
    queueAge: () => null,
    markUploaded: () => 0,
    hold: () => 0,
    queueDepth: () => 2,
    heldCount: () => 0,
    commits$: new Subject<{ seq: number; tradeId: string }>(),
  };
  const up = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox,
    lane: LANE,
    fetch: (async () => new Response("{}", { status: 200 })) as unknown as typeof fetch,
    heartbeatIntervalMs: 0,
    backoff: { initialMs: 1, maxMs: 2, jitter: 0 },
  });
  up.start();
  try {
    const s = await statusWhere(up, (x) => x.outboxError !== null, "the mismatch named");
    expect(s.outboxError?.message).toBe("the outbox counts 2 record(s) waiting but its read found none");
    expect(await timerFires()).toBe("fired");
    const before = reads;
    await statusWhere(up, () => reads > before, "a read after the backoff");
    expect(up.status()).toMatchObject({ breaker: "closed", lastError: null, consecutiveFailures: 0 });
  } finally {
    await up.stop();
  }
});
