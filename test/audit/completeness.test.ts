/**
 * What `audit verify` demands besides an unbroken chain (src/audit/verify-guards.ts): an unsealed tail no
 * longer than the lane leaves one, a trail wherever journal.db shows a bound journal, a key given with
 * --key that checked a signature, and journal.db's meta values as the lane writes them, printed safely.
 * The attacks are made as someone who can write the data directory but has no private key would make
 * them (no signature is forged: the chain itself is unkeyed); the honest cases are what a lane leaves
 * when it runs, crashes, restarts, sees its clock stepped, rotates and deletes old files.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { getPriority } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { verifyInWorker } from "../../src/audit/background-verify.js";
import { type AuditEntry, buildLine, GENESIS } from "../../src/audit/entry.js";
import { auditDir } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { CLOCK_STEP_MS } from "../../src/audit/trail.js";
import { verifyTrail } from "../../src/audit/verify.js";
import { TAIL_ENTRY_CAP } from "../../src/audit/verify-guards.js";
import { verifyLaneDataDir } from "../../src/audit/verify-lane.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { BACKGROUND_NICE } from "../../src/threads.js";
import { sampleRecord } from "../journal/sample-record.js";
import {
  allLines,
  forgeAppend,
  laneKey,
  openBoundTrail,
  openTrail,
  runEtcLane,
  segmentPaths,
  tempDir,
  verify,
  verifyLane,
  writeLaneConfig,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-complete-"));
});
afterEach(() => cleanup());

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 26, 0, 0, 0);
const whats = (r: { problems: { what: string }[] }): string[] => r.problems.map((p) => p.what);

function sql(dataDir: string, ...stmts: [string, ...unknown[]][]): void {
  const db = new Database(join(dataDir, JOURNAL_FILE));
  try {
    for (const [s, ...params] of stmts) db.prepare(s).run(...params);
  } finally {
    db.close();
  }
}

/**
 * Without the key: every checkpoint dropped (and whatever else `keep` refuses), the rest renumbered and
 * re-chained with their own times, the rows pointed at their entries' new seqs and hashes, the head copy
 * set to the new end, the spool emptied and the station's last word deleted.
 */
function rechain(dataDir: string, keep: (e: AuditEntry) => boolean = () => true): void {
  const [file, ...more] = segmentPaths(dataDir);
  expect(more).toEqual([]);
  const old = readFileSync(file!, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as AuditEntry);
  const db = new Database(join(dataDir, JOURNAL_FILE));
  let prev = GENESIS;
  let seq = 0;
  let out = "";
  for (const e of old) {
    if (e.type === "audit.checkpoint" || !keep(e)) continue;
    const ev = {
      type: e.type,
      severity: e.severity,
      message: e.message,
      ...(e.data ? { data: e.data } : {}),
    };
    const b = buildLine(++seq, e.time, e.utc, ev, prev);
    prev = b.hash;
    out += b.line;
    const rec = (e.data as { rec?: { jseq: number } } | undefined)?.rec;
    if (rec)
      db.prepare("UPDATE records SET audit_seq = ?, audit_hash = ? WHERE seq = ?").run(seq, b.hash, rec.jseq);
  }
  db.prepare("UPDATE meta SET value = ? WHERE key = 'audit_head'").run(JSON.stringify({ seq, hash: prev }));
  db.prepare("DELETE FROM meta WHERE key = 'audit_witness'").run();
  db.prepare("DELETE FROM audit_tail").run();
  db.close();
  writeFileSync(file!, out);
}

/**
 * A lane that checkpoints as the real one does on its timer (here: by hand, every `sealEvery` entries
 * `stepMs` apart), records and events in turn, closed (sealed) at the end.
 */
