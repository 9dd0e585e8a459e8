/**
 * The station as witness: sim/station keeps the last checkpoint per lane and refuses one that does not
 * extend it; a lane whose data directory was replaced by an older copy is caught there, raises
 * AUDIT_ROLLBACK, records it in its trail, and `audit verify` fails on it.
 */

import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { closeSync, cpSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { Subject } from "rxjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type StationHandle, startStation } from "../../sim/station/station.js";
import {
  type CheckpointStatement,
  checkpointHash,
  keyIdOf,
  type SignedCheckpoint,
  statementBytes,
} from "../../src/audit/checkpoint.js";
import { GENESIS } from "../../src/audit/entry.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import type { AuditTrail } from "../../src/audit/trail.js";
import { CheckpointWitness } from "../../src/audit/witness.js";
import type { Outbox } from "../../src/journal/journal.js";
import { sendCheckpoints } from "../../src/uplink/audit-checkpoints.js";
import { StationClient } from "../../src/uplink/station-client.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { sampleRecord } from "../journal/sample-record.js";
import { allLines, LANE, openBoundTrail, tempDir, verifyLane } from "./helpers.js";

const LANE_ID = "4301010203";
let station: StationHandle;
let dir: string;
let cleanup: () => void;

beforeEach(async () => {
  station = await startStation();
  ({ dir, cleanup } = tempDir("etc-audit-witness-"));
});
afterEach(async () => {
  await station.close();
  cleanup();
});

function chain(
  key: KeyObject,
  count: number,
  from: { n: number; to: number; hash: string } = { n: 0, to: 0, hash: GENESIS },
  salt = "a",
): SignedCheckpoint[] {
  const out: SignedCheckpoint[] = [];
  let prev = from;
  const keyId = keyIdOf(generatePublic(key));
  for (let i = 0; i < count; i++) {
    const s: CheckpointStatement = {
      v: 1,
      lane: LANE_ID,
      keyId,
      n: prev.n + 1,
      from: prev.to + 1,
      to: prev.to + 10,
      head: (salt + String(prev.n + 1)).padEnd(64, "0").replace(/[^0-9a-f]/g, "0"),
      prev: prev.hash,
      time: "2026-11-26T00:00:00.000Z",
    };
    out.push({ checkpoint: s, sig: sign(null, statementBytes(s), key).toString("base64") });
    prev = { n: s.n, to: s.to, hash: checkpointHash(s) };
  }
  return out;
}

const pubs = new WeakMap<KeyObject, KeyObject>();
function generatePublic(priv: KeyObject): KeyObject {
  return pubs.get(priv)!;
}
function keyPair(): { priv: KeyObject; pem: string } {
  const k = generateKeyPairSync("ed25519");
  pubs.set(k.privateKey, k.publicKey);
  return { priv: k.privateKey, pem: k.publicKey.export({ type: "spki", format: "pem" }).toString() };
}

async function post(
  pem: string,
  checkpoints: SignedCheckpoint[],
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${station.url}/api/v1/lanes/${LANE_ID}/audit-checkpoints`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-lane-id": LANE_ID },
    body: JSON.stringify({ publicKey: pem, checkpoints }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("the station keeps the last checkpoint per lane", () => {
  it("stores a chain that extends it, recognises a re-sent batch, and refuses a fork, a jump or another key with 409", async () => {
    const k = keyPair();
    const cps = chain(k.priv, 4);
    expect((await post(k.pem, cps.slice(0, 2))).body).toMatchObject({
      accepted: [
        { n: 1, status: "stored" },
        { n: 2, status: "stored" },
      ],
    });
    // the answer was lost: the lane sends the same again, with the next one
    expect((await post(k.pem, cps.slice(0, 3))).body).toMatchObject({
      accepted: [
        { n: 1, status: "duplicate" },
        { n: 2, status: "duplicate" },
        { n: 3, status: "stored" },
      ],
    });
    const held = station.auditCheckpoints()[LANE_ID]!;
    expect(held).toMatchObject({ n: 3, hash: checkpointHash(cps[2]!.checkpoint) });

    // a fork: another #3 (an older copy of the lane went on differently) and the #4 after it
    const fork = chain(k.priv, 2, { n: 2, to: 20, hash: checkpointHash(cps[1]!.checkpoint) }, "b");
    const r1 = await post(k.pem, fork);
    expect(r1.status).toBe(409);
    expect(r1.body).toMatchObject({ error: "AUDIT_CHECKPOINT_CONFLICT", current: { hash: held.hash } });
    // a jump over #4
    const r2 = await post(
      k.pem,
      chain(k.priv, 1, { n: 4, to: 40, hash: checkpointHash(cps[3]!.checkpoint) }),
    );
    expect(r2.status).toBe(409);
    // #4 signed by another key
    const other = keyPair();
    const r3 = await post(other.pem, chain(other.priv, 1, { n: 3, to: 30, hash: held.hash }));
    expect(r3.status).toBe(409);
    expect(station.auditCheckpoints()[LANE_ID]!.hash).toBe(held.hash);
    // and the true #4 still extends it
    expect((await post(k.pem, [cps[3]!])).body).toMatchObject({ accepted: [{ n: 4, status: "stored" }] });
  });

  it("refuses with 409 a next checkpoint whose range does not continue the last one's", async () => {
    const k = keyPair();
    const [c1] = chain(k.priv, 1); // seq 1..10
    expect((await post(k.pem, [c1!])).status).toBe(200);
    // #2 names #1 as its predecessor but restates seq 1..1, which #1 sealed: a trail cut back behind it
    const s: CheckpointStatement = {
      ...c1!.checkpoint,
      n: 2,
      from: 1,
      to: 1,
      head: "b".repeat(64),
      prev: checkpointHash(c1!.checkpoint),
    };
    const r = await post(k.pem, [
      { checkpoint: s, sig: sign(null, statementBytes(s), k.priv).toString("base64") },
    ]);
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({
      error: "AUDIT_CHECKPOINT_CONFLICT",
      message: "checkpoint #2 covers seq 1..1, which does not continue #1's range (..10)",
    });
    expect(station.auditCheckpoints()[LANE_ID]).toMatchObject({ n: 1 });
  });

  it("refuses a bad signature or a checkpoint of another lane with 422, and changes nothing", async () => {
    const k = keyPair();
    const [cp] = chain(k.priv, 1);
    const tampered = { ...cp!, checkpoint: { ...cp!.checkpoint, to: 11 } };
    expect((await post(k.pem, [tampered])).status).toBe(422);
    const elsewhere = { ...cp!, checkpoint: { ...cp!.checkpoint, lane: "4301010204" } };
    expect((await post(k.pem, [elsewhere])).status).toBe(422);
    expect(station.auditCheckpoints()).toEqual({});
  });
});

describe("a lane whose network and station numbers have hex letters (the config gives them in lower case)", () => {
  it("its uploads, heartbeats and checkpoints name the lane as its trade ids do, and the witness stores them", async () => {
    const lane = { network: "43a1", station: "0b02", lane: 3 };
    const l = openBoundTrail(dir, { lane }, { laneIdentity: lane });
    const t = l.trail;
    const outcome = new Promise<string>((resolve) => {
      const ack = t.witness.acknowledged.bind(t.witness);
      t.witness.acknowledged = (n: number) => {
        ack(n);
        resolve("acknowledged");
      };
      const failed = t.witness.failed.bind(t.witness);
      t.witness.failed = (message: string) => {
        failed(message);
        resolve(`failed: ${message}`);
      };
    });
    const rec = l.journal.commit(sampleRecord(1));
    const up = new Uplink({
      stationUrl: station.url,
      outbox: l.journal,
      lane,
      auditCheckpoints: t.witness,
      heartbeatIntervalMs: 3_600_000, // one, at the start
    });
    up.start();
    try {
      await up.whenDrained();
      await t.checkpointNow();
      expect(await outcome).toBe("acknowledged");
      expect(rec.tradeId.slice(0, 10)).toBe("43A10B0203");
      expect(Object.keys(station.auditCheckpoints())).toEqual(["43A10B0203"]);
      expect(station.received().map((r) => r.lane)).toEqual(["43A10B0203"]);
      expect(Object.keys(station.heartbeats())).toEqual(["43A10B0203"]);
      expect(station.heartbeats()["43A10B0203"]).toMatchObject({
        lane: { network: "43A1", station: "0B02" },
      });
    } finally {
      await up.stop();
      await l.close();
    }
  });
});

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

/** Runs the lane's trail and uplink on `dataDir` for the length of `body`. */
async function runLane(
  dataDir: string,
  body: (t: AuditTrail, events: LaneWatch) => Promise<void>,
): Promise<string[]> {
  const alarms: string[] = [];
  const watch = new LaneWatch();
  const lane = openBoundTrail(dataDir, {
    onAlarm: (code) => {
      alarms.push(code);
      watch.alarm(code);
    },
  });
  const t = lane.trail;
  const ack = t.witness.acknowledged.bind(t.witness);
  t.witness.acknowledged = (n: number) => {
    ack(n);
    watch.acked(n);
  };
  const up = new Uplink({
    stationUrl: station.url,
    outbox: emptyOutbox(),
    lane: LANE,
    auditCheckpoints: t.witness,
    heartbeatIntervalMs: 0,
  });
  up.start();
  try {
    await body(t, watch);
  } finally {
    await up.stop();
    await lane.close();
  }
  return alarms;
}

class LaneWatch {
  private ackWaiters: { n: number; resolve: () => void }[] = [];
  private alarmWaiters: { code: string; resolve: () => void }[] = [];
  private ackedN = 0;
  acked(n: number): void {
    this.ackedN = Math.max(this.ackedN, n);
    for (const w of this.ackWaiters.filter((x) => x.n <= this.ackedN)) w.resolve();
    this.ackWaiters = this.ackWaiters.filter((x) => x.n > this.ackedN);
  }
  alarm(code: string): void {
    for (const w of this.alarmWaiters.filter((x) => x.code === code)) w.resolve();
    this.alarmWaiters = this.alarmWaiters.filter((x) => x.code !== code);
  }
  untilAcked(n: number): Promise<void> {
    return n <= this.ackedN
      ? Promise.resolve()
      : new Promise((resolve) => this.ackWaiters.push({ n, resolve }));
  }
  untilAlarm(code: string): Promise<void> {
    return new Promise((resolve) => this.alarmWaiters.push({ code, resolve }));
  }
}

const ev = (i: number) => ({
  type: "lane.alarm",
  severity: "alarm" as const,
  message: `alarm ${i}`,
  data: { code: `X${i}` },
});

describe("a data directory replaced by an older copy", () => {
  it("is refused by the station on the lane's next checkpoint: AUDIT_ROLLBACK, recorded in the trail, and verify fails", async () => {
    const old = `${dir}-old`;
    try {
      await runLane(dir, async (t, w) => {
        t.append(ev(1));
        const cp = await t.checkpointNow();
        await w.untilAcked(cp!.checkpoint.n);
      });
      cpSync(dir, old, { recursive: true }); // the copy someone keeps
      await runLane(dir, async (t, w) => {
        t.append(ev(2));
        const cp = await t.checkpointNow();
        await w.untilAcked(cp!.checkpoint.n);
      });
      const before = station.auditCheckpoints()[LANE_ID]!;

      rmSync(dir, { recursive: true });
      cpSync(old, dir, { recursive: true }); // ... and puts back
      const alarms = await runLane(dir, async (t, w) => {
        const refused = w.untilAlarm("AUDIT_ROLLBACK");
        t.append(ev(3));
        await t.checkpointNow();
        await refused;
      });
      expect(alarms).toEqual(["AUDIT_ROLLBACK"]);
      expect(station.auditCheckpoints()[LANE_ID]).toEqual(before);
      const rollback = allLines(dir)
        .map((l) => JSON.parse(l.text) as { type: string; data: { station: { n: number } } })
        .filter((e) => e.type === "audit.rollback");
      expect(rollback).toHaveLength(1);
      expect(rollback[0]!.data.station.n).toBe(before.n);
      const r = verifyLane(dir);
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.what).join("\n")).toMatch(/the station refused checkpoint/);
    } finally {
      rmSync(old, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});

describe("asking the station again after a refusal", () => {
  it("waits failRetryMs and conflictRetryMs on a clock that never steps: a wall clock stepped back does not hold the checkpoints back", () => {
    const k = keyPair();
    let wall = Date.parse("2026-12-03T12:00:00.000Z");
    let mono = 5_000;
    const w = new CheckpointWitness({
      dir,
      spool: new MemoryAuditSpool(),
      publicKeyPem: k.pem,
      now: () => wall,
      monotonicNow: () => mono,
      max: 10,
      enabled: true,
      failRetryMs: 60_000,
      conflictRetryMs: 600_000,
      onConflict: () => undefined,
      onBehind: () => undefined,
    });
    const [cp] = chain(k.priv, 1);
    w.add(cp!);
    expect(w.due()).toBe(true);

    w.failed("422 bad request");
    expect(w.due()).toBe(false);
    wall -= 86_400_000; // NTP steps the wall clock back a day
    mono += 59_999;
    expect(w.due()).toBe(false);
    mono += 1;
    expect(w.due()).toBe(true);

    w.refused(null, "409: the station holds another checkpoint");
    wall -= 86_400_000;
    mono += 599_999;
    expect(w.due()).toBe(false);
    mono += 1;
    expect(w.due()).toBe(true);
  });
});

describe("a 409 after checkpoints of the same request were stored", () => {
  it("acknowledges those the station lists in `accepted` and names the first it did not take (#8 of 5-8)", async () => {
    const k = keyPair();
    const cps = chain(k.priv, 7);
    expect((await post(k.pem, cps.slice(0, 4))).status).toBe(200); // the station holds #1..#4
    // #8 forks: it does not name #7 as its predecessor
    const fork8 = chain(k.priv, 1, { n: 7, to: 70, hash: checkpointHash(cps[5]!.checkpoint) }, "b")[0]!;
    const conflicts: { message: string; data: { ours: { n: number } | null } }[] = [];
    const w = new CheckpointWitness({
      dir,
      spool: new MemoryAuditSpool(),
      publicKeyPem: k.pem,
      now: Date.now,
      max: 10,
      enabled: true,
      onConflict: (message, data) =>
        conflicts.push({ message, data: data as { ours: { n: number } | null } }),
      onBehind: () => undefined,
    });
    for (const cp of [...cps.slice(4), fork8]) w.add(cp);
    const client = new StationClient(
      { baseUrl: station.url, lane: LANE, requestTimeoutMs: 5_000, bundleTimeoutMs: 5_000 },
      new AbortController().signal,
    );
    await sendCheckpoints(client, w);
    // the station stored #5..#7 in the request's transaction and refused #8
    expect(station.auditCheckpoints()[LANE_ID]).toMatchObject({ n: 7 });
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.data.ours?.n).toBe(8);
    expect(conflicts[0]!.message).toMatch(/refused checkpoint #8: it holds #7/);
    expect(w.status().queued).toBe(1); // #8 alone waits; #5..#7 acknowledged
  });
});

describe("a station whose record was set back (restored from an older backup)", () => {
  it("holding an older checkpoint of the lane's own: the running lane sends what follows it again and ends acknowledged at its newest, without audit.rollback; verify stays ok", async () => {
    // before: AUDIT_ROLLBACK and an audit.rollback entry, refused again every conflictRetryMs, and verify
    // failed on the lane's intact trail for ever
    const alarms = await runLane(dir, async (t, w) => {
      t.append(ev(1));
      const first = (await t.checkpointNow())!;
      await w.untilAcked(first.checkpoint.n);
      for (let i = 2; i <= 4; i++) {
        t.append(ev(i));
        const cp = await t.checkpointNow();
        await w.untilAcked(cp!.checkpoint.n);
      }
      // the station's database restored from a backup that held the lane's first checkpoint only
      station.resetAuditWitness(LANE_ID);
      expect((await post(t.witness.publicKeyPem, [first])).status).toBe(200);
      t.append(ev(5));
      const newest = (await t.checkpointNow())!;
      expect(newest.checkpoint.n).toBeGreaterThan(first.checkpoint.n + 1);
      await Promise.race([w.untilAcked(newest.checkpoint.n), w.untilAlarm("AUDIT_ROLLBACK")]);
      expect(station.auditCheckpoints()[LANE_ID]).toMatchObject({
        n: newest.checkpoint.n,
        hash: checkpointHash(newest.checkpoint),
      });
      expect(t.witness.status()).toMatchObject({
        queued: 0,
        conflict: null,
        lastAcknowledged: { n: newest.checkpoint.n },
      });
    });
    expect(alarms).toEqual([]);
    const kinds = allLines(dir).map((l) => (JSON.parse(l.text) as { type: string; severity: string }).type);
    expect(kinds).not.toContain("audit.rollback");
    expect(kinds.filter((k) => k === "audit.station-behind")).toHaveLength(1);
    expect(verifyLane(dir).ok).toBe(true);
  });

  it("refused again before any acknowledgement, the files holding no #k+1 (checkpoint #2's line broken): AUDIT_ROLLBACK after two sends, not a resend loop", async () => {
    // the guard (src/audit/witness.ts refused: the station's checkpoint taken as behind already) is what
    // ends this: without it every refusal is taken as the station behind again, read again and resent at
    // once, an audit.station-behind entry each round and no alarm
    const sends: number[][] = [];
    const alarms = await runLane(dir, async (t, w) => {
      const cps: SignedCheckpoint[] = [];
      for (let i = 1; i <= 4; i++) {
        t.append(ev(i));
        const cp = (await t.checkpointNow())!;
        cps.push(cp);
        await w.untilAcked(cp.checkpoint.n);
      }
      // checkpoint #2's line no longer a checkpoint entry (its type changed, same length): the files hold
      // no checkpoint that extends #1
      const line = allLines(dir).find(
        (l) =>
          (JSON.parse(l.text) as { type: string; data: { checkpoint?: { n: number } } }).data.checkpoint
            ?.n === cps[1]!.checkpoint.n,
      )!;
      const file = readFileSync(line.path);
      const at = file.indexOf(line.text) + line.text.indexOf('"type":"audit.checkpoint"');
      const fd = openSync(line.path, "r+");
      writeSync(fd, Buffer.from('"type":"audit.checkpoinx"'), 0, undefined, at);
      closeSync(fd);
      station.resetAuditWitness(LANE_ID);
      expect((await post(t.witness.publicKeyPem, [cps[0]!])).status).toBe(200);

      let tooMany: () => void = () => undefined;
      const looping = new Promise<void>((resolve) => {
        tooMany = resolve;
      });
      const batch = t.witness.batch.bind(t.witness);
      t.witness.batch = (limit: number) => {
        const b = batch(limit);
        if (b.checkpoints.length > 0) sends.push(b.checkpoints.map((c) => c.checkpoint.n));
        if (sends.length > 2) tooMany();
        return b;
      };
      const refused = w.untilAlarm("AUDIT_ROLLBACK");
      t.append(ev(5));
      await t.checkpointNow();
      await Promise.race([refused, looping]);
      expect(t.witness.status().conflict).toMatchObject({ stationN: 1 });
    });
    expect(sends).toEqual([[5], [3, 4, 5]]);
    expect(alarms).toEqual(["AUDIT_ROLLBACK"]);
    const kinds = allLines(dir).map((l) => (JSON.parse(l.text) as { type: string }).type);
    expect(kinds.filter((k) => k === "audit.station-behind")).toHaveLength(1);
    expect(kinds.filter((k) => k === "audit.rollback")).toHaveLength(1);
  });

  it("holding a checkpoint of that number that is not the lane's own (a fork): AUDIT_ROLLBACK as before", async () => {
    const alarms = await runLane(dir, async (t, w) => {
      const cps: SignedCheckpoint[] = [];
      for (let i = 1; i <= 3; i++) {
        t.append(ev(i));
        const cp = (await t.checkpointNow())!;
        cps.push(cp);
        await w.untilAcked(cp.checkpoint.n);
      }
      // the station holds another #n of the first checkpoint's number, signed with the lane's key: no
      // statement of this trail's own
      const first = cps[0]!.checkpoint;
      station.resetAuditWitness(LANE_ID);
      const forked = { ...first, head: "f".repeat(64) };
      const lanePriv = t.key.privateKey;
      const sig = sign(null, statementBytes(forked), lanePriv).toString("base64");
      expect((await post(t.witness.publicKeyPem, [{ checkpoint: forked, sig }])).status).toBe(200);
      const refused = w.untilAlarm("AUDIT_ROLLBACK");
      t.append(ev(4));
      await t.checkpointNow();
      await refused;
      expect(t.witness.status().conflict).toMatchObject({ stationN: first.n });
    });
    expect(alarms).toEqual(["AUDIT_ROLLBACK"]);
    const kinds = allLines(dir).map((l) => (JSON.parse(l.text) as { type: string }).type);
    expect(kinds).not.toContain("audit.station-behind");
  });
});
