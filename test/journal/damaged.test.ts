/**
 * A damaged journal.db (one page overwritten: bit rot, a torn write on storage without power-loss
 * protection). Review: Journal.open reported it healthy; pending() threw SQLITE_CORRUPT to the uplink,
 * which counted it as the station's failure; nothing said "journal damaged". Now the quick_check after
 * open and every read on the lane's handle treat it as the journal's failure: unhealthy for good, the
 * note DAMAGED_FILE written, and the next open refused with E602 (src/journal/db.ts, integrity-check.ts).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DAMAGED_FILE, type Journal } from "../../src/journal/journal.js";
import { damagePage, useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir("etc-damaged-");

/** 300 records, then the 21st leaf page of `records` (about seqs 40-42) overwritten. */
async function damagedJournal(): Promise<void> {
  const j = jd.open({ integrityCheck: false, checkpointIntervalMs: 0 });
  j.commitMany(
    Array.from({ length: 300 }, (_, i) => sampleRecord(i, i % 10 === 0 ? "suspect" : "transaction")),
  );
  await j.close();
  damagePage(jd.dir(), { table: "records", leaf: 20 });
}

function expectDamaged(j: Journal): void {
  expect(j.healthy).toBe(false);
  expect(j.health().error).toMatchObject({
    code: "E601_JOURNAL_WRITE",
    sqliteCode: expect.stringMatching(/^SQLITE_CORRUPT/),
    damaged: true,
    message: expect.stringMatching(/journal\.db is damaged; the lane must be restarted/),
  });
  expect(j.recover()).toBe(false); // no write proves a damaged file whole
  expect(j.healthy).toBe(false);
}

describe("the quick_check after open", () => {
  it("finds the damaged page: the journal unhealthy for good, the note written, the next open refused (E602)", async () => {
    await damagedJournal();
    const j = jd.open({ checkpointIntervalMs: 0 });
    expect(await j.upkeep.integrity).toMatchObject({ kind: "damaged", sqliteCode: "SQLITE_CORRUPT" });
    expectDamaged(j);
    const note = JSON.parse(readFileSync(join(jd.dir(), DAMAGED_FILE), "utf8"));
    expect(note).toMatchObject({ op: "quick_check", sqliteCode: "SQLITE_CORRUPT" });
    await j.close();
    expect(() => jd.open()).toThrow(
      expect.objectContaining({
        code: "E602_JOURNAL_OPEN",
        message: expect.stringMatching(
          /journal\.db was found damaged at \S+ \(quick_check: SQLITE_CORRUPT\): the lane does not use it\. Repair or replace it, then delete .*journal\.db\.damaged/,
        ),
      }),
    );
    // the operator repaired it (here: took responsibility) and deleted the note: it opens again
    rmSync(join(jd.dir(), DAMAGED_FILE));
    expect(jd.open({ integrityCheck: false }).lastSeq()).toBe(300);
  });

  it("a whole journal: ok, and nothing changes", async () => {
    const j = jd.open({ checkpointIntervalMs: 0 });
    j.commit(sampleRecord(1));
    expect(await j.upkeep.integrity).toMatchObject({ kind: "ok" });
    expect(j.healthy).toBe(true);
    expect(existsSync(join(jd.dir(), DAMAGED_FILE))).toBe(false);
  });
});