async function sealedLane(dataDir: string, n: number, stepMs: number, sealEvery: number): Promise<void> {
  let t = T0;
  const lane = openBoundTrail(dataDir, { now: () => t, witness: false });
  for (let i = 1; i <= n; i++) {
    t += stepMs;
    if (i % 2 === 0) lane.journal.commit(sampleRecord(i));
    else lane.trail.events.alarm("X", `alarm ${i}`);
    if (i % sealEvery === 0) await lane.trail.checkpointNow();
  }
  await lane.close();
}

describe("a trail stripped of its checkpoints and re-chained without the key", () => {
  it("fails with the lane's key given as an independent copy: the key was not exercised", async () => {
    await sealedLane(dir, 6, 1000, 2);
    const key = laneKey(dir);
    expect(verifyLaneDataDir(dir, key, { givenKey: true }).report).toMatchObject({ ok: true, problems: [] });
    rechain(dir);
    const r = verifyLaneDataDir(dir, key, { givenKey: true }).report;
    expect(r.sealed).toBeNull();
    expect(r.ok).toBe(false);
    expect(whats(r)).toEqual([expect.stringMatching(/^the key was not exercised: nothing is sealed/)]);
  });

  it("fails when its tail spans more entry time than the lane leaves unsealed, also with the key beside the log", async () => {
    // 8 entries 30 s apart, sealed every 2 (each minute): 4 minutes of trail
    await sealedLane(dir, 8, 30_000, 2);
    expect(verifyLane(dir)).toMatchObject({ ok: true, problems: [] });
    rechain(dir);
    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(r.unsealedTail).toMatchObject({
      entries: 9, // journal.bound and the 8
      spanSeconds: 240,
      limits: { checkpointEvery: 1000, checkpointIntervalSeconds: 60, maxEntries: 2000, maxSeconds: 120 },
    });
    expect(r.problems[0]).toMatchObject({ seq: 1 });
    expect(r.problems[0]!.what).toMatch(
      /^the unsealed tail from seq 1 spans 240 s of entry time; the lane seals every 60 s \(at most 120 s unsealed with the margin\): checkpoints were removed/,
    );
  });

  it("a stretch longer than the limit that a later checkpoint seals is not judged early: a lane that ran with a larger checkpointEvery verifies", async () => {
    const lane = openBoundTrail(dir, { checkpointEvery: 1500, witness: false });
    for (let i = 1; i <= 1400; i++) lane.trail.events.alarm("X", `alarm ${i}`);
    await lane.trail.flush();
    await lane.close();
    const r = verifyLaneDataDir(dir, laneKey(dir), {
      tailLimits: { checkpointEvery: 10, checkpointIntervalSeconds: 60 },
    }).report;
    expect(r.problems).toEqual([]);
    expect(r.entries).toBeGreaterThan(1400);
  });

  it("a line holding the checkpoint's type near the end does not keep the walk to the trail's end: it stops past the hard cap", async () => {
    // the early stop waits for the newest line that may be a checkpoint; one forged entry whose data holds
    // the mark put that at the trail's end, and the walk held an item per entry to it again (out of memory
    // on a stripped trail of millions). The cap (TAIL_ENTRY_CAP: no config leaves more unsealed) is lowered
    // here so the trail stays small
    expect(TAIL_ENTRY_CAP).toBe(1_001_000);
    const lane = openBoundTrail(dir, { checkpointEvery: 10, witness: false });
    for (let i = 1; i <= 2000; i++) {
      lane.trail.events.alarm("X", `alarm ${i}`);
      if (i % 10 === 0) await lane.trail.flush();
    }
    lane.trail.append({
      type: "lane.note",
      severity: "info",
      message: "last",
      data: { x: { type: "audit.checkpoint" } },
    });
    await lane.close();
    rechain(dir);
    const limits = { checkpointEvery: 10, checkpointIntervalSeconds: 60 };
    const r = verifyTrail({
      dir: auditDir(dir),
      key: laneKey(dir),
      spool: null,
      journal: null,
      tailLimits: limits,
      tailEntryCap: 1500,
    });
    expect(r.ok).toBe(false);
    expect(r.entries).toBeLessThanOrEqual(1501);
    expect(r.problems.map((p) => ({ seq: p.seq, file: p.file, line: p.line, what: p.what }))).toEqual([
      {
        seq: 1,
        file: null,
        line: null,
        what:
          "the entries from seq 1 hold more than 1500 without a checkpoint (verify stopped at seq 1501); no lane leaves " +
          "that many unsealed with any config (checkpointEvery at most 1000000, plus the margin of 1000): checkpoints " +
          "were removed, or the chain was rebuilt without them",
      },
    ]);
  });

  it("fails when its tail holds more entries than the lane leaves unsealed", async () => {
    const lane = openBoundTrail(dir, { checkpointEvery: 10, witness: false });
    for (let i = 1; i <= 1020; i++) {
      lane.trail.events.alarm("X", `alarm ${i}`);
      if (i % 10 === 0) await lane.trail.flush(); // a turn for the checkpoint started on the count
    }
    await lane.close();
    const limits = { checkpointEvery: 10, checkpointIntervalSeconds: 60 };
    expect(verifyLaneDataDir(dir, laneKey(dir), { tailLimits: limits }).report.ok).toBe(true);
    rechain(dir);
    const r = verifyLaneDataDir(dir, laneKey(dir), { tailLimits: limits }).report;
    expect(r.ok).toBe(false);
    // judged as soon as the tail passes the limit with no checkpoint left after it: the walk stops there
    // instead of keeping an item per entry to the trail's end (a stripped trail of millions of entries ran
    // out of memory before it named the tail)
    expect(r.entries).toBeLessThanOrEqual(1011);
    // the tail's first seq, and no file and line (the walk stopped at another entry, seq 1011), as the
    // end-of-walk check gives none
    expect(r.problems[0]).toMatchObject({ seq: 1, file: null, line: null });
    expect(r.problems.map((p) => [p.seq, p.what])).toEqual([
      [
        1,
        "the unsealed tail from seq 1 holds more than 1010 entries (verify stopped at seq 1011, with no checkpoint " +
          "after it); the lane seals every 10 (at most 1010 unsealed with the margin): checkpoints were removed, " +
          "or the chain was rebuilt without them",
      ],
    ]);
  });
});

