/**
 * While the journal is unhealthy (disk full: it records nothing until recover()), the uplink sends no
 * records: it could not record the station's acknowledgement, so the same batch would go again and again.
 * The journal's failure is not counted as the station's (no breaker, no "offline"). Once the journal has
 * recovered the records go, each once more at most (the station stores a re-send once, by trade id).
 */
import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { storedAll, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-unhealthy-");

function openFull(): Journal {
  return Journal.open({
    dataDir: dir(),
    laneIdentity: LANE,
    utcOffsetMinutes: LANE_UTC_OFFSET,
    maxSizeBytes: 128 * 1024,
    recoverProbeMs: 0,
    checkpointIntervalMs: 0,
  });
}

/** commits until the disk is "full": the journal turns unhealthy */
function fill(j: Journal, from: number): void {
  expect(() => {
    for (let i = from; i < from + 10_000; i++) j.commit(sampleRecord(i));
  }).toThrow(expect.objectContaining({ code: "E601_JOURNAL_WRITE" }));
  expect(j.healthy).toBe(false);
}

/** a station that stores every record it is sent and answers heartbeats; `onUpload` runs before it answers */
function station(onUpload: () => void = () => {}) {
  const sent: string[] = [];
  const f = (async (url: string, init: { body: string }) => {
    if (new URL(url).pathname.endsWith("/heartbeat")) return new Response("{}", { status: 200 });
    const body = JSON.parse(init.body) as { records: { tradeId: string }[] };
    sent.push(...body.records.map((r) => r.tradeId));
    onUpload();
    return storedAll(init.body);
  }) as unknown as typeof fetch;
  return { sent, f };
}

function uplink(journal: Journal, f: typeof fetch): Uplink {
  return new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 1_000,
    backoff: { initialMs: 10, maxMs: 20, jitter: 0 },
    breaker: { failureThreshold: 3, coolDownMs: 300 },
  });
}

it("an unhealthy journal: no records go and nothing counts against the station; they go once it recovers", async () => {
  const journal = openFull();
  fill(journal, 0);
  const depth = journal.queueDepth();
  const { sent, f } = station();
  const up = uplink(journal, f);
  up.start();
  for (let t = 0; t < 50; t++) await vi.advanceTimersByTimeAsync(100);
  expect(sent).toEqual([]);
  expect(up.status()).toMatchObject({ state: "online", breaker: "closed", queueDepth: depth });
  expect(up.status().counters.failures).toBe(0);

  journal["h"].db.pragma("max_page_count = 100000"); // the space is back
  expect(journal.recover()).toBe(true);
  for (let t = 0; t < 20; t++) await vi.advanceTimersByTimeAsync(100); // the next heartbeat's turn
  expect(journal.queueDepth()).toBe(0);
  expect(sent).toHaveLength(depth);
  expect(new Set(sent).size).toBe(depth);
  await up.stop();
  await journal.close();
});

it("the journal turning unhealthy while a batch is on its way: not a station failure, and not re-sent until it recovers", async () => {
  const journal = openFull();
  journal.commit(sampleRecord(0));
  let full = false;
  const { sent, f } = station(() => {
    if (!full) {
      full = true;
      fill(journal, 1); // the disk fills up before the acknowledgement is written
    }
  });
  const up = uplink(journal, f);
  up.start();
  for (let t = 0; t < 50; t++) await vi.advanceTimersByTimeAsync(100);
  expect(sent).toHaveLength(1);
  expect(up.status()).toMatchObject({ state: "online", breaker: "closed" });
  expect(up.status().counters.failures).toBe(0);

  const depth = journal.queueDepth();
  journal["h"].db.pragma("max_page_count = 100000");
  expect(journal.recover()).toBe(true);
  for (let t = 0; t < 20; t++) await vi.advanceTimersByTimeAsync(100);
  expect(journal.queueDepth()).toBe(0);
  expect(sent).toHaveLength(1 + depth); // the first record once more (its acknowledgement was lost), the rest once
  expect(sent.filter((id) => id === sent[0])).toHaveLength(2);
  await up.stop();
  await journal.close();
});
