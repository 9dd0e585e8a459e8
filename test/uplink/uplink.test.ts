import { BehaviorSubject, filter, firstValueFrom, Subject, timeout } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import type { FaultMode } from "../../sim/station/station.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { tempDir } from "../journal/helpers.js";
import { makeRig, type Rig, resentBeyond, stationMatchesJournal, statusWhere, uploadWatch } from "./rig.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe("uplink against the station simulator", () => {
  it("uploads in batches, in sequence order, and empties the outbox", async () => {
    // a generous timeout: this test counts requests, so no retry may happen on a busy machine
    rig = await makeRig({ batchSize: 500, requestTimeoutMs: 60_000 });
    const ids = rig.commit(1200);
    rig.uplink.start();
    await rig.uplink.whenDrained(30_000);
    const st = rig.station.stats();
    expect(st.uploadRequests).toBe(3); // 500 + 500 + 200
    expect(st.duplicates).toBe(0);
    expect(rig.station.received().map((r) => r.tradeId)).toEqual(ids); // arrival order = sequence order
    expect(rig.journal.list({ pending: true })).toHaveLength(0);
    expect(rig.uplink.status()).toMatchObject({ state: "online", queueDepth: 0, oldestPendingAgeMs: null });
    expect(rig.uplink.status().counters.recordsAcked).toBe(1200);
  });

  it("wakes on new commits and sends them without waiting for a timer", async () => {
    // the first heartbeat goes out at once, the next one only in 60 s: only a wake-up can send the records
    rig = await makeRig({ heartbeatIntervalMs: 60_000 });
    rig.uplink.start();
    await statusWhere(rig.uplink, (s) => s.state === "online", "first contact (heartbeat)");
    rig.commit(3);
    await rig.uplink.whenDrained(10_000);
    expect(rig.station.stats().distinct).toBe(3);
  });

  it("re-sent records are stored once and counted as duplicates (idempotent by trade id)", async () => {
    rig = await makeRig();
    const ids = rig.commit(10);
    rig.uplink.start();
    await rig.uplink.whenDrained();
    // forget the acknowledgements as if the lane crashed between the station's answer and markUploaded
    rig.journal["h"].db.exec("DELETE FROM acks; INSERT INTO outbox (seq) SELECT seq FROM records;");
    rig.journal.recover(); // re-reads the queue depth from disk
    expect(rig.journal.queueDepth()).toBe(10);
    rig.commit(1);
    await rig.uplink.whenDrained();
    const got = rig.station.received();
    expect(got).toHaveLength(11);
    expect(got.filter((r) => ids.includes(r.tradeId)).every((r) => r.arrivals === 2)).toBe(true);
    expect(rig.station.stats().duplicates).toBe(10);
    expect(stationMatchesJournal(rig).ok).toBe(true);
  });

  it("heartbeats carry the queue depth and the uplink state", async () => {
    rig = await makeRig({ heartbeatIntervalMs: 50, appVersion: "test" });
    rig.uplink.start();
    // the uplink counts a heartbeat once the station has answered it
    await statusWhere(rig.uplink, (s) => s.counters.heartbeats >= 2, "two heartbeats");
    expect(rig.station.stats().heartbeats).toBeGreaterThanOrEqual(2);
    const hb = rig.station.heartbeats()["4301010203"] as { lane: unknown; uplink: { queueDepth: number } };
    expect(hb.lane).toEqual({ network: "4301", station: "0102", lane: 3 });
    expect(hb.uplink.queueDepth).toBe(0);
  });
});

describe("the station's clock", () => {
  it("each heartbeat the station answers with its time measures the skew, halfway through the exchange", async () => {
    const lane = Date.UTC(2026, 10, 26, 0, 0, 0);
    let clock = lane;
    const calls: string[] = [];
    const up = new Uplink({
      stationUrl: "http://station.invalid",
      outbox: {
        pending: () => [],
        markUploaded: () => 0,
        hold: () => 0,
        queueDepth: () => 0,
        heldCount: () => 0,
        queueAge: () => null,
        commits$: new Subject(),
      },
      lane: { network: "4301", station: "0102", lane: 3 },
      heartbeatIntervalMs: 60_000,
      now: () => clock,
      fetch: async (url) => {
        calls.push(String(url));
        clock += 40; // the exchange takes 40 ms of lane time; the station answers at its 20th
        return new Response(JSON.stringify({ serverTime: new Date(lane + 20 + 90_000).toISOString() }));
      },
    });
    expect(up.status().clock).toBeNull();
    up.start();
    await statusWhere(up, (s) => s.counters.heartbeats === 1, "a heartbeat");
    await up.stop();
    expect(calls).toEqual(["http://station.invalid/api/v1/lanes/4301010203/heartbeat"]);
    expect(up.status().clock).toEqual({
      skewMs: 90_000,
      roundTripMs: 40,
      measuredAt: new Date(lane + 40).toISOString(),
    });
  });
});

