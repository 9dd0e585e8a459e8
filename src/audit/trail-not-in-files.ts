/**
 * The trail's newest entries that are not yet in its files, for `etc-lane audit search|export|tail`
 * (docs/audit.md, "Operator guide"): a record's line is built from its journal row after the commit, and
 * event lines wait in the spool until the file has them, so after a kill or a power cut, until the lane
 * starts again, the newest entries are only in journal.db. They are the lines `audit verify` reports as
 * "not yet in the file" (./verify-file-end.ts linesPastFileEnd: the same code), read without writing
 * anything, the spool, the head copy and the rows in one snapshot of the journal (as ./verify-lane.ts).
 */
import { JournalReader, journalAuditSchema } from "../journal/journal.js";
import type { AuditEntry } from "./entry.js";
import { readLegacySpool } from "./spool.js";
import { linesPastFileEnd, type PastLine } from "./verify-file-end.js";
import { readSpoolMeta } from "./verify-guards.js";

export interface NotInFiles {
  /** in seq order, following on from the files' last entry */
  lines: PastLine[];
  /** how many of them are journal records' lines built from their rows (the rest were spooled) */
  fromRows: number;
  /** where they were read: journal.db, or the legacy spool of a lane not yet started on this version */
  source: string;
}

/**
 * The entries after `last` (the files' last entry, as read) that the lane will append at its next start,
 * or that a running lane is about to write; none when there are none, or when the files hold no entry.
 * Throws when the journal cannot be read.
 */
export function entriesNotInFiles(dataDir: string, last: AuditEntry | null): NotInFiles {
  const none: NotInFiles = { lines: [], fromRows: 0, source: "journal.db" };
  if (last === null) return none;
  const end = { last, lastSeq: last.seq, head: last.hash };
  const schema = journalAuditSchema(dataDir);
  if (schema === null) return none;
  if (!schema.auditSeq || !schema.auditTail) {
    // a journal not bound yet: the spool is still audit/spool.db, and no row names an entry
    const spool = readLegacySpool(dataDir);
    const past = linesPastFileEnd(
      spool,
      spool ? spool.tail(last.seq + 1) : [],
      readSpoolMeta(spool).head,
      end,
    );
    return { ...past, source: "audit/spool.db" };
  }
  const reader = JournalReader.openReadOnly(dataDir, { anyVersion: true });
  try {
    return reader.snapshot(() => {
      const spool = reader.auditSpoolView();
      return {
        ...linesPastFileEnd(spool, spool.tail(last.seq + 1), readSpoolMeta(spool).head, end),
        source: "journal.db",
      };
    });
  } finally {
    reader.close();
  }
}
