/** A lane journal + in-process station simulator + uplink, in a temp dir, for uplink tests. */

import { filter, firstValueFrom, throwError, timeout } from "rxjs";
import { afterEach, beforeEach, vi } from "vitest";
import { type StationHandle, type StationOptions, startStation } from "../../sim/station/station.js";
import type { CheckpointStatement, SignedCheckpoint } from "../../src/audit/checkpoint.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { CheckpointWitness } from "../../src/audit/witness.js";
import { Journal } from "../../src/journal/journal.js";
import { Uplink, type UplinkOptions, type UplinkStatus } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

export interface Rig {
  dir: string;
  journal: Journal;
  station: StationHandle;
  uplink: Uplink;
  commit(n: number): string[];
  close(): Promise<void>;
}

export async function makeRig(
  uplinkOpts: Partial<UplinkOptions> = {},
  stationOpts: StationOptions = {},
): Promise<Rig> {
  const { dir, cleanup } = tempDir("etc-uplink-");
  const journal = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const station = await startStation(stationOpts);
  const uplink = new Uplink({
    stationUrl: station.url,
    outbox: journal,
    lane: LANE,
    batchSize: 50,
    requestTimeoutMs: 1000,
    backoff: { initialMs: 5, maxMs: 40, jitter: 0.5 },
    breaker: { failureThreshold: 4, coolDownMs: 60 },
    heartbeatIntervalMs: 0,
    ...uplinkOpts,
  });
  let i = 0;
  return {
    dir,
    journal,
    station,
    uplink,
    commit(n) {
      // one transaction for the lot: the uplink sees the same outbox, the test spends less time in fsync
      const kinds = ["transaction", "stop", "suspect"] as const;
      const recs = Array.from({ length: n }, () => sampleRecord(i, kinds[i++ % 3]));
      return journal.commitMany(recs).map((r) => r.tradeId);
    },
    async close() {
      await uplink.stop();
      await station.close();
      await journal.close();
      cleanup();
    },
  };
}

/**
 * The first status the uplink publishes (status$: its current one, then one after every step) for which
 * `pred` holds; rejects naming `what` if none comes within `ms` (a safety bound, not a timing).
 */
export function statusWhere(
  uplink: Uplink,
  pred: (s: UplinkStatus) => boolean,
  what: string,
  ms = 20_000,
): Promise<UplinkStatus> {
  return firstValueFrom(
    uplink.status$.pipe(
      filter(pred),
      timeout({ first: ms, with: () => throwError(() => new Error(`no ${what} within ${ms} ms`)) }),
    ),
  );
}

/**
 * The invariant: every journal record is at the station, none extra, none left to send. The station keeps
 * one row per trade id, so a record sent twice shows in its arrivals (`resentBeyond`), never here.
 */
export function stationMatchesJournal(rig: Rig): {
  missing: string[];
  extra: string[];
  distinct: number;
  ok: boolean;
} {
  const journalIds = rig.journal.list().map((r) => r.tradeId);
  const stationIds = rig.station.received().map((r) => r.tradeId);
  const js = new Set(journalIds);
  const ss = new Set(stationIds);
  const missing = journalIds.filter((id) => !ss.has(id));
  const extra = stationIds.filter((id) => !js.has(id));
  const ok = missing.length === 0 && extra.length === 0 && rig.journal.queueDepth() === 0;
  return { missing, extra, distinct: ss.size, ok };
}

/**
 * A fetch for the uplink that passes every request on to the station and counts, per trade id, the upload
 * requests carrying it whose whole 200 answer the lane did not get (no answer, a reset, a 5xx, an answer
 * cut off): the only sends after which the lane may send a record again.
 */
export function uploadWatch(): { fetch: typeof fetch; unanswered: Map<string, number> } {
  const unanswered = new Map<string, number>();
  const watched = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const upload = init?.method === "POST" && new URL(String(input)).pathname === "/api/v1/transactions";
    if (!upload) return fetch(input, init);
    const ids = (JSON.parse(String(init.body)) as { records: { tradeId: string }[] }).records.map(
      (r) => r.tradeId,
    );
    let answer: { status: number; headers: Headers; body: string } | null = null;
    try {
      const res = await fetch(input, init);
      answer = { status: res.status, headers: res.headers, body: await res.text() };
      return new Response(answer.body, { status: answer.status, headers: answer.headers });
    } finally {
      if (answer?.status !== 200) for (const id of ids) unanswered.set(id, (unanswered.get(id) ?? 0) + 1);
    }
  }) as typeof fetch;
  return { fetch: watched, unanswered };
}

/**
 * The station's records that arrived more often than once plus the unanswered sends of them
 * (`uploadWatch`), or that were replaced: a lane that sent a record again after the station's answer
 * acknowledged it. Empty when it never did.
 */
export function resentBeyond(
  rig: Rig,
  unanswered: Map<string, number>,
): { tradeId: string; arrivals: number; unanswered: number; updates: number }[] {
  return rig.station
    .received()
    .map((r) => ({
      tradeId: r.tradeId,
      arrivals: r.arrivals,
      unanswered: unanswered.get(r.tradeId) ?? 0,
      updates: r.updates,
    }))
    .filter((r) => r.arrivals > 1 + r.unanswered || r.updates !== 0);
}

/** The station's answer to an upload body that stores every record it carries. */
export function storedAll(uploadBody: string): Response {
  const body = JSON.parse(uploadBody) as { records: { tradeId: string }[] };
  const accepted = body.records.map((r) => ({ tradeId: r.tradeId, status: "stored" }));
  return new Response(JSON.stringify({ accepted, rejected: [] }), { status: 200 });
}

/**
 * Gives each test of the calling file a temporary directory of its own (`prefix` and a random tail) and
 * fake timers (the uplink's request timeout, backoff, cool-down and heartbeat interval, and its clock),
 * both undone after the test. Returns the running test's directory.
 */
export function tempDirOnFakeTimers(prefix: string): () => string {
  let dir = "";
  let cleanup = (): void => {};
  beforeEach(() => {
    ({ dir, cleanup } = tempDir(prefix));
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "Date", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
    cleanup();
  });
  return () => dir;
}

/** Audit checkpoints #1..#count, ten entries each, well formed (a stub station checks no signature). */
function signedCheckpoints(count: number): SignedCheckpoint[] {
  return Array.from({ length: count }, (_, i) => {
    const s: CheckpointStatement = {
      v: 1,
      lane: "4301010203",
      keyId: "0123456789abcdef",
      n: i + 1,
      from: i * 10 + 1,
      to: i * 10 + 10,
      head: "a".repeat(64),
      prev: "0".repeat(64),
      time: "2026-12-06T00:00:00.000Z",
    };
    return { checkpoint: s, sig: "c2ln" };
  });
}

/**
 * A checkpoint witness keeping its state in `dir`, with checkpoints #1..#count (signedCheckpoints) queued;
 * a refused request is asked again after 60 s (failRetryMs).
 */
export function queuedWitness(dir: string, count: number): CheckpointWitness {
  const w = new CheckpointWitness({
    dir,
    spool: new MemoryAuditSpool(),
    publicKeyPem: "PEM",
    now: Date.now,
    max: 1000,
    enabled: true,
    failRetryMs: 60_000,
    onConflict: () => undefined,
    onBehind: () => undefined,
  });
  for (const cp of signedCheckpoints(count)) w.add(cp);
  return w;
}