describe("the wall clock stepped back an hour", () => {
  it("status-list polls and heartbeats keep their intervals (they run on the monotonic clock)", async () => {
    const lists = tempDir("etc-uplink-lists-");
    const downloads = tempDir("etc-uplink-dl-");
    let offset = 0;
    // what the station was asked, published at every request
    const asked = new BehaviorSubject({ manifests: 0, heartbeats: 0 });
    const askedAtLeast = (m: number, h: number, what: string) =>
      firstValueFrom(
        asked.pipe(
          filter((a) => a.manifests >= m && a.heartbeats >= h),
          timeout(20_000),
        ),
      ).catch((e: unknown) => {
        throw new Error(`${what}: ${JSON.stringify(asked.value)} (${String(e)})`);
      });
    try {
      rig = await makeRig(
        {
          now: () => Date.now() + offset,
          heartbeatIntervalMs: 20,
          statusListPollMs: 20,
          statusList: { versions: () => ({ full: null, delta: null }), applyBundle: async () => ({}) },
          downloadDir: downloads.dir,
          fetch: async (input, init) => {
            const path = new URL(String(input)).pathname;
            const a = asked.value;
            if (path.endsWith("/manifest")) asked.next({ ...a, manifests: a.manifests + 1 });
            if (path.endsWith("/heartbeat")) asked.next({ ...a, heartbeats: a.heartbeats + 1 });
            return fetch(input, init);
          },
        },
        { statusListDir: lists.dir },
      );
      rig.uplink.start();
      await askedAtLeast(2, 2, "polls and heartbeats");
      offset = -3_600_000; // NTP or an operator steps the lane's clock back one hour
      const before = asked.value;
      // on the wall clock the next of each would be an hour away
      await askedAtLeast(before.manifests + 3, before.heartbeats + 3, "polls and heartbeats after the step");
    } finally {
      await rig?.close();
      rig = undefined;
      lists.cleanup();
      downloads.cleanup();
    }
  });
});

describe("every station fault: no loss, no duplicate record at the station after recovery", () => {
  // `stores`: the station stores the batch although the lane never sees the answer, so the re-send is
  // counted as a duplicate; the other modes store nothing before recovery. In every mode a record arrives
  // again only after a send of it that the lane saw no answer to (`resentBeyond`): one acknowledged is never
  // sent again
  const modes: { mode: FaultMode; slowMs?: number; stores: boolean }[] = [
    { mode: "down", stores: false },
    { mode: "slow", slowMs: 1500, stores: true }, // longer than the 1 s request timeout: stored, answer too late
    { mode: "500s", stores: false },
    { mode: "timeouts", stores: false },
    { mode: "reset", stores: true },
    { mode: "ack-lost", stores: true },
  ];
  for (const { mode, slowMs, stores } of modes) {
    it(`fault "${mode}"`, async () => {
      const watch = uploadWatch();
      rig = await makeRig({ fetch: watch.fetch });
      const r = rig;
      r.commit(40);
      r.uplink.start();
      await r.uplink.whenDrained();
      const failuresBefore = r.uplink.status().counters.failures;
      await r.station.setFault(mode, slowMs !== undefined ? { slowMs } : {});
      r.commit(120); // 3 batches queued while the station misbehaves
      await statusWhere(r.uplink, (s) => s.counters.failures >= failuresBefore + 2, `${mode}: failures seen`);
      expect(r.uplink.status().state).not.toBe("online");
      expect(r.journal.queueDepth()).toBeGreaterThan(0);
      r.commit(20);
      await r.station.setFault("none");
      await r.uplink.whenDrained(30_000);
      await statusWhere(r.uplink, (s) => s.state === "online", "back online");
      const check = stationMatchesJournal(r);
      expect(check.missing).toEqual([]);
      expect(check.extra).toEqual([]);
      expect(check.distinct).toBe(180);
      expect(r.station.stats().distinct).toBe(180);
      // where the station stored a batch whose answer was lost, the re-send was counted, not stored twice
      expect(r.station.stats().duplicates > 0).toBe(stores);
      expect(resentBeyond(r, watch.unanswered)).toEqual([]);
    });
  }
});
