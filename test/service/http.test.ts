import { createHmac } from "node:crypto";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { maskCardId } from "../../src/service/format.js";
import { SECURITY_HEADERS } from "../../src/service/http/respond.js";
import type { LaneSnapshot, TrailQuery } from "../../src/service/lane-view.js";
import { uplinkView } from "../../src/service/runtime-view.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { statusWhere } from "../uplink/rig.js";
import { type Rig, startRig } from "./harness.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

/** The Set-Cookie that drops the earlier versions' cookie, which held the token itself. */
const CLEAR_OLD =
  "etc_lane_token=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict; Path=/";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe("GET /health and /status", () => {
  it("answers 200 while the lane can trade and 503 with why when it cannot, while vehicles flow", async () => {
    rig = await startRig();
    const r = rig;
    for (let i = 0; i < 5; i++) r.lane.pass();
    const h1 = await r.get("/health");
    expect(h1.status).toBe(200);
    expect(await h1.json()).toMatchObject({ ok: true, status: "open" });

    r.lane.setState("closed", "rsu-down", "RSU link down: watchdog");
    r.lane.pass({ kind: "stop", outcome: "LANE_CLOSED" });
    const h2 = await r.get("/health");
    expect(h2.status).toBe(503);
    expect(await h2.json()).toMatchObject({
      ok: false,
      status: "closed",
      reason: "rsu-down",
      detail: "RSU link down: watchdog",
    });

    const s = await r.get("/status");
    expect(s.status).toBe(200);
    expect(s.headers.get("content-type")).toMatch(/^application\/json/);
    const snap = (await s.json()) as LaneSnapshot;
    expect(snap.state).toMatchObject({ status: "closed", canTrade: false, reason: "rsu-down" });
    expect(snap.lastTransactions).toHaveLength(6);
    expect(snap.lastTransactions[0]?.outcome).toBe("LANE_CLOSED");
    expect(snap.rsu.counters.duplicates).toBe(4);
    expect(snap.uplink.queueDepth).toBe(3);
    expect(snap.statusList.versions).toEqual({ full: "202611260000", delta: "202611260755" });
    expect(snap.clock.skewToStationMs).toBe(-35);
  });

  it("carries the uplink's batch size in use and the configured one (src/service/runtime-view.ts uplinkView)", async () => {
    // a real uplink whose station answers every upload unusably: two failures halve its batch of 4
    const { dir, cleanup } = tempDir("etc-svc-uplink-");
    const journal = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
    journal.commitMany(Array.from({ length: 4 }, (_, i) => sampleRecord(i)));
    const uplink = new Uplink({
      stationUrl: "http://station.invalid:1",
      outbox: journal,
      lane: LANE,
      fetch: (async () => new Response("<html>bad gateway</html>", { status: 200 })) as typeof fetch,
      batchSize: 4,
      heartbeatIntervalMs: 0,
      backoff: { initialMs: 1, maxMs: 1, jitter: 0 },
    });
    expect(uplink.status().batch).toEqual({ size: 4, max: 4 });
    uplink.start();
    const halved = await statusWhere(uplink, (st) => st.batch.size < 4, "a halved batch");
    await uplink.stop();
    await journal.close();
    cleanup();
    rig = await startRig();
    rig.lane.state = { ...rig.lane.state, uplink: uplinkView(halved) };
    const snap = (await (await rig.get("/status")).json()) as LaneSnapshot;
    expect(snap.uplink).toMatchObject({ queueDepth: 4, batch: { size: 2, max: 4 } });
    expect(snap.uplink.lastError?.code).toBe("E612_STATION_PROTOCOL");
  });

  it("is read-only: anything but GET/HEAD is 405", async () => {
    rig = await startRig();
    const res = await fetch(new URL("/status", rig.service.url), { method: "POST", body: "{}" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("GET /metrics", () => {
  it("is valid Prometheus text with the decision histograms, vehicles by outcome, link counters and gauges", async () => {
    rig = await startRig({}, true);
    const r = rig;
    for (let i = 0; i < 3; i++) r.lane.pass();
    r.lane.pass({ kind: "stop", outcome: "CARD_ON_STATUS_LIST" });
    r.lane.feed.next({ type: "alarm", at: 0, code: "RSU_FAULT", message: "no PSAM" });
    r.service.pump.drain();
    const res = await r.get("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheusText(await res.text());

    expect(fams.get("etc_lane_decision_seconds")?.type).toBe("histogram");
    for (const stage of ["b2_c1", "b4_c6", "b5_barrier"])
      expect(sampleValue(fams, "etc_lane_decision_seconds_count", { stage })).toBe(4);
    expect(sampleValue(fams, "etc_lane_decision_seconds_count", { stage: "b3_c1" })).toBe(0);
    // 0.3 ms B2->C1 falls in the 0.0005 s bucket, not in the 0.00025 s one
    expect(sampleValue(fams, "etc_lane_decision_seconds_bucket", { stage: "b2_c1", le: "0.00025" })).toBe(0);
    expect(sampleValue(fams, "etc_lane_decision_seconds_bucket", { stage: "b2_c1", le: "0.0005" })).toBe(4);
    expect(sampleValue(fams, "etc_lane_journal_commit_seconds_count")).toBe(4);
    expect(sampleValue(fams, "etc_lane_vehicles_total", { kind: "transaction", outcome: "EXIT_DEBIT" })).toBe(
      3,
    );
    expect(
      sampleValue(fams, "etc_lane_vehicles_total", { kind: "stop", outcome: "CARD_ON_STATUS_LIST" }),
    ).toBe(1);
    expect(sampleValue(fams, "etc_lane_alarms_total", { code: "RSU_FAULT" })).toBe(1);
    expect(fams.get("etc_lane_link_events_total")?.type).toBe("counter");
    expect(sampleValue(fams, "etc_lane_link_events_total", { link: "rsu", counter: "duplicates" })).toBe(4);
    expect(sampleValue(fams, "etc_lane_link_events_total", { link: "rsu", counter: "checksum_errors" })).toBe(
      1,
    );
    expect(sampleValue(fams, "etc_lane_lane_events_total", { counter: "vehicles" })).toBe(304);
    expect(sampleValue(fams, "etc_lane_can_trade")).toBe(1);
    expect(sampleValue(fams, "etc_lane_state", { status: "open" })).toBe(1);
    expect(sampleValue(fams, "etc_lane_uplink_queue_depth")).toBe(3);
    expect(sampleValue(fams, "etc_lane_uplink_oldest_pending_seconds")).toBe(1.2);
    expect(sampleValue(fams, "etc_lane_status_list_age_seconds", { list: "delta" })).toBe(300);
    expect(sampleValue(fams, "etc_lane_status_list_cards_no_network")).toBe(2);
    expect(sampleValue(fams, "etc_lane_booth_cases")).toBe(1);
    expect(sampleValue(fams, "etc_lane_clock_skew_seconds")).toBe(-0.035);
    expect(sampleValue(fams, "etc_lane_link_up", { link: "rsu" })).toBe(1);
    expect(sampleValue(fams, "process_start_time_seconds")).toBeGreaterThan(0);
    expect(fams.get("nodejs_eventloop_lag_seconds")?.type).toBe("gauge");

    // the gauges follow the snapshot at each scrape
    r.lane.setState("closed", "journal", "journal write failed");
    const again = parsePrometheusText(await (await r.get("/metrics")).text());
    expect(sampleValue(again, "etc_lane_can_trade")).toBe(0);
    expect(sampleValue(again, "etc_lane_state", { status: "closed" })).toBe(1);
    expect(sampleValue(again, "etc_lane_state", { status: "open" })).toBe(0);
  });

  it("the strict parser rejects broken exposition text (so the test above can fail)", () => {
    expect(() => parsePrometheusText("etc_x 1\n")).toThrow(/undeclared family/);
    expect(() => parsePrometheusText("# TYPE a counter\na -1\n")).toThrow(/negative/);
    expect(() => parsePrometheusText('# TYPE a gauge\na{x="1} 1\n')).toThrow(/label/);
    expect(() =>
      parsePrometheusText(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      ),
    ).toThrow(/cumulative/);
    expect(() => parsePrometheusText("# TYPE a gauge\na 1\na 2\n")).toThrow(/twice/);
  });
});

describe("the page over HTTP", () => {
  it("escapes what the lane reports and draws the hour's chart once history has points", async () => {
    rig = await startRig();
    const r = rig;
    r.lane.pass({ plate: '<img src=x onerror="alert(1)">' });
    const before = await (await r.get("/")).text();
    expect(before).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(before).not.toContain("<img src=x");
    expect(before).not.toContain('data-testid="chart-queue"');
    r.service.pump.drain();
    r.service.sampleHistory();
    r.lane.pass({ decisionMs: 2.5 });
    r.service.pump.drain();
    r.service.sampleHistory();
    const res = await r.get("/fragment/state");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('data-testid="chart-queue"');
    expect(html).toMatch(/<polyline class="s-max" points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+"\/>/);
    expect(r.service.history.list().map((p) => p.decisionMaxMs)).toEqual([0.4, 2.5]);
  });
});

describe("the uplink's batch size in use", () => {
  it("is a gauge in /metrics and a line of the page's upload queue, with the configured size when smaller", async () => {
    rig = await startRig();
    const r = rig;
    const withBatch = (batch: LaneSnapshot["uplink"]["batch"]): void => {
      r.lane.state = { ...r.lane.state, uplink: { ...r.lane.state.uplink, batch } };
    };
    const scrape = async () => parsePrometheusText(await (await r.get("/metrics")).text());
    const pageBatch = async (): Promise<string | undefined> =>
      /<span data-testid="uplink-batch">(.*?)<\/span>/.exec(
        await (await r.get("/fragment/state")).text(),
      )?.[1];

    // as configured (the fake lane's 500)
    const full = await scrape();
    expect(full.get("etc_lane_uplink_batch_size")?.type).toBe("gauge");
    expect(sampleValue(full, "etc_lane_uplink_batch_size")).toBe(500);
    expect(await pageBatch()).toBe("500");

    // halved after failed uploads: the size in use, and the page says of how many
    withBatch({ size: 125, max: 500 });
    expect(sampleValue(await scrape(), "etc_lane_uplink_batch_size")).toBe(125);
    expect(await pageBatch()).toBe("125 of 500 (reduced after failed uploads)");

    // no station: no sample, and a dash on the page
    withBatch(null);
    const none = await scrape();
    expect(none.get("etc_lane_uplink_batch_size")?.samples ?? []).toEqual([]);
    expect(await pageBatch()).toBe("-");
  });
});

describe("the clock skew to the station", () => {
  it("has no sample in /metrics until the uplink has measured it", async () => {
    rig = await startRig();
    const r = rig;
    const scrape = async () => parsePrometheusText(await (await r.get("/metrics")).text());
    expect(sampleValue(await scrape(), "etc_lane_clock_skew_seconds")).toBe(-0.035);
    // not measured (no station, or no exchange yet): absent, as its help says, not 0 (before: 0)
    r.lane.state = { ...r.lane.state, clock: { skewToStationMs: null, measuredAt: null } };
    const none = await scrape();
    expect(none.get("etc_lane_clock_skew_seconds")?.type).toBe("gauge");
    expect(none.get("etc_lane_clock_skew_seconds")?.samples ?? []).toEqual([]);
  });
});

describe("gauges with no value", () => {
  it("the status list's cards of network 0000: no sample with no list or no count (not 0)", async () => {
    rig = await startRig();
    const r = rig;
    const scrape = async () => parsePrometheusText(await (await r.get("/metrics")).text());
    expect(sampleValue(await scrape(), "etc_lane_status_list_cards_no_network")).toBe(2);
    r.lane.state = { ...r.lane.state, statusList: { ...r.lane.state.statusList, cardsNoNetwork: null } };
    const none = await scrape();
    expect(none.get("etc_lane_status_list_cards_no_network")?.type).toBe("gauge");
    expect(none.get("etc_lane_status_list_cards_no_network")?.samples ?? []).toEqual([]);
    // counted 0: a sample of 0
    r.lane.state = { ...r.lane.state, statusList: { ...r.lane.state.statusList, cardsNoNetwork: 0 } };
    expect(sampleValue(await scrape(), "etc_lane_status_list_cards_no_network")).toBe(0);
  });

  it("the upload queue's age: 0 when nothing waits, no sample when records wait and their age is unknown", async () => {
    rig = await startRig();
    const r = rig;
    const scrape = async () => parsePrometheusText(await (await r.get("/metrics")).text());
    const uplink = (u: Partial<LaneSnapshot["uplink"]>): void => {
      r.lane.state = { ...r.lane.state, uplink: { ...r.lane.state.uplink, ...u } };
    };
    const AGE = "etc_lane_uplink_oldest_pending_seconds";
    // the journal cannot be read: 3 records wait (the last known depth), their age unknown
    uplink({ queueDepth: 3, held: 0, oldestPendingAgeMs: null });
    const unknown = await scrape();
    expect(unknown.get(AGE)?.type).toBe("gauge");
    expect(unknown.get(AGE)?.samples ?? []).toEqual([]);
    expect(sampleValue(unknown, "etc_lane_uplink_queue_depth")).toBe(3);
    // only held records (not in the upload queue): nothing waits
    uplink({ queueDepth: 2, held: 2, oldestPendingAgeMs: null });
    expect(sampleValue(await scrape(), AGE)).toBe(0);
    uplink({ queueDepth: 0, held: 0, oldestPendingAgeMs: null });
    expect(sampleValue(await scrape(), AGE)).toBe(0);
    uplink({ queueDepth: 1, held: 0, oldestPendingAgeMs: 4500 });
    expect(sampleValue(await scrape(), AGE)).toBe(4.5);
  });
});

describe("GET /search", () => {
  it("shows the lane's state as it is after the search, not as it was before", async () => {
    rig = await startRig();
    const lane = rig.lane;
    const search = lane.searchTrail.bind(lane);
    // the lane closes while the search reads the trail
    lane.searchTrail = (q) => {
      lane.setState("closed", "rsu-down", "RSU link down: while the search read");
      return search(q);
    };
    const res = await rig.get("/search?kind=alarm");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("RSU link down: while the search read");
  });

  // review: a probe's `curl -I /search?...` read the trail and held the one search slot
  it("HEAD /search runs no search (a GET does)", async () => {
    rig = await startRig();
    const lane = rig.lane;
    const search = lane.searchTrail.bind(lane);
    const asked: TrailQuery[] = [];
    lane.searchTrail = (q) => {
      asked.push(q);
      return search(q);
    };
    const head = await fetch(new URL("/search?kind=alarm", rig.service.url), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(asked).toEqual([]);
    expect((await rig.get("/search?kind=alarm")).status).toBe(200);
    expect(asked.map((q) => q.kind)).toEqual(["alarm"]);
  });
});

describe("the hour's chart", () => {
  it("counts in each point the vehicles that finished before its tick, also those still in the feed's batch", async () => {
    rig = await startRig();
    const r = rig;
    r.lane.pass({ decisionMs: 1.5 });
    r.lane.pass({ decisionMs: 3 });
    r.service.sampleHistory(); // no drain before it: the two vehicles are still in the feed's 100 ms batch
    r.lane.pass({ decisionMs: 0.5 });
    r.service.sampleHistory();
    expect(r.service.history.list().map((p) => [p.vehicles, p.decisionMaxMs])).toEqual([
      [2, 3],
      [1, 0.5],
    ]);
  });
});

describe("GET /events: the first event of each connection", () => {
  it("is `recent`, the last transactions as the feed's rows, newest first, settled in place, cards masked", async () => {
    rig = await startRig();
    const r = rig;
    const first = r.lane.pass({ cardId: "43010000000000005555" });
    const suspect = r.lane.pass({ kind: "suspect", outcome: "B5_MISSING" });
    const last = r.lane.pass({ kind: "stop", outcome: "ALREADY_TRADED" });
    r.lane.settle(suspect, { kind: "transaction", outcome: "EXIT_DEBIT_SETTLED" });
    r.service.pump.drain();

    const abort = new AbortController();
    const res = await fetch(new URL("/events", r.service.url), { signal: abort.signal });
    const reader = res.body!.getReader();
    let text = "";
    const decoder = new TextDecoder();
    while (
      !text.includes("event: recent\ndata: ") ||
      !text.slice(text.indexOf("event: recent")).includes("\n\n")
    ) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += decoder.decode(value, { stream: true });
    }
    abort.abort();
    const frames = text.split("\n\n");
    expect(frames[0]).toBe("retry: 3000");
    expect(frames[1]!.startsWith("event: recent\ndata: ")).toBe(true);
    const { rows } = JSON.parse(frames[1]!.slice("event: recent\ndata: ".length)) as {
      rows: { seq: number; row: string }[];
    };
    expect(rows.map((x) => x.seq)).toEqual([last.seq, suspect.seq, first.seq]);
    expect(rows.map((x) => x.row.match(/^<tr data-seq="(\d+)" class="k-(\w+)">/)?.slice(1))).toEqual([
      [String(last.seq), "stop"],
      [String(suspect.seq), "transaction"],
      [String(first.seq), "transaction"],
    ]);
    expect(rows[1]!.row).toContain("EXIT_DEBIT_SETTLED");
    expect(rows[1]!.row).not.toContain("B5_MISSING");
    expect(rows[2]!.row).toContain(maskCardId("43010000000000005555"));
    expect(text).not.toContain("43010000000000005555");
  });
});

describe("HEAD /events", () => {
  it("is answered with the feed's headers and ended, taking no live-feed place", async () => {
    rig = await startRig({ maxLiveFeeds: 1 });
    const url = new URL("/events", rig.service.url);
    for (let i = 0; i < 3; i++) {
      const h = await fetch(url, { method: "HEAD" });
      expect(h.status).toBe(200);
      expect(h.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    }
    expect(rig.service.sse.size).toBe(0);
    // the one place is still free for a page
    const page = new AbortController();
    const feed = await fetch(url, { signal: page.signal });
    expect(feed.status).toBe(200);
    expect(rig.service.sse.size).toBe(1);
    // full now: a HEAD gets the 503 a page would, and is not counted as a refused page
    const full = await fetch(url, { method: "HEAD" });
    expect(full.status).toBe(503);
    expect(full.headers.get("retry-after")).toBe("30");
    expect(rig.service.sse.refused).toBe(0);
    expect(rig.service.sse.size).toBe(1);
    page.abort();
  });

  // review: the docs say every answer but the stream carries the security headers; the feed's 503 and the
  // HEAD carried none. Every /events answer carries them now, the stream too.
  it("every /events answer carries the security headers: the stream, the HEAD, the 503 to a GET and to a HEAD", async () => {
    rig = await startRig({ maxLiveFeeds: 1 });
    const url = new URL("/events", rig.service.url);
    const secure = (h: Headers): void => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(h.get(name)).toBe(value);
    };
    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    secure(head.headers);
    const page = new AbortController();
    const feed = await fetch(url, { signal: page.signal });
    expect(feed.status).toBe(200);
    secure(feed.headers);
    const full = await fetch(url);
    expect(full.status).toBe(503);
    expect(full.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    secure(full.headers);
    expect(await full.text()).toMatch(/^live feed full: 1 pages have it open/);
    const fullHead = await fetch(url, { method: "HEAD" });
    expect(fullHead.status).toBe(503);
    secure(fullHead.headers);
    page.abort();
  });
});

describe("authentication off loopback", () => {
  it("with a token file every request needs the bearer token; the page signs in with a cookie", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-tok-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "s3cret-token-0123456789\n");
    chmodSync(tokenFile, 0o600);
    rig = await startRig({ tokenFile });
    const r = rig;
    expect((await r.get("/health")).status).toBe(401);
    expect((await r.get("/metrics")).status).toBe(401);
    expect((await r.get("/status", { authorization: "Bearer wrong-token-0123456789" })).status).toBe(401);
    const ok = await r.get("/status", { authorization: "Bearer s3cret-token-0123456789" });
    expect(ok.status).toBe(200);
    const page = await r.get("/");
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('name="token"');
    const login = await fetch(new URL("/login", r.service.url), {
      method: "POST",
      body: new URLSearchParams({ token: "s3cret-token-0123456789" }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect(cookie).toMatch(new RegExp(`^etc_lane_${new URL(r.service.url).port}=`));
    expect((await r.get("/", { cookie })).status).toBe(200);
    const bad = await fetch(new URL("/login", r.service.url), {
      method: "POST",
      body: new URLSearchParams({ token: "nope" }),
      redirect: "manual",
    });
    expect(bad.status).toBe(401);
  });

  // review: the cookie held the token itself, and browsers send a host's cookies to all its ports
  it("the sign-in cookie holds HMAC-SHA256 of the token, not the token, under a name carrying the port; the token in it is refused", async () => {
    const token = "s3cret-token-0123456789";
    const dir = mkdtempSync(join(tmpdir(), "etc-tok-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${token}\n`);
    chmodSync(tokenFile, 0o600);
    rig = await startRig({ tokenFile });
    const r = rig;
    const port = new URL(r.service.url).port;
    const login = await fetch(new URL("/login", r.service.url), {
      method: "POST",
      body: new URLSearchParams({ token }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    const derived = createHmac("sha256", token).update("etc-lane page cookie").digest("base64url");
    expect(login.headers.getSetCookie()).toEqual([
      `etc_lane_${port}=${derived}; HttpOnly; SameSite=Strict; Path=/`,
      CLEAR_OLD,
    ]);
    expect((await r.get("/", { cookie: `etc_lane_${port}=${derived}` })).status).toBe(200);
    // the token itself as the cookie, the cookie of another port, the old name: not signed in
    for (const cookie of [
      `etc_lane_${port}=${token}`,
      `etc_lane_${Number(port) + 1}=${derived}`,
      `etc_lane_token=${token}`,
    ])
      expect((await r.get("/status", { cookie })).status, cookie).toBe(401);
    // the cookie's value is no bearer token
    expect((await r.get("/status", { authorization: `Bearer ${derived}` })).status).toBe(401);
  });

  // second review: the earlier versions' cookie (the token itself) was ignored but kept, and browsers went on
  // sending it to every port of the host
  it("clears the earlier versions' cookie etc_lane_token on every answer to a request that carries it", async () => {
    const token = "s3cret-token-0123456789";
    const dir = mkdtempSync(join(tmpdir(), "etc-tok-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${token}\n`);
    chmodSync(tokenFile, 0o600);
    rig = await startRig({ tokenFile });
    const r = rig;
    const port = new URL(r.service.url).port;
    const derived = createHmac("sha256", token).update("etc-lane page cookie").digest("base64url");
    const old = `etc_lane_token=${token}`;
    // the sign-in form, a refused request, the page and /status signed in, the stylesheet
    for (const [path, cookie, status] of [
      ["/", old, 401],
      ["/metrics", old, 401],
      ["/", `${old}; etc_lane_${port}=${derived}`, 200],
      ["/status", `etc_lane_${port}=${derived}; ${old}`, 200],
      ["/assets/page.css", old, 200],
    ] as const) {
      const res = await r.get(path, { cookie });
      expect([res.status, res.headers.getSetCookie()], `${path} ${cookie}`).toEqual([status, [CLEAR_OLD]]);
    }
    // without it, nothing is set
    const plain = await r.get("/", { cookie: `etc_lane_${port}=${derived}` });
    expect([plain.status, plain.headers.getSetCookie()]).toEqual([200, []]);
  });

  // RFC 7235: the auth scheme is case-insensitive, and one or more spaces follow it
  it("takes the bearer token whatever the case of Bearer, and refuses another scheme", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-tok-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "s3cret-token-0123456789\n");
    chmodSync(tokenFile, 0o600);
    rig = await startRig({ tokenFile });
    const r = rig;
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR", "Bearer  "])
      expect(
        (await r.get("/status", { authorization: `${scheme} s3cret-token-0123456789` })).status,
        scheme,
      ).toBe(200);
    for (const authorization of ["Basic s3cret-token-0123456789", "Bearers3cret-token-0123456789"])
      expect((await r.get("/status", { authorization })).status, authorization).toBe(401);
  });

  it("refuses to start on a non-loopback address without a token file, naming service.tokenFile", async () => {
    await expect(startRig({ listen: "0.0.0.0:0" })).rejects.toThrow(/service\.tokenFile: required/);
  });

  it("refuses a token file other users can read, naming service.tokenFile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-tok-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "s3cret-token-0123456789\n");
    chmodSync(tokenFile, 0o644);
    await expect(startRig({ tokenFile })).rejects.toThrow(/service\.tokenFile: .* chmod 600/);
  });
});
