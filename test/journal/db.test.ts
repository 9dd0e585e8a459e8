import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { JOURNAL_FILE, JournalReader } from "../../src/journal/journal.js";
import { writeV1Journal } from "./fixtures/journal-v1.js";
import { LANE, useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir();
const openJournal = jd.open;

describe("journal durability settings", () => {
  it("reads back WAL and synchronous=FULL on first open and on every reopen", () => {
    const j = openJournal();
    expect(j.durability()).toEqual({ journalMode: "wal", synchronous: 2 });
    j.commit(sampleRecord(1));
    j.close();
    // a plain better-sqlite3 reopen of a WAL database comes back at NORMAL (1): the journal must fix that
    const raw = new Database(join(jd.dir(), JOURNAL_FILE));
    const plain = Number(raw.pragma("synchronous", { simple: true }));
    raw.close();
    const j2 = openJournal();
    expect(j2.durability()).toEqual({ journalMode: "wal", synchronous: 2 });
    expect(plain).toBe(1); // the hazard the journal guards against
  });

  it("refuses a data directory that belongs to another lane", () => {
    openJournal().close();
    let err: unknown;
    try {
      openJournal({ laneIdentity: { ...LANE, lane: 4 } });
    } catch (e) {
      err = e;
    }
    expect(isEtcError(err, "E604_JOURNAL_IDENTITY")).toBe(true);
  });

  it("refuses an invalid lane identity", () => {
    expect(() => openJournal({ laneIdentity: { network: "43x1", station: "0102", lane: 3 } })).toThrow(
      /network/,
    );
  });
});

describe("schema migrations", () => {
  const t0 = Date.parse("2026-05-01T00:00:00Z");
  const v1 = () => {
    writeV1Journal(
      jd.dir(),
      [sampleRecord(1), sampleRecord(2, "suspect"), sampleRecord(3, "stop"), sampleRecord(4)],
      { startMs: t0, acked: [1], intents: [{ obuId: "A1000005", state: '{"phase":"await-b5"}' }] },
    );
  };

  it("a version 1 journal opens at version 4: revisions, OBU serials, guard rows, intents, the queue kept", () => {
    v1();
    const j = openJournal();
    expect(Number(j["h"].db.pragma("user_version", { simple: true }))).toBe(4);
    expect(j.list().map((r) => [r.seq, r.kind, r.revision])).toEqual([
      [1, "transaction", 1],
      [2, "suspect", 1],
      [3, "stop", 1],
      [4, "transaction", 1],
    ]);
    // the OBU serial column filled from each record's JSON: guard seeding needs no JSON
    expect(j.unsettledSince(t0)).toEqual([
      {
        seq: 2,
        obuId: "A1000002",
        obuSerial: sampleRecord(2).obuSerial,
        cardId: sampleRecord(2).cardId,
        createdAtMs: t0 + 60_000,
      },
    ]);
    expect(j.tradedSince(t0).map((g) => [g.seq, g.obuSerial])).toEqual([
      [1, sampleRecord(1).obuSerial],
      [4, sampleRecord(4).obuSerial],
    ]);
    expect(j.findOpenSuspect({ cardId: sampleRecord(2).cardId! })?.seq).toBe(2);
    // version 4: the suspect found by its OBU serial through records_suspect_obu_serial
    expect(j.openSuspectOf({ obuSerial: sampleRecord(2).obuSerial })).toBe(2);
    expect(j.openIntents().map((i) => [i.key, i.payload])).toEqual([["A1000005", '{"phase":"await-b5"}']]);
    expect(j.queueDepth()).toBe(3);
    expect(j.pending(10).map((p) => [p.seq, p.revision])).toEqual([
      [2, 1],
      [3, 1],
      [4, 1],
    ]);
    expect(j.commit(sampleRecord(5)).seq).toBe(5);
    j.close();
    // reopening a version 4 file changes nothing
    const again = openJournal();
    expect(again.list().map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("the read-only CLI handle refuses a version 1 file with what to do, and reads it once the lane migrated it", () => {
    v1();
    expect(() => JournalReader.openReadOnly(jd.dir())).toThrow(/schema version 1.*start the lane once/);
    openJournal().close();
    const r = JournalReader.openReadOnly(jd.dir());
    expect(r.list().map((x) => x.revision)).toEqual([1, 1, 1, 1]);
    r.close();
  });

  it("refuses a file written by newer software", () => {
    openJournal().close();
    const raw = new Database(join(jd.dir(), JOURNAL_FILE));
    raw.pragma("user_version = 5");
    raw.close();
    expect(() => openJournal()).toThrow(/schema version 5 is newer than this software \(4\)/);
  });
});
