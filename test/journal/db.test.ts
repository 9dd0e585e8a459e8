import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
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