describe("a read on the lane's handle that meets the damage is the journal's failure", () => {
  it("pending() past the damaged page: E601 (damaged), unhealthy, the note written; reads that miss it still work", async () => {
    await damagedJournal();
    const j = jd.open({ integrityCheck: false, checkpointIntervalMs: 0 });
    expect(j.healthy).toBe(true); // nothing read the page yet
    expect(j.pending(10).map((p) => p.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(() => j.pending(500)).toThrow(
      expect.objectContaining({
        code: "E601_JOURNAL_WRITE",
        message: expect.stringMatching(
          /^journal pending failed \(SQLITE_CORRUPT\): database disk image is malformed/,
        ),
        details: expect.objectContaining({ damaged: true }),
      }),
    );
    expectDamaged(j);
    expect(JSON.parse(readFileSync(join(jd.dir(), DAMAGED_FILE), "utf8"))).toMatchObject({ op: "pending" });
    // the guard seeding reads the indexes only, and the commit is refused (the journal is unhealthy)
    expect(j.unsettledSince(0)).toHaveLength(30);
    expect(() => j.commit(sampleRecord(999))).toThrow(
      expect.objectContaining({ code: "E601_JOURNAL_WRITE" }),
    );
    expect(() => j.list()).toThrow(/journal list failed \(SQLITE_CORRUPT\)/);
  });

  it("an I/O error on a read: unhealthy but not damaged (no note), and recover() makes it healthy again", () => {
    const j = jd.open({ integrityCheck: false, checkpointIntervalMs: 0, recoverProbeMs: 0 });
    j.commit(sampleRecord(1));
    const st = j.outbox as unknown as { stmtPending: { all: (n: number) => unknown[] } };
    const real = st.stmtPending;
    st.stmtPending = {
      all: () => {
        throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR_READ" });
      },
    };
    expect(() => j.pending(10)).toThrow(/journal pending failed \(SQLITE_IOERR_READ\): disk I\/O error$/);
    expect(j.healthy).toBe(false);
    // a read's failure, named as such (the lane's status says "journal read failed", src/lane/lane-gate.ts)
    expect(j.health().error).toMatchObject({ sqliteCode: "SQLITE_IOERR_READ", op: "pending", read: true });
    expect(j.health().error?.damaged).toBeUndefined();
    expect(existsSync(join(jd.dir(), DAMAGED_FILE))).toBe(false);
    st.stmtPending = real; // the disk answers again
    expect(j.recover()).toBe(true);
    expect(j.pending(10).map((p) => p.seq)).toEqual([1]);
  });

  it("any other error of a read is the caller's, thrown as it is: the journal stays healthy", () => {
    const j = jd.open({ integrityCheck: false, checkpointIntervalMs: 0 });
    const st = j.outbox as unknown as { stmtPending: { all: (n: number) => unknown[] } };
    st.stmtPending = {
      all: () => {
        throw Object.assign(new Error("datatype mismatch"), { code: "SQLITE_MISMATCH" });
      },
    };
    expect(() => j.pending(10)).toThrow(/^datatype mismatch$/);
    expect(j.healthy).toBe(true);
  });
});

describe("retention and the audit spool's writes go the journal's failure path too", () => {
  const DAY_MS = 86_400_000;

  /** 300 transactions acknowledged 200 days ago (all due for retention), then a leaf page of `records` damaged. */
  async function oldAckedDamaged(): Promise<void> {
    const then = new Date(Date.now() - 200 * DAY_MS);
    const j = jd.open({ integrityCheck: false, checkpointIntervalMs: 0, now: () => then });
    const recs = j.commitMany(Array.from({ length: 300 }, (_, i) => sampleRecord(i)));
    j.markUploaded(
      recs.map((r) => ({ tradeId: r.tradeId, revision: 1 })),
      then,
    );
    await j.close();
    damagePage(jd.dir(), { table: "records", leaf: 20 });
  }

  it("a retention run that meets a damaged page: unhealthy for good, the note written, the next open refused", async () => {
    await oldAckedDamaged();
    const j = jd.open({ integrityCheck: false, checkpointIntervalMs: 0, recoverProbeMs: 0 });
    const health: boolean[] = [];
    j.health$.subscribe((h) => health.push(h.healthy));
    const r = await j.runRetention();
    expect(r.error).toMatchObject({
      code: "E601_JOURNAL_WRITE",
      message: expect.stringMatching(/^journal retention failed \(SQLITE_CORRUPT\)/),
    });
    expectDamaged(j);
    expect(health).toEqual([true, false]);
    expect(JSON.parse(readFileSync(join(jd.dir(), DAMAGED_FILE), "utf8"))).toMatchObject({
      op: "retention",
      sqliteCode: expect.stringMatching(/^SQLITE_CORRUPT/),
    });
    expect(() => j.commit(sampleRecord(999))).toThrow(
      expect.objectContaining({ code: "E601_JOURNAL_WRITE" }),
    );
    await j.close();
    expect(() => jd.open()).toThrow(expect.objectContaining({ code: "E602_JOURNAL_OPEN" }));
  });

  /** Makes the next run of `stmt` (a prepared statement of the lane's handle) fail with `code`. */
  function failNext(owner: object, key: string, method: "run" | "all", code: string): void {
    const o = owner as Record<string, Record<string, (...a: unknown[]) => unknown>>;
    const real = o[key]!;
    o[key] = new Proxy(real, {
      get(target, prop) {
        if (prop === method)
          return () => {
            o[key] = real;
            throw Object.assign(new Error(`injected ${code}`), { code });
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  }

  it("an I/O error inside a retention batch: unhealthy (not damaged, no note), nothing of the batch deleted, recover() makes it healthy", async () => {
    const then = new Date(Date.now() - 200 * DAY_MS);
    const j = jd.open({
      integrityCheck: false,
      checkpointIntervalMs: 0,
      recoverProbeMs: 0,
      now: () => then,
      retention: { batchBudgetMs: 0 },
    });
    const recs = [1, 2, 3].map((i) => j.commit(sampleRecord(i)));
    j.markUploaded(
      recs.map((r) => ({ tradeId: r.tradeId, revision: 1 })),
      then,
    );
    // the statements are prepared by the first batch: a run with nothing due prepares them
    expect((await j.runRetention(then)).deleted).toBe(0);
    const stmts = (j.upkeep as unknown as { stmts: object }).stmts;
    failNext(stmts, "delAck", "run", "SQLITE_IOERR_WRITE");
    const r = await j.runRetention(new Date());
    expect(r).toMatchObject({ deleted: 0, error: { code: "E601_JOURNAL_WRITE" } });
    expect(j.healthy).toBe(false);
    expect(j.health().error).toMatchObject({ sqliteCode: "SQLITE_IOERR_WRITE", op: "retention" });
    expect(j.health().error?.read).toBeUndefined();
    expect(j.health().error?.damaged).toBeUndefined();
    expect(existsSync(join(jd.dir(), DAMAGED_FILE))).toBe(false);
    expect(j.recover()).toBe(true);
    expect(j.list().map((x) => x.seq)).toEqual([1, 2, 3]);
    expect((await j.runRetention(new Date())).deleted).toBe(3);
  });

  it("an audit spool write (put, syncedUpTo, markBoundAt, setWitness) that fails turns the journal unhealthy; damage writes the note", () => {
    const j = jd.open({ integrityCheck: false, checkpointIntervalMs: 0, recoverProbeMs: 0 });
    const spool = j.auditSpool;
    failNext(spool, "insLine", "run", "SQLITE_IOERR_WRITE");
    expect(() => spool.put([{ seq: 1, line: "{}" }], { seq: 1, hash: "00" })).toThrow(
      expect.objectContaining({ code: "E601_JOURNAL_WRITE" }),
    );
    expect(j.health().error).toMatchObject({ sqliteCode: "SQLITE_IOERR_WRITE" });
    expect(j.recover()).toBe(true);
    failNext(spool, "delUpTo", "run", "SQLITE_IOERR_WRITE");
    expect(() => spool.syncedUpTo(1)).toThrow(expect.objectContaining({ code: "E601_JOURNAL_WRITE" }));
    expect(j.healthy).toBe(false);
    expect(j.recover()).toBe(true);
    failNext(spool, "setMeta", "run", "SQLITE_IOERR_WRITE");
    expect(() => spool.markBoundAt(1)).toThrow(expect.objectContaining({ code: "E601_JOURNAL_WRITE" }));
    expect(j.healthy).toBe(false);
    expect(j.recover()).toBe(true);
    failNext(spool, "setMeta", "run", "SQLITE_CORRUPT");
    expect(() =>
      spool.setWitness({
        state: "acknowledged",
        n: 1,
        to: 1,
        head: "00",
        hash: "00",
        at: new Date().toISOString(),
      }),
    ).toThrow(expect.objectContaining({ code: "E601_JOURNAL_WRITE" }));
    expectDamaged(j);
    expect(JSON.parse(readFileSync(join(jd.dir(), DAMAGED_FILE), "utf8"))).toMatchObject({
      op: "audit spool setWitness",
    });
  });
});