describe("a journal bound to a trail", () => {
  it("fails when the trail and every row are deleted", async () => {
    const lane = openBoundTrail(dir, { witness: false });
    for (let i = 1; i <= 3; i++) lane.journal.commit(sampleRecord(i));
    await lane.close();
    rmSync(auditDir(dir), { recursive: true });
    sql(
      dir,
      ["DELETE FROM records"],
      ["DELETE FROM outbox"],
      ["DELETE FROM audit_tail"],
      ["DELETE FROM meta WHERE key IN ('audit_head', 'audit_witness')"],
    );
    const r = verifyLaneDataDir(dir, laneKey(dir)).report;
    expect(r.ok).toBe(false);
    expect(whats(r)).toEqual([
      "journal.db shows a journal bound to the trail (meta.audit_bound_entry is set, its last record is seq 3), " +
        "but the trail has no entries: it was deleted",
    ]);
  });

  it("fails when the trail has no journal.bound entry (and no retention deleted it)", async () => {
    const lane = openBoundTrail(dir, { witness: false });
    lane.journal.commit(sampleRecord(1));
    lane.trail.events.alarm("X", "alarm");
    await lane.trail.flush();
    rechain(dir, (e) => e.type !== "journal.bound");
    sql(dir, ["DELETE FROM meta WHERE key = 'audit_bound_entry'"]);
    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(whats(r)).toEqual([
      "journal.db shows a journal bound to the trail (1 row(s) name an audit entry, its last record is seq 1), " +
        "but the trail has no journal.bound entry (and no audit.retention entry that deleted it): the trail was replaced",
    ]);
    await lane.close();
  });

  it("verifies once retention deleted the file that held journal.bound: an audit.retention entry is kept", async () => {
    let t = T0;
    const lane = openBoundTrail(dir, {
      now: () => t,
      witness: false,
      checkpointEvery: 5,
      segmentMaxBytes: 1500,
      retentionDays: 30,
    });
    const events = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        lane.trail.events.alarm("X", `alarm ${i}`);
        await lane.trail.flush();
      }
    };
    await events(30);
    t += 40 * 86_400_000;
    await events(30);
    expect(await lane.trail.runRetention()).not.toBeNull();
    await lane.close();
    const types = allLines(dir).map((l) => (JSON.parse(l.text) as AuditEntry).type);
    expect(types).not.toContain("journal.bound");
    expect(types).toContain("audit.retention");
    expect(verifyLane(dir)).toMatchObject({ ok: true, problems: [] });
  });
});

