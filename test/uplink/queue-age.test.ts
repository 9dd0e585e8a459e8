/**
 * The queue's age, beyond which the uplink is "degraded" although the station answers (staleAfterMs):
 * counted from when a record joined the upload queue (src/journal/outbox.ts, `outbox.queued_at_ms`), not
 * from its creation, so a suspect settled a day after its upload is not a day old in the queue; and never
 * less than the time the uplink has seen the head of the queue wait on the monotonic clock, so a wall
 * clock set back hides no queue that does not move. The wall clock, the monotonic clock and the
 * station's answers are the test's: an upload the station has not answered yet keeps the queue waiting
 * while nothing fails.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import type { Settlement } from "../../src/journal/types.js";
import { Uplink, type UplinkState } from "../../src/uplink/uplink.js";
import { acksOf, LANE, LANE_UTC_OFFSET, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { storedAll } from "./rig.js";

const T0 = Date.UTC(2026, 10, 20, 8, 0, 0);
const DAY = 86_400_000;
const HOUR = 3_600_000;
const STALE = 60_000;
const settlement: Settlement = {
  kind: "transaction",
  outcome: "EXIT_DEBIT_SETTLED",
  settledBy: "b5",
  fields: { tac: "0A0B0C0D" },
};

let dir = "";
let cleanup = (): void => {};
let wall = T0;
let mono = 1_000;
const opened: { stop(): Promise<unknown> }[] = [];
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-queue-age-"));
  wall = T0;
  mono = 1_000;
});
afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.stop();
  cleanup();
});

/**
 * A station that answers heartbeats and stores what it is sent until `hold()`: from then on an upload
 * gets no answer (until the uplink stops). `nextUpload()` resolves with the trade ids of the next upload
 * request when it arrives.
 */
function station() {
  let holding = false;
  let arrived: ((ids: string[]) => void) | null = null;
  const f = (async (url: string, init: { body: string; signal: AbortSignal }) => {
    if (new URL(url).pathname.endsWith("/heartbeat")) return new Response("{}", { status: 200 });
    const ids = (JSON.parse(init.body) as { records: { tradeId: string }[] }).records.map((r) => r.tradeId);
    arrived?.(ids);
    arrived = null;
    if (!holding) return storedAll(init.body);
    return new Promise<Response>((_resolve, reject) => {
      init.signal.addEventListener("abort", () => reject(init.signal.reason), { once: true });
    });
  }) as unknown as typeof fetch;
  return {
    fetch: f,
    hold: () => {
      holding = true;
    },
    nextUpload: () =>
      new Promise<string[]>((resolve) => {
        arrived = resolve;
      }),
  };
}

/**
 * A station whose first upload is answered `answer(its body)` once `release()` is called, and whose later
 * uploads get no answer (until the uplink stops); `uploads()` counts the requests so far.
 */
function answeredOnceReleased(answer: (body: string) => Response) {
  let release: (() => void) | null = null;
  let uploads = 0;
  const f = (async (url: string, init: { body: string; signal: AbortSignal }) => {
    if (new URL(url).pathname.endsWith("/heartbeat")) return new Response("{}", { status: 200 });
    const n = uploads++;
    return new Promise<Response>((resolve, reject) => {
      init.signal.addEventListener("abort", () => reject(init.signal.reason), { once: true });
      if (n === 0) release = () => resolve(answer(init.body));
    });
  }) as unknown as typeof fetch;
  return {
    fetch: f,
    uploads: () => uploads,
    release: () => {
      if (release === null) throw new Error("no upload to answer yet");
      release();
    },
  };
}

function openLane(f: typeof fetch) {
  const journal = Journal.open({
    dataDir: dir,
    laneIdentity: LANE,
    utcOffsetMinutes: LANE_UTC_OFFSET,
    now: () => new Date(wall),
  });
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 600_000,
    requestTimeoutMs: 300_000,
    staleAfterMs: STALE,
    now: () => wall,
    monotonicNow: () => mono,
  });
  const states: UplinkState[] = [];
  uplink.state$.subscribe((s) => states.push(s));
  opened.push({ stop: () => journal.close() }, { stop: () => uplink.stop() });
  return { journal, uplink, states };
}

it("a suspect settled a day after its upload goes again without degrading the uplink: it has just joined the queue", async () => {
  const st = station();
  const { journal, uplink, states } = openLane(st.fetch);
  const suspect = journal.commit(sampleRecord(1, "suspect"));
  uplink.start();
  await uplink.whenDrained();
  st.hold();
  wall += DAY;
  mono += DAY;
  const onItsWay = st.nextUpload();
  journal.settle(suspect.seq, settlement);
  expect(await onItsWay).toEqual([suspect.tradeId]);
  expect(uplink.status()).toMatchObject({ state: "online", queueDepth: 1, oldestPendingAgeMs: 0 });
  wall += 30_000;
  mono += 30_000;
  expect(uplink.status()).toMatchObject({ state: "online", oldestPendingAgeMs: 30_000 });
  // nothing answers it: past staleAfterMs in the queue, the queue is stale
  wall += 31_000;
  mono += 31_000;
  expect(uplink.status()).toMatchObject({ state: "degraded", oldestPendingAgeMs: 61_000 });
  // every state the uplink published: never degraded before that (the status() above publishes nothing)
  expect(states).toEqual(["offline", "online"]);
});

