import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { BundleStore } from "../../sim/station/bundles.js";
import { type StationHandle, StationListenError, startStation } from "../../sim/station/station.js";
import { tempDir } from "../journal/helpers.js";

let st: StationHandle | undefined;
let cleanup: (() => void) | undefined;
afterEach(async () => {
  await st?.close();
  st = undefined;
  cleanup?.();
  cleanup = undefined;
});

const rec = (tradeId: string, seq: number): object => ({
  tradeId,
  seq,
  kind: "transaction",
  record: { tradeId, seq, amount: 100 },
});
/** The x-lane-id every API request carries (docs/station-api.md, "Common rules"): the body's lane's, or lane 4301-0102-03's. */
const laneIdOf = (body: unknown): string => {
  const l = (body as { lane?: { network?: unknown; station?: unknown; lane?: unknown } } | null)?.lane;
  return typeof l?.network === "string" && typeof l.station === "string" && typeof l.lane === "number"
    ? `${l.network}${l.station}${String(l.lane).padStart(2, "0")}`
    : "4301010203";
};
const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-lane-id": laneIdOf(body) },
    body: JSON.stringify(body),
  });
/** A GET of the API, with the lane's x-lane-id. */
const get = (url: string): Promise<Response> => fetch(url, { headers: { "x-lane-id": "4301010203" } });

/**
 * A station file as an earlier station wrote it, in a temp dir removed after the test: "before revisions"
 * a `received` table without `revision` and `updates`; "before the conflicts count" with them and the
 * `heartbeats` table, but no count of conflicts. `fill` adds its rows. Returns its path.
 */
function oldStationFile(
  written: "before revisions" | "before the conflicts count",
  fill: (db: Database.Database) => void,
): string {
  const t = tempDir("etc-station-");
  cleanup = t.cleanup;
  const path = join(t.dir, "station.db");
  const old = new Database(path);
  old.exec(`CREATE TABLE received (
    trade_id TEXT PRIMARY KEY, lane TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    arrivals INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, record TEXT NOT NULL${
      written === "before revisions"
        ? ")"
        : `,
    revision INTEGER NOT NULL DEFAULT 1, updates INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE heartbeats (lane TEXT PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL)`
    }`);
  fill(old);
  old.close();
  return path;
}