// review: an audit.retention entry appended by hand (the lane seals one at once at its next start), then the
// files it names and their journal rows deleted: fresh, never acknowledged records and an unsettled suspect
// were gone with nothing to say so, to verify or to the station (whose checkpoint chain still extends)
describe("an audit.retention entry that deletes files retention keeps", () => {
  it("is refused: the files it names were closed less than audit.retentionDays before it", async () => {
    const t = { now: T0 };
    const opts = {
      now: () => t.now,
      witness: false,
      checkpointEvery: 5,
      segmentMaxBytes: 1500,
      retentionDays: 30,
    };
    let lane = openBoundTrail(dir, opts, { now: () => new Date(t.now) });
    const events = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        lane.trail.events.alarm("X", `alarm ${i}`);
        await lane.trail.flush();
      }
    };
    await events(6);
    lane.journal.commit(sampleRecord(1));
    lane.journal.commit(sampleRecord(2, "suspect"));
    lane.journal.commit(sampleRecord(3));
    await events(12);
    lane.journal.commit(sampleRecord(4));
    await events(6);
    await lane.close();
    // the files through the one holding record 3's entry, as retention would name them
    const lines = allLines(dir).map((l) => ({ ...l, e: JSON.parse(l.text) as AuditEntry }));
    const files = [...new Set(lines.map((l) => l.file))];
    const last = lines.find(
      (l) => l.e.type === "record.commit" && (l.e.data as { rec: { jseq: number } }).rec.jseq === 3,
    )!;
    const cutAt = files.indexOf(last.file);
    const firstKept = lines.find((l) => l.file === files[cutAt + 1])!;
    const bound = lines.find((l) => l.e.type === "journal.bound")!.e;
    forgeAppend(
      dir,
      {
        type: "audit.retention",
        severity: "info",
        message: "retention",
        data: {
          files: files.slice(0, cutAt + 1).map((file) => ({ file })),
          deletedThrough: firstKept.e.seq, // the anchor the next file begins with: the last deleted entry
          bound: { boundFrom: (bound.data as { boundFrom: number }).boundFrom, seq: bound.seq },
        },
      },
      t.now,
    );
    t.now += 5000;
    lane = openBoundTrail(dir, opts, { now: () => new Date(t.now) }); // seals the entry at its start
    await events(3);
    await lane.close();
    for (const f of files.slice(0, cutAt + 1)) rmSync(join(auditDir(dir), f));
    const db = new Database(join(dir, JOURNAL_FILE));
    for (const table of ["records", "outbox", "held", "acks"])
      db.prepare(`DELETE FROM ${table} WHERE seq <= 3`).run();
    db.close();

    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(whats(r)).toContainEqual(
      expect.stringMatching(
        /^this audit\.retention entry .* deleted the files through seq \d+, whose last entry .* was not 1 day\(s\) old then \(the least audit\.retentionDays any config allows; the entry states none\)/,
      ),
    );
  });

  // review: judged by the config's retentionDays, an honest cut made under 30 days would fail every verify
  // once the config said 400: the entry states the retention it was made under, and verify uses that
  it("an honest cut states the retention it was made under, and verifies", async () => {
    let t = T0;
    const lane = openBoundTrail(dir, {
      now: () => t,
      witness: false,
      checkpointEvery: 5,
      segmentMaxBytes: 1500,
      retentionDays: 30,
    });
    for (let i = 0; i < 30; i++) {
      lane.trail.events.alarm("X", `alarm ${i}`);
      await lane.trail.flush();
    }
    t += 31 * 86_400_000;
    lane.trail.events.alarm("X", "a month later");
    await lane.trail.flush();
    expect(await lane.trail.runRetention()).not.toBeNull();
    await lane.close();
    const entry = allLines(dir)
      .map((l) => JSON.parse(l.text) as AuditEntry)
      .find((e) => e.type === "audit.retention")!;
    expect(entry.data).toMatchObject({ retentionDays: 30 });
    expect(verifyLane(dir)).toMatchObject({ ok: true, problems: [] });
  });
});