it("the wall clock set back an hour: a queue that does not move is still degraded after staleAfterMs", async () => {
  const st = station();
  st.hold();
  const { journal, uplink } = openLane(st.fetch);
  const onItsWay = st.nextUpload();
  const rec = journal.commit(sampleRecord(1));
  uplink.start();
  expect(await onItsWay).toEqual([rec.tradeId]);
  expect(uplink.status()).toMatchObject({ state: "online", oldestPendingAgeMs: 0 });
  wall -= HOUR;
  mono += 30_000;
  expect(uplink.status()).toMatchObject({ state: "online", oldestPendingAgeMs: 30_000 });
  wall += 31_000;
  mono += 31_000;
  // on the wall clock the record was queued in the future: the journal alone says 0
  expect(journal.oldestPendingAgeMs()).toBe(0);
  expect(uplink.status()).toMatchObject({ state: "degraded", oldestPendingAgeMs: 61_000 });
});

it("the wall clock set back, and the station names every record of a batch but the head: the head's wait is still counted", async () => {
  // the first upload is answered once released, naming all but the first record; later ones get no answer
  const st = answeredOnceReleased((body) => {
    const { records } = JSON.parse(body) as { records: { tradeId: string }[] };
    const accepted = records.slice(1).map((r) => ({ tradeId: r.tradeId, status: "stored" }));
    return new Response(JSON.stringify({ accepted, rejected: [] }), { status: 200 });
  });
  const { journal, uplink } = openLane(st.fetch);
  const head = journal.commit(sampleRecord(1));
  journal.commit(sampleRecord(2));
  uplink.start();
  await until(() => st.uploads() === 1);
  wall -= HOUR;
  mono += 30_000;
  expect(uplink.status()).toMatchObject({ state: "online", queueDepth: 2, oldestPendingAgeMs: 30_000 });
  st.release();
  // the partial answer is recorded, and the head goes again (unanswered)
  await until(() => st.uploads() === 2);
  expect(journal.list({ pending: true }).map((r) => r.seq)).toEqual([head.seq]);
  mono += 31_000;
  expect(journal.oldestPendingAgeMs()).toBe(0);
  expect(uplink.status()).toMatchObject({ state: "degraded", queueDepth: 1, oldestPendingAgeMs: 61_000 });
});

it("the wall clock set back, then a record settled ahead of the queue: the head the uplink watched still waits behind it", async () => {
  const st = station();
  const { journal, uplink } = openLane(st.fetch);
  const suspect = journal.commit(sampleRecord(1, "suspect"));
  expect(journal.markUploaded(acksOf(suspect))).toBe(1);
  st.hold();
  wall += 60_000;
  const onItsWay = st.nextUpload();
  const rec = journal.commit(sampleRecord(2));
  uplink.start();
  expect(await onItsWay).toEqual([rec.tradeId]);
  wall -= HOUR;
  mono += 40_000;
  journal.settle(suspect.seq, settlement);
  expect(journal.queueAge()).toEqual({ oldestMs: 0, head: { seq: suspect.seq, ageMs: 0 } });
  expect(uplink.status()).toMatchObject({ state: "online", queueDepth: 2, oldestPendingAgeMs: 40_000 });
  mono += 21_000;
  expect(uplink.status()).toMatchObject({ state: "degraded", oldestPendingAgeMs: 61_000 });
});

it("the head the uplink watched is acknowledged after a record was settled ahead of it: the queue's age is that record's", async () => {
  // the first upload waits for release(); the next gets no answer (the status is read while it waits)
  const st = answeredOnceReleased(storedAll);
  const { journal, uplink } = openLane(st.fetch);
  const suspect = journal.commit(sampleRecord(1, "suspect"));
  expect(journal.markUploaded(acksOf(suspect))).toBe(1);
  journal.commit(sampleRecord(2)); // the head the uplink watches
  uplink.start();
  await until(() => st.uploads() === 1);
  wall += 50_000;
  mono += 50_000;
  expect(uplink.status()).toMatchObject({ oldestPendingAgeMs: 50_000 }); // the uplink watches rec
  journal.settle(suspect.seq, settlement); // queued again, ahead of rec
  st.release();
  await until(() => st.uploads() === 2); // rec acknowledged; the settled suspect's upload is on its way
  expect(journal.queueAge()).toEqual({ oldestMs: 0, head: { seq: suspect.seq, ageMs: 0 } });
  expect(uplink.status()).toMatchObject({ state: "online", queueDepth: 1, oldestPendingAgeMs: 0 });
});

/** Resolves once `cond()` holds, checking after each turn of the event loop (no timer: fake-free). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}