/** A directory holding `names` as 10-byte bundle files, for `body`; removed after it. */
function withBundles(names: string[], body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "etc-station-bundles-"));
  try {
    for (const name of names) writeFileSync(join(dir, name), Buffer.alloc(10, 1));
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("station simulator", () => {
  it("stores by trade id, counts re-sends, rejects malformed records, lists everything on GET /transactions", async () => {
    const t = tempDir("etc-station-");
    cleanup = t.cleanup;
    st = await startStation({ dbPath: join(t.dir, "station.db") });
    const a = "430101020320261123185914000001";
    const b = "430101020320261123185914000002";
    const lane = { network: "4301", station: "0102", lane: 3 };
    const r1 = (await (
      await post(`${st.url}/api/v1/transactions`, { lane, records: [rec(a, 1), rec(b, 2)] })
    ).json()) as {
      accepted: { tradeId: string; status: string }[];
    };
    expect(r1.accepted).toEqual([
      { tradeId: a, status: "stored" },
      { tradeId: b, status: "stored" },
    ]);
    const r2 = (await (
      await post(`${st.url}/api/v1/transactions`, { lane, records: [rec(b, 2), { tradeId: "nope", seq: 3 }] })
    ).json()) as {
      accepted: unknown[];
      rejected: { tradeId: string; code: string }[];
    };
    expect(r2.accepted).toEqual([{ tradeId: b, status: "duplicate" }]);
    expect(r2.rejected).toEqual([expect.objectContaining({ tradeId: "nope", code: "BAD_TRADE_ID" })]);
    const list = (await (await fetch(`${st.url}/transactions`)).json()) as {
      count: number;
      records: { tradeId: string; arrivals: number }[];
    };
    expect(list.count).toBe(2);
    expect(list.records.map((r) => [r.tradeId, r.arrivals])).toEqual([
      [a, 1],
      [b, 2],
    ]);
    expect(st.stats()).toMatchObject({ distinct: 2, arrivals: 3, duplicates: 1 });
    // the DB survives a restart
    await st.close();
    st = await startStation({ dbPath: join(t.dir, "station.db") });
    expect(st.received().map((r) => r.tradeId)).toEqual([a, b]);
  });

  it("answers 400 to a body that is not an object or has no valid lane, and rejects records that are no record", async () => {
    st = await startStation();
    const url = `${st.url}/api/v1/transactions`;
    const lane = { network: "4301", station: "0102", lane: 3 };
    const id = (n: number): string => `4301010203202611231859140000${String(n).padStart(2, "0")}`;
    const answer = async (body: unknown) => {
      const res = await post(url, body);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    for (const body of [null, [1], 42, "records", { records: [rec(id(1), 1)] }, { lane: {}, records: [] }]) {
      expect(await answer(body), JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { error: "BAD_REQUEST" },
      });
    }
    for (const badLane of [
      { ...lane, network: "43" },
      { ...lane, station: 102 },
      { ...lane, lane: 100 },
    ]) {
      expect((await answer({ lane: badLane, records: [rec(id(1), 1)] })).status).toBe(400);
    }
    const r = await answer({
      lane,
      records: [
        { tradeId: id(2), seq: 2, kind: "transaction", record: null },
        { tradeId: id(3), seq: 3, kind: "transaction", record: [] },
        { tradeId: id(4), seq: 4, kind: "bogus", record: {} },
        { tradeId: id(5), seq: 5, record: {} },
        null,
        rec(id(6), 6),
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.accepted).toEqual([{ tradeId: id(6), status: "stored" }]);
    expect(
      (r.body.rejected as { tradeId: string | null; code: string }[]).map((x) => [x.tradeId, x.code]),
    ).toEqual([
      [id(2), "BAD_RECORD"],
      [id(3), "BAD_RECORD"],
      [id(4), "BAD_RECORD"],
      [id(5), "BAD_RECORD"],
      [null, "BAD_TRADE_ID"],
    ]);
    expect(st.received().map((x) => [x.tradeId, x.lane, x.kind])).toEqual([
      [id(6), "4301010203", "transaction"],
    ]);
  });

  it("keeps one record per trade id and replaces it only with a higher revision: stored, updated, duplicate", async () => {
    const t = tempDir("etc-station-");
    cleanup = t.cleanup;
    st = await startStation({ dbPath: join(t.dir, "station.db") });
    const id = "430101020320261123185914000007";
    const lane = { network: "4301", station: "0102", lane: 3 };
    // a higher revision settles the suspect held (docs/journal.md "Settling a suspect")
    const settles = { settlement: { previous: { kind: "suspect", revision: 1 } } };
    const send = async (revision: number | undefined, kind: string, tac: string | null) => {
      const item = {
        tradeId: id,
        seq: 7,
        kind,
        ...(revision === undefined ? {} : { revision }),
        record: (revision ?? 1) > 1 ? { tac, extra: settles } : { tac },
      };
      const res = await post(`${st!.url}/api/v1/transactions`, { lane, records: [item] });
      return (await res.json()) as { accepted: { status: string }[]; rejected: { code: string }[] };
    };
    expect((await send(undefined, "suspect", null)).accepted).toEqual([{ tradeId: id, status: "stored" }]);
    expect((await send(1, "suspect", null)).accepted).toEqual([{ tradeId: id, status: "duplicate" }]);
    expect((await send(2, "transaction", "0A0B0C0D")).accepted).toEqual([{ tradeId: id, status: "updated" }]);
    // the older revision arriving late (a re-send) changes nothing
    expect((await send(1, "suspect", null)).accepted).toEqual([{ tradeId: id, status: "duplicate" }]);
    expect((await send(2, "transaction", "0A0B0C0D")).accepted).toEqual([
      { tradeId: id, status: "duplicate" },
    ]);
    expect((await send(0, "transaction", "0A0B0C0D")).rejected).toEqual([
      expect.objectContaining({ code: "BAD_RECORD" }),
    ]);
    expect(
      st.received().map((r) => [r.tradeId, r.kind, r.revision, r.arrivals, r.updates, r.record]),
    ).toEqual([[id, "transaction", 2, 5, 1, { tac: "0A0B0C0D", extra: settles }]]);
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 5, updates: 1, duplicates: 3 });
    await st.close();
    st = await startStation({ dbPath: join(t.dir, "station.db") });
    expect(st.received().map((r) => r.revision)).toEqual([2]);
  });

  // review: the station answered "duplicate" to a revision it held with other content, so a lane whose
  // data directory was put back from an older copy, or a second lane under the same lane id, had that
  // record marked uploaded although the station kept another one
  it("refuses a revision it holds with other content (CONFLICT, not stored, not acknowledged) and a trade id of another lane", async () => {
    st = await startStation();
    const id = "430101020320261123185914000007";
    const lane = { network: "4301", station: "0102", lane: 3 };
    const send = async (records: object[], l: object = lane) =>
      (await (await post(`${st!.url}/api/v1/transactions`, { lane: l, records })).json()) as {
        accepted: { tradeId: string; status: string }[];
        rejected: { tradeId: string; code: string }[];
      };
    const item = (revision: number, kind: string, tac: string | null) => ({
      tradeId: id,
      seq: 7,
      kind,
      revision,
      record:
        revision > 1
          ? { tac, extra: { settlement: { previous: { kind: "suspect", revision: 1 } } } }
          : { tac },
    });
    await send([item(1, "suspect", null)]);
    await send([item(2, "stop", null)]);
    // the same revision 2, now a paid transaction: not the record the station holds
    const r = await send([item(2, "transaction", "0A0B0C0D")]);
    expect(r.accepted).toEqual([]);
    expect(r.rejected).toEqual([expect.objectContaining({ tradeId: id, code: "CONFLICT" })]);
    expect(st.received().map((x) => [x.kind, x.revision, x.arrivals, x.record])).toEqual([
      ["stop", 2, 2, item(2, "stop", null).record],
    ]);
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 2, updates: 1, duplicates: 0, conflicts: 1 });
    // the same bytes again are a re-send; an older revision with other content arrives late: both duplicates
    expect((await send([item(2, "stop", null), item(1, "suspect", "FFFFFFFF")])).accepted).toEqual([
      { tradeId: id, status: "duplicate" },
      { tradeId: id, status: "duplicate" },
    ]);
    // a trade id that names lane 04 in an upload of lane 03
    const other = "430101020420261123185914000008";
    expect(await send([{ tradeId: other, seq: 8, kind: "stop", record: {} }])).toEqual({
      accepted: [],
      rejected: [expect.objectContaining({ tradeId: other, code: "BAD_TRADE_ID" })],
    });
    expect(st.received().map((x) => x.tradeId)).toEqual([id]);
  });

  // review (session 38): a higher revision replaced whatever the station held, so the settlement of a
  // record it had refused as CONFLICT (another lane's under the same trade id) replaced that other record
  it("replaces the record held only with a higher revision whose settlement names it; another's settlement is CONFLICT", async () => {
    st = await startStation();
    const id = "430101020320261123185914000042";
    const lane = { network: "4301", station: "0102", lane: 3 };
    const send = async (revision: number, kind: string, record: object) =>
      (await (
        await post(`${st!.url}/api/v1/transactions`, {
          lane,
          records: [{ tradeId: id, seq: 42, kind, revision, record }],
        })
      ).json()) as { accepted: { status: string }[]; rejected: { code: string; message: string }[] };
    const suspect = (obuId: string, amount: number) => ({
      outcome: "B5_MISSING",
      obuId,
      cardId: "1234",
      amount,
    });
    const settled = (obuId: string, amount: number) => ({
      outcome: "EXIT_DEBIT_SETTLED",
      obuId,
      cardId: "1234",
      amount,
      tac: "0A0B0C0D",
      extra: { settlement: { previous: { kind: "suspect", outcome: "B5_MISSING", amount, revision: 1 } } },
    });
    // lane B's suspect stored; lane A's, under the same trade id, refused as CONFLICT
    expect((await send(1, "suspect", suspect("B1", 500))).accepted).toEqual([
      { tradeId: id, status: "stored" },
    ]);
    expect((await send(1, "suspect", suspect("A1", 700))).rejected[0]?.code).toBe("CONFLICT");
    // lane A's settlement names its own suspect: not the one held
    const r = await send(2, "transaction", settled("A1", 700));
    expect(r.accepted).toEqual([]);
    expect(r.rejected).toEqual([
      expect.objectContaining({
        code: "CONFLICT",
        message:
          "revision 2 does not settle the record held at revision 1 (its previous.amount, obuId differ): not stored",
      }),
    ]);
    // a higher revision with no settlement at all names nothing
    expect((await send(3, "stop", { amount: 0 })).rejected[0]?.message).toContain(
      "it carries no extra.settlement.previous",
    );
    expect(st.received().map((x) => [x.revision, x.record])).toEqual([[1, suspect("B1", 500)]]);
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 1, updates: 0, conflicts: 3 });
    // lane B's settlement of its own suspect replaces it
    expect((await send(2, "transaction", settled("B1", 500))).accepted).toEqual([
      { tradeId: id, status: "updated" },
    ]);
    expect(st.received().map((x) => [x.kind, x.revision])).toEqual([["transaction", 2]]);
  });

  it("tells per lane the journal seqs missing below the highest received and those received under two trade ids", async () => {
    st = await startStation();
    const lane = { network: "4301", station: "0102", lane: 3 };
    const id = (seq: number, second = 14) =>
      `4301010203202611231859${String(second).padStart(2, "0")}${String(seq).padStart(6, "0")}`;
    // records 1, 2, 4 and 5 (3 held by the lane, or lost), then 4 again under another trade id (a lane put
    // back on an older copy of its data directory numbers its records again)
    await post(`${st.url}/api/v1/transactions`, { lane, records: [1, 2, 4, 5].map((s) => rec(id(s), s)) });
    await post(`${st.url}/api/v1/transactions`, { lane, records: [rec(id(4, 30), 4)] });
    const gaps = { "4301010203": { lowest: 1, highest: 5, missingCount: 1, missing: [3], reused: [4] } };
    expect(st.gaps()).toEqual(gaps);
    expect(await (await fetch(`${st.url}/admin/gaps`)).json()).toEqual(gaps);
  });

  it("counts the seqs missing before a record with a huge seq without walking them (lists 1000)", async () => {
    st = await startStation();
    const lane = { network: "4301", station: "0102", lane: 3 };
    const id = (n: number) => `430101020320261123185914${String(n).padStart(6, "0")}`;
    await post(`${st.url}/api/v1/transactions`, { lane, records: [rec(id(1), 1), rec(id(2), 1e12)] });
    // before: about 10^12 steps on the simulator's only thread (the test timed out)
    const g = st.gaps()["4301010203"]!;
    expect(g).toMatchObject({ lowest: 1, highest: 1e12, missingCount: 1e12 - 2, reused: [] });
    expect(g.missing).toEqual(Array.from({ length: 1000 }, (_, i) => i + 2));
  });

  it("rejects a record whose seq is below 1 or past 2^53 - 1 as BAD_RECORD", async () => {
    st = await startStation();
    const lane = { network: "4301", station: "0102", lane: 3 };
    const id = (n: number) => `430101020320261123185914${String(n).padStart(6, "0")}`;
    const res = await post(`${st.url}/api/v1/transactions`, {
      lane,
      records: [rec(id(1), 0), rec(id(2), -5), rec(id(3), 2 ** 53), rec(id(4), 4)],
    });
    const body = (await res.json()) as { accepted: unknown[]; rejected: { tradeId: string; code: string }[] };
    expect(body.accepted).toEqual([{ tradeId: id(4), status: "stored" }]);
    expect(body.rejected.map((r) => [r.tradeId, r.code])).toEqual([
      [id(1), "BAD_RECORD"],
      [id(2), "BAD_RECORD"],
      [id(3), "BAD_RECORD"],
    ]);
  });

  it("refuses a pageSize that is no whole number of bytes from 1 to 1 GiB with a RangeError naming it", async () => {
    // before: a station with pageSize 1.5 started, and the lane refused each of its manifests
    // NaN and Infinity named as such (before: "got null")
    for (const pageSize of [1.5, 0, 2 ** 30 + 1, Number.NaN, Number.POSITIVE_INFINITY])
      await expect(startStation({ pageSize }), String(pageSize)).rejects.toThrow(
        new RangeError(`pageSize: expected a whole number of bytes from 1 to 1073741824, got ${pageSize}`),
      );
  });

  it("a database written before revisions opens with every record at revision 1", async () => {
    const id = "430101020320261123185914000009";
    const path = oldStationFile("before revisions", (old) =>
      old.prepare("INSERT INTO received VALUES (?, '4301010203', 9, 'suspect', 2, 1, 2, '{}')").run(id),
    );
    st = await startStation({ dbPath: path });
    expect(st.received().map((r) => [r.tradeId, r.revision, r.arrivals])).toEqual([[id, 1, 2]]);
    const res = await post(`${st.url}/api/v1/transactions`, {
      lane: { network: "4301", station: "0102", lane: 3 },
      records: [
        {
          tradeId: id,
          seq: 9,
          kind: "stop",
          revision: 2,
          record: { amount: 0, extra: { settlement: { previous: { kind: "suspect", revision: 1 } } } },
        },
      ],
    });
    expect(((await res.json()) as { accepted: unknown[] }).accepted).toEqual([
      { tradeId: id, status: "updated" },
    ]);
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 3, duplicates: 1, updates: 1 });
  });

  // review: the content was compared as JSON.stringify text, so a re-send of the same record with its keys
  // in another order was refused as CONFLICT (and held by the lane for an operator)
  it("takes a re-send whose record has its keys in another order, at any depth, as a duplicate, not a CONFLICT", async () => {
    st = await startStation();
    const id = "430101020320261123185914000011";
    const send = async (record: string) => {
      const body = `{"lane":{"network":"4301","station":"0102","lane":3},"records":[{"tradeId":"${id}","seq":11,"kind":"transaction","record":${record}}]}`;
      const res = await fetch(`${st!.url}/api/v1/transactions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-lane-id": "4301010203" },
        body,
      });
      return (await res.json()) as { accepted: unknown[]; rejected: unknown[] };
    };
    expect(await send('{"a":1,"b":{"x":[{"p":1,"q":2}],"y":null}}')).toEqual({
      accepted: [{ tradeId: id, status: "stored" }],
      rejected: [],
    });
    expect(await send('{"b":{"y":null,"x":[{"q":2,"p":1}]},"a":1}')).toEqual({
      accepted: [{ tradeId: id, status: "duplicate" }],
      rejected: [],
    });
    // other content is still a CONFLICT: an array's order counts
    expect((await send('{"a":1,"b":{"x":[{"p":2,"q":1}],"y":null}}')).rejected).toMatchObject([
      { tradeId: id, code: "CONFLICT" },
    ]);
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 2, duplicates: 1, conflicts: 1 });
  });

  // review: stats().conflicts was a counter in memory: a --db station restarted counted them from 0 while
  // distinct, arrivals, duplicates and updates came back from the file
  it("keeps its count of conflicts across a restart on its file, one written before the count included", async () => {
    // a file as the station wrote it before it kept the count: received (with revisions) and heartbeats
    const id = "430101020320261123185914000012";
    const path = oldStationFile("before the conflicts count", (old) =>
      old
        .prepare(
          "INSERT INTO received VALUES (?, '4301010203', 12, 'transaction', 1, 1, 1, '{\"a\":1}', 1, 0)",
        )
        .run(id),
    );
    st = await startStation({ dbPath: path });
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 1, conflicts: 0 });
    const other = { lane: { network: "4301", station: "0102", lane: 3 }, records: [rec(id, 12)] };
    expect(
      ((await (await post(`${st.url}/api/v1/transactions`, other)).json()) as { rejected: unknown[] })
        .rejected,
    ).toMatchObject([{ tradeId: id, code: "CONFLICT" }]);
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 1, conflicts: 1 });
    await st.close();
    st = await startStation({ dbPath: path });
    expect(st.stats()).toMatchObject({ distinct: 1, arrivals: 1, conflicts: 1 });
  });

  it("switches faults at runtime through POST /admin/fault; down refuses connections and comes back on the same port", async () => {
    st = await startStation();
    const res = await post(`${st.url}/admin/fault`, { mode: "500s" });
    expect(await res.json()).toEqual({ mode: "500s" });
    await expect.poll(() => st!.fault()).toBe("500s");
    expect((await post(`${st.url}/api/v1/transactions`, { records: [] })).status).toBe(500);
    const bad = await post(`${st.url}/admin/fault`, { mode: "melt" });
    expect(bad.status).toBe(400);
    await st.setFault("down");
    await expect(fetch(`${st.url}/transactions`)).rejects.toThrow();
    await st.setFault("none");
    expect((await fetch(`${st.url}/transactions`)).status).toBe(200);
  });

  it("record-500 answers 500 to an upload carrying the named record (nothing stored) and takes every other", async () => {
    st = await startStation();
    const a = "430101020320261123185914000001";
    const b = "430101020320261123185914000002";
    const lane = { network: "4301", station: "0102", lane: 3 };
    const upload = (records: object[]) => post(`${st!.url}/api/v1/transactions`, { lane, records });
    // a trade id is needed, and only by this mode: refused, nothing changes
    expect((await post(`${st.url}/admin/fault`, { mode: "record-500" })).status).toBe(400);
    expect((await post(`${st.url}/admin/fault`, { mode: "500s", tradeId: b })).status).toBe(400);
    await expect(st.setFault("record-500")).rejects.toThrow(RangeError);
    expect(st.fault()).toBe("none");
    const res = await post(`${st.url}/admin/fault`, { mode: "record-500", tradeId: b });
    expect(await res.json()).toEqual({ mode: "record-500" });
    expect(await (await fetch(`${st.url}/admin/fault`)).json()).toMatchObject({
      mode: "record-500",
      tradeId: b,
    });
    const failed = await upload([rec(a, 1), rec(b, 2)]);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ error: "INJECTED_500" });
    expect(st.received()).toEqual([]);
    expect((await upload([rec(a, 1)])).status).toBe(200);
    const beat = await post(`${st.url}/api/v1/lanes/4301010203/heartbeat`, { lane });
    expect(beat.status).toBe(200);
    expect(st.received().map((r) => r.tradeId)).toEqual([a]);
    expect(st.stats().faultedRequests).toBe(1);
    await st.setFault("none");
    expect((await upload([rec(b, 2)])).status).toBe(200);
  });

  it("serves bundles by page with length and SHA-256 headers, and refuses names outside the pattern", async () => {
    const t = tempDir("etc-station-");
    cleanup = t.cleanup;
    const dir = join(t.dir, "lists");
    mkdirSync(dir);
    writeFileSync(join(dir, "full-20261123.bundle"), Buffer.alloc(2500, 7));
    writeFileSync(join(dir, "secret.txt"), "no");
    st = await startStation({ statusListDir: dir, pageSize: 1000 });
    const m = (await (await get(`${st.url}/api/v1/status-list/manifest?full=&delta=`)).json()) as {
      full: { name: string; pages: number; bytes: number };
    };
    expect(m.full).toMatchObject({ name: "full-20261123.bundle", pages: 3, bytes: 2500 });
    const p2 = await get(`${st.url}/api/v1/status-list/bundles/full-20261123.bundle?page=2`);
    expect(p2.headers.get("x-page-count")).toBe("3");
    expect((await p2.arrayBuffer()).byteLength).toBe(500);
    expect((await get(`${st.url}/api/v1/status-list/bundles/secret.txt`)).status).toBe(404);
    expect((await get(`${st.url}/api/v1/status-list/bundles/..%2Fsecret.txt`)).status).toBe(404);
    const same = (await (await get(`${st.url}/api/v1/status-list/manifest?full=20261123`)).json()) as {
      full: unknown;
      deltas: unknown[];
    };
    expect(same).toMatchObject({ full: null, deltas: [] });
  });
});

describe("the station's status-list manifest (BundleStore.manifest)", () => {
  it("serves the bundles it can read beside a dangling link and a directory named like bundles (200, not 500)", async () => {
    const t = tempDir("etc-station-");
    cleanup = t.cleanup;
    const dir = join(t.dir, "lists");
    mkdirSync(dir);
    writeFileSync(join(dir, "full-202611260800.bundle"), Buffer.alloc(2500, 7));
    symlinkSync(join(t.dir, "gone.bundle"), join(dir, "full-202611260900.bundle"));
    mkdirSync(join(dir, "full-202611261000.bundle"));
    st = await startStation({ statusListDir: dir, pageSize: 1000 });
    const res = await get(`${st.url}/api/v1/status-list/manifest?full=&delta=`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { full: { name: string } }).full.name).toBe("full-202611260800.bundle");
  });

  it("tells once of an entry it cannot read, naming why", () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-station-bundles-"));
    try {
      symlinkSync(join(dir, "gone"), join(dir, "full-202611260900.bundle"));
      const skipped: [string, string | null][] = [];
      const store = new BundleStore(dir, 1000, (name, why) => skipped.push([name, why]));
      store.manifest({ full: null, delta: null });
      expect(store.manifest({ full: null, delta: null }).full).toBeNull();
      expect(skipped).toEqual([["full-202611260900.bundle", expect.stringContaining("ENOENT")]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // review: a bundle written as full.bundle (as the README's example had it) was left out without a word
  it("tells once of a .bundle file whose name does not carry its versions, and never serves it", () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-station-bundles-"));
    try {
      writeFileSync(join(dir, "full.bundle"), Buffer.alloc(10, 1));
      writeFileSync(join(dir, "notes.txt"), "not a bundle");
      writeFileSync(join(dir, "full-202611230000.bundle"), Buffer.alloc(10, 1));
      const skipped: string[] = [];
      const store = new BundleStore(dir, 1000, (name) => skipped.push(name));
      expect(store.manifest({ full: null, delta: null }).full?.name).toBe("full-202611230000.bundle");
      store.manifest({ full: null, delta: null });
      expect(skipped).toEqual(["full.bundle"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("offers a full list only when it is newer than the version the lane holds, its delta's included", () => {
    withBundles(
      [
        "full-202611230000.bundle",
        "delta-202611230000-202611230005.bundle",
        "delta-202611230005-202611230010.bundle",
        "full-202611230008.bundle",
        "delta-202611230008-202611230012.bundle",
      ],
      (dir) => {
        const store = new BundleStore(dir, 1000);
        const offer = (full: string | null, delta: string | null) => {
          const m = store.manifest({ full, delta });
          return { full: m.full?.version ?? null, deltas: m.deltas.map((d) => d.version) };
        };
        // nothing held: the newest full list and its chain
        expect(offer(null, null)).toEqual({ full: "202611230008", deltas: ["202611230012"] });
        // the old full list and its first delta: the newer full list (after 0005) and its chain
        expect(offer("202611230000", "202611230005")).toEqual({
          full: "202611230008",
          deltas: ["202611230012"],
        });
        // a delta past the newest full list (0010 > 0008): no full list, which the lane would refuse; its chain
        expect(offer("202611230000", "202611230010")).toEqual({ full: null, deltas: [] });
        // the newest full list and its delta: already latest
        expect(offer("202611230008", "202611230012")).toEqual({ full: null, deltas: [] });
      },
    );
  });

  // review: delta-V-V was chained on itself 100 times in one manifest, and a delta back to an older version
  // was offered
  it("never offers a delta whose version is not after its base (told once per file), and ends a chain at a version it reached", async () => {
    withBundles(
      [
        "full-202611230000.bundle",
        "delta-202611230000-202611230000.bundle",
        "delta-202611230000-202611230005.bundle",
        "delta-202611230005-202611230000.bundle",
        "delta-202611230005-202611230010.bundle",
        "delta-202611230010-202611230010.bundle",
        "delta-202611230015-202611230005.bundle",
      ],
      (dir) => {
        const told: string[] = [];
        const store = new BundleStore(dir, 1000, undefined, (name, base, version) =>
          told.push(`${name} ${base} ${version}`),
        );
        const names = (m: { deltas: { name: string }[] }) => m.deltas.map((d) => d.name);
        expect(names(store.manifest({ full: null, delta: null }))).toEqual([
          "delta-202611230000-202611230005.bundle",
          "delta-202611230005-202611230010.bundle",
        ]);
        expect(store.manifest({ full: "202611230000", delta: null })).toMatchObject({
          full: null,
          deltas: [
            { name: "delta-202611230000-202611230005.bundle" },
            { name: "delta-202611230005-202611230010.bundle" },
          ],
          latest: { full: "202611230000", delta: "202611230010" },
        });
        // the self-loop alone on the version held, the step back alone on it: nothing to offer
        expect(store.manifest({ full: "202611230000", delta: "202611230010" })).toMatchObject({ deltas: [] });
        expect(store.manifest({ full: "202611230000", delta: "202611230015" })).toMatchObject({ deltas: [] });
        expect(store.page("delta-202611230000-202611230000.bundle", 0)).toBeNull();
        expect(told.sort()).toEqual([
          "delta-202611230000-202611230000.bundle 202611230000 202611230000",
          "delta-202611230005-202611230000.bundle 202611230005 202611230000",
          "delta-202611230010-202611230010.bundle 202611230010 202611230010",
          "delta-202611230015-202611230005.bundle 202611230015 202611230005",
        ]);
        // versions not all of digits compare as text: 2 < 10 < 1a < 2, each delta after its base
        const cycle = join(dir, "cycle");
        mkdirSync(cycle);
        for (const name of ["full-2.bundle", "delta-2-10.bundle", "delta-10-1a.bundle", "delta-1a-2.bundle"])
          writeFileSync(join(cycle, name), Buffer.alloc(10, 1));
        expect(names(new BundleStore(cycle, 1000).manifest({ full: "2", delta: null }))).toEqual([
          "delta-2-10.bundle",
          "delta-10-1a.bundle",
        ]);
      },
    );
  });

  it("names as latest the newest full list and the newest delta it has, a delta no chain reaches included", () => {
    // the 0005 -> 0010 delta is missing: 0015 is reached from no full list
    withBundles(
      [
        "full-202611230000.bundle",
        "delta-202611230000-202611230005.bundle",
        "delta-202611230010-202611230015.bundle",
      ],
      (dir) => {
        const m = new BundleStore(dir, 1000).manifest({ full: "202611230000", delta: "202611230005" });
        // before: delta 0005, the newest reachable from the newest full list
        expect(m).toMatchObject({
          full: null,
          deltas: [],
          latest: { full: "202611230000", delta: "202611230015" },
        });
      },
    );
  });
});

// review: a statusListDir that does not exist was taken without a word, every manifest then empty
describe("startStation's statusListDir", () => {
  it("one that is missing or a file: startStation throws naming it and why", async () => {
    const t = tempDir("etc-station-");
    cleanup = t.cleanup;
    const file = join(t.dir, "lists.txt");
    writeFileSync(file, "not a directory");
    const missing = join(t.dir, "no-such-dir");
    await expect(startStation({ statusListDir: missing })).rejects.toThrow(
      `statusListDir ${missing}: cannot read it as a directory (ENOENT: `,
    );
    await expect(startStation({ statusListDir: file })).rejects.toThrow(
      `statusListDir ${file}: cannot read it as a directory (ENOTDIR: `,
    );
  });

  it("one that goes away while it runs: manifests offer nothing, one warning (not one per request); back, served again; gone again, warned again", async () => {
    const t = tempDir("etc-station-");
    cleanup = t.cleanup;
    const dir = join(t.dir, "lists");
    mkdirSync(dir);
    writeFileSync(join(dir, "full-202611230000.bundle"), Buffer.alloc(10, 1));
    const warnings: { obj: unknown; msg: unknown }[] = [];
    const logger: Logger = {
      ...silentLogger,
      warn: (obj, msg) => warnings.push({ obj, msg }),
      child: () => logger,
    };
    st = await startStation({ statusListDir: dir, logger });
    const manifest = async () =>
      (await (await get(`${st!.url}/api/v1/status-list/manifest?full=&delta=`)).json()) as {
        full: { name: string } | null;
      };
    expect((await manifest()).full?.name).toBe("full-202611230000.bundle");
    rmSync(dir, { recursive: true });
    for (let i = 0; i < 3; i++)
      expect(await manifest()).toEqual({ full: null, deltas: [], latest: { full: null, delta: null } });
    const unreadable = {
      obj: { dir, err: expect.stringContaining("ENOENT") },
      msg: "status-list directory cannot be read: manifests offer no bundle until it can",
    };
    expect(warnings).toEqual([unreadable]);
    mkdirSync(dir);
    writeFileSync(join(dir, "full-202611230000.bundle"), Buffer.alloc(10, 1));
    expect((await manifest()).full?.name).toBe("full-202611230000.bundle");
    expect(warnings).toHaveLength(1);
    // read in between: its going away again is told again, once (sim/station/bundles.ts onDirUnreadable)
    rmSync(dir, { recursive: true });
    for (let i = 0; i < 2; i++)
      expect(await manifest()).toEqual({ full: null, deltas: [], latest: { full: null, delta: null } });
    expect(warnings).toEqual([unreadable, unreadable]);
  });
});

// review: `etc-sim station --listen` on a taken port did not name the option (sim/cli/commands/station.ts)
describe("startStation on a port that is taken", () => {
  it("throws a StationListenError naming the address and node's reason, its database closed", async () => {
    const t = tempDir("etc-station-");
    cleanup = t.cleanup;
    const taken = await new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const port = (taken.address() as { port: number }).port;
      const dbPath = join(t.dir, "station.db");
      const err = await startStation({ port, dbPath }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StationListenError);
      expect((err as StationListenError).message).toMatch(
        new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port} \\(.*EADDRINUSE`),
      );
      expect((err as StationListenError).cause).toMatchObject({ code: "EADDRINUSE" });
      // an open WAL database keeps its -wal file; closed, SQLite removes it
      expect(existsSync(`${dbPath}-wal`)).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