describe("the unsealed tail an honest lane leaves", () => {
  it("a new lane in its first minute, before its first checkpoint, verifies", async () => {
    const lane = openBoundTrail(dir, { witness: false });
    lane.journal.commit(sampleRecord(1));
    lane.trail.events.alarm("X", "alarm");
    await lane.trail.flush();
    const r = verifyLane(dir);
    expect(r).toMatchObject({ ok: true, sealed: null, unsealedTail: { entries: 3 } });
    await lane.close();
  });

  it("a lane killed between checkpoints verifies: its tail is bounded by the checkpoints it made while running", async () => {
    let t = T0;
    const spool = new MemoryAuditSpool();
    const trail = openTrail(dir, spool, { now: () => t });
    for (let s = 0; s < 50; s += 10) {
      t = T0 + s * 1000;
      trail.append({ type: "lane.alarm", severity: "alarm", message: `at ${s} s`, data: { code: "X" } });
    }
    t = T0 + MIN;
    await trail.checkpointNow(); // the minute's timer
    for (const s of [70, 110]) {
      t = T0 + s * 1000;
      trail.append({ type: "lane.alarm", severity: "alarm", message: `at ${s} s`, data: { code: "X" } });
    }
    await trail.flush(); // killed here: no closing checkpoint
    expect(verify(dir, spool)).toMatchObject({ ok: true, unsealedTail: { entries: 2, spanSeconds: 40 } });
  });

  it("a lane restarted hours after a crash seals the tail the crash left at once, and checkpointNow seals what follows", async () => {
    let t = T0;
    const spool = new MemoryAuditSpool();
    const first = openTrail(dir, spool, { now: () => t });
    first.append({ type: "lane.alarm", severity: "alarm", message: "before the crash", data: { code: "X" } });
    await first.flush(); // killed here: no closing checkpoint
    t += 3 * 60 * MIN;
    const again = openTrail(dir, spool, { now: () => t });
    const started = again.append({ type: "lane.start", severity: "info", message: "lane started" });
    const cp = await again.checkpointNow();
    expect(cp!.checkpoint.to).toBeGreaterThanOrEqual(started.seq);
    expect(again.status().lastCheckpoint).toMatchObject({ n: 2 });
    const sealedAtOpen = allLines(dir)
      .map((l) => JSON.parse(l.text) as AuditEntry)
      .find((e) => e.type === "audit.checkpoint");
    expect(sealedAtOpen!.data).toMatchObject({ checkpoint: { n: 1, from: 1, to: 1 } });
    again.append({ type: "lane.alarm", severity: "alarm", message: "after the start", data: { code: "X" } });
    await again.flush();
    expect(verify(dir, spool)).toMatchObject({ ok: true, problems: [] });
    await again.close();
  });

  it("a wall-clock step makes the lane seal at once: the step is never inside the unsealed tail", async () => {
    let wall = T0;
    let mono = 0;
    const spool = new MemoryAuditSpool();
    const trail = openTrail(dir, spool, { now: () => wall, monotonicNow: () => mono });
    const alarm = (m: string) =>
      trail.append({ type: "lane.alarm", severity: "alarm", message: m, data: { code: "X" } });
    alarm("one");
    wall += 1000;
    mono += 1000 + CLOCK_STEP_MS; // drift within the limit: no step
    alarm("two");
    await trail.flush();
    expect(trail.status().lastCheckpoint).toBeNull();
    wall += 2 * 60 * MIN; // NTP steps the clock two hours forward
    mono += 1000;
    const stepped = alarm("after the step");
    await trail.flush();
    expect(trail.status().lastCheckpoint).toMatchObject({ n: 1, to: stepped.seq });
    alarm("later");
    await trail.flush();
    expect(verify(dir, spool)).toMatchObject({ ok: true, problems: [], unsealedTail: { entries: 1 } });
    await trail.close();
  });
});

