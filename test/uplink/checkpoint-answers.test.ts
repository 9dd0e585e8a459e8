/**
 * What the uplink takes from the station's answer to audit checkpoints (src/uplink/audit-checkpoints.ts):
 * only the numbers in `accepted` that lie within the request's range. A 200 naming none of them (a gateway
 * answering with its own last one, say) is a refusal, asked again after the witness's wait, not at once; a
 * number above the request's last does not acknowledge queued checkpoints that were never sent. On fake
 * time, against a stub station.
 */
import { Subject } from "rxjs";
import { expect, it, vi } from "vitest";
import type { SignedCheckpoint } from "../../src/audit/checkpoint.js";
import type { Outbox } from "../../src/journal/journal.js";
import { CHECKPOINT_BATCH, sendCheckpoints } from "../../src/uplink/audit-checkpoints.js";
import { StationClient } from "../../src/uplink/station-client.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE } from "../journal/helpers.js";
import { queuedWitness, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-checkpoint-answers-");

/**
 * A station whose answer to every checkpoint request is `answer(the numbers sent)`, 1 ms after the request
 * (a round trip on a LAN); `posts` counts the requests.
 */
function stubStation(answer: (sent: number[]) => { n: number; status: string }[]) {
  const seen = { posts: 0 };
  const f = (async (_url: string, init: { body: string }) => {
    seen.posts++;
    await new Promise((resolve) => setTimeout(resolve, 1));
    const sent = (JSON.parse(init.body) as { checkpoints: SignedCheckpoint[] }).checkpoints.map(
      (c) => c.checkpoint.n,
    );
    return new Response(JSON.stringify({ accepted: answer(sent) }), { status: 200 });
  }) as unknown as typeof fetch;
  return { f, seen };
}

/** An outbox with no records: only checkpoints travel. */
function emptyOutbox(): Outbox {
  return {
    pending: () => [],
    markUploaded: () => 0,
    hold: () => 0,
    queueDepth: () => 0,
    heldCount: () => 0,
    queueAge: () => null,
    commits$: new Subject(),
  };
}

it("a 200 that names only a checkpoint below the request's is one refusal, asked again after failRetryMs, not at once", async () => {
  const w = queuedWitness(dir(), 3);
  const { f, seen } = stubStation(() => [{ n: 0, status: "stored" }]);
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: emptyOutbox(),
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 0,
    auditCheckpoints: w,
    random: () => 0,
  });
  uplink.start();
  await vi.advanceTimersByTimeAsync(1_000);
  // before: the same batch went again at once, about once per round trip (hundreds in this second)
  expect(seen.posts).toBe(1);
  expect(w.status()).toMatchObject({
    queued: 3,
    lastAcknowledged: null,
    lastError: "station acknowledged none of the 3 checkpoints sent (#1..#3)",
  });
  await vi.advanceTimersByTimeAsync(60_000);
  expect(seen.posts).toBe(2);
  await uplink.stop();
});

it("a number above the request's last acknowledges none of the queued checkpoints that were not sent", async () => {
  const queued = CHECKPOINT_BATCH + 50;
  const w = queuedWitness(dir(), queued);
  // every checkpoint sent stored, and one more the lane never sent
  const { f, seen } = stubStation((sent) => [
    ...sent.map((n) => ({ n, status: "stored" })),
    { n: queued, status: "stored" },
  ]);
  const client = new StationClient(
    {
      baseUrl: "http://station.invalid:1",
      lane: LANE,
      requestTimeoutMs: 5_000,
      bundleTimeoutMs: 5_000,
      fetch: f,
    },
    new AbortController().signal,
  );
  const sent = sendCheckpoints(client, w);
  await vi.advanceTimersByTimeAsync(1);
  await sent;
  expect(seen.posts).toBe(1);
  // #1..#100 acknowledged; before, #150 acknowledged all 150
  expect(w.status()).toMatchObject({
    queued: queued - CHECKPOINT_BATCH,
    lastAcknowledged: { n: CHECKPOINT_BATCH },
    lastError: null,
  });
});
