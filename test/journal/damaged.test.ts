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
    expect(j.health().error).toMatchObject({ sqliteCode: "SQLITE_IOERR_READ" });
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