describe("the limits come from the lane's config", () => {
  it("the lane's background verify judges the tail by the settings it is given (its config's)", async () => {
    const ours = getPriority();
    let t = T0;
    const lane = openBoundTrail(dir, { now: () => t, witness: false });
    lane.journal.commit(sampleRecord(1));
    t += 10 * MIN;
    lane.trail.events.alarm("X", "ten minutes later");
    await lane.trail.flush(); // killed here: no closing checkpoint
    const own = await verifyInWorker({
      dataDir: dir,
      laneId: null,
      tailLimits: { checkpointEvery: 1000, checkpointIntervalSeconds: 900 },
    });
    expect(own).toMatchObject({ ok: true, problem: null });
    // the verifying thread yields to the lane's, and only it (Linux: a thread's own priority)
    expect(own.nice).toBe(process.platform === "linux" ? BACKGROUND_NICE : null);
    expect(getPriority()).toBe(ours);
    const defaults = await verifyInWorker({ dataDir: dir, laneId: null });
    expect(defaults.ok).toBe(false);
    expect(defaults.problem).toMatch(/^seq 1: the unsealed tail from seq 1 spans 600 s of entry time/);
    await lane.close();
  });

  it("with --config, its checkpointIntervalSeconds; without, the defaults; both printed", async () => {
    let t = T0;
    const data = join(dir, "data");
    const lane = openBoundTrail(data, { now: () => t, witness: false });
    lane.journal.commit(sampleRecord(1));
    t += 10 * MIN;
    lane.trail.events.alarm("X", "ten minutes later");
    await lane.trail.flush(); // killed here: no closing checkpoint
    const config = writeLaneConfig(dir);
    writeFileSync(config, `${readFileSync(config, "utf8")}audit: { checkpointIntervalSeconds: 900 }\n`);
    const own = await runEtcLane(["audit", "verify", "--config", config]);
    expect(own.out).toContain(
      `unsealed tail limits: at most 2000 entries and 960 s of entry time (checkpointEvery 1000 + 1000, checkpointIntervalSeconds 900 + 60, from the config (--config ${config})); the tail with the spool: 3 entries over 600.0 s`,
    );
    expect(own.out).toMatch(/OK: the trail is intact\n$/);
    expect(own.code).toBe(0);
    const defaults = await runEtcLane(["audit", "verify", "--data-dir", data]);
    expect(defaults.out).toContain(
      "unsealed tail limits: at most 2000 entries and 120 s of entry time (checkpointEvery 1000 + 1000, checkpointIntervalSeconds 60 + 60, the defaults: no config given, give --config for the lane's own)",
    );
    expect(defaults.out).toContain("FAILED at seq 1: the unsealed tail from seq 1 spans 600 s of entry time");
    expect(defaults.code).toBe(1);
    await lane.close();
  });
});
