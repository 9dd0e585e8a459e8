/**
 * When the uplink sends audit checkpoints (src/uplink/uplink.ts step, docs/audit.md "The station as
 * witness"): in a step where no upload is ready to go. An upload that may go goes first; a record that waits
 * out its upload's backoff after a failure does not hold the checkpoints back (a failure defers its own kind
 * of request alone). On fake time, against a stub station and a stub outbox holding one record.
 */
import { Subject } from "rxjs";
import { expect, it, vi } from "vitest";
import type { CheckpointWitness } from "../../src/audit/witness.js";
import type { Outbox } from "../../src/journal/journal.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE } from "../journal/helpers.js";
import { queuedWitness, storedAll, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-checkpoint-turns-");

/** An outbox holding one record until an upload of it is acknowledged. */
function oneRecord(): Outbox {
  const rec = {
    seq: 1,
    tradeId: "430101020320261123185914000001",
    kind: "transaction" as const,
    revision: 1,
    createdAtMs: 0,
    json: "{}",
  };
  let waiting = true;
  return {
    pending: () => (waiting ? [rec] : []),
    markUploaded: () => {
      const n = waiting ? 1 : 0;
      waiting = false;
      return n;
    },
    hold: () => 0,
    queueDepth: () => (waiting ? 1 : 0),
    heldCount: () => 0,
    queueAge: () => null,
    commits$: new Subject(),
  };
}

/**
 * A station answering uploads with `upload(body)` and storing every checkpoint; `log` lists each request's
 * kind and the outbox's depth when it arrived.
 */
function station(outbox: Outbox, upload: (body: string) => Response) {
  const log: string[] = [];
  const f = (async (url: string, init: { body: string }) => {
    const kind = new URL(url).pathname.endsWith("/audit-checkpoints") ? "checkpoints" : "upload";
    log.push(`${kind} depth=${outbox.queueDepth()}`);
    if (kind === "upload") return upload(init.body);
    return new Response(JSON.stringify({ accepted: [{ n: 1, status: "stored" }] }), { status: 200 });
  }) as unknown as typeof fetch;
  return { f, log };
}

function uplinkOf(outbox: Outbox, f: typeof fetch, w: CheckpointWitness): Uplink {
  return new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 0,
    auditCheckpoints: w,
    random: () => 0,
  });
}

it("an upload ready to go goes before the checkpoints: the checkpoint follows once the record is stored", async () => {
  const outbox = oneRecord();
  const w = queuedWitness(dir(), 1);
  const { f, log } = station(outbox, storedAll);
  const uplink = uplinkOf(outbox, f, w);
  uplink.start();
  await vi.advanceTimersByTimeAsync(1_000);
  await uplink.stop();
  expect(log).toEqual(["upload depth=1", "checkpoints depth=0"]);
  expect(w.status()).toMatchObject({ queued: 0, lastAcknowledged: { n: 1 } });
});

it("a record waiting out its upload's backoff (a 503) does not hold the checkpoints back: one goes while it waits", async () => {
  const outbox = oneRecord();
  const w = queuedWitness(dir(), 1);
  const { f, log } = station(outbox, () => new Response('{"error":"X"}', { status: 503 }));
  const uplink = uplinkOf(outbox, f, w);
  uplink.start();
  await vi.advanceTimersByTimeAsync(2_000);
  await uplink.stop();
  expect(log.slice(0, 2)).toEqual(["upload depth=1", "checkpoints depth=1"]);
  expect(log.filter((l) => l.startsWith("checkpoints"))).toEqual(["checkpoints depth=1"]);
  expect(w.status()).toMatchObject({ queued: 0, lastAcknowledged: { n: 1 } });
  expect(outbox.queueDepth()).toBe(1);
});
