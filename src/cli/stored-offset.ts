/**
 * The UTC offset a stopped lane writes in, read from what it wrote, for a command acting for it without
 * its config (./direct-session.ts): the offset of the journal's newest record (`createdAt`, which only
 * the lane writes), else of the audit trail's newest entry, else null. The read commands take the lane's
 * offset the same way (`audit` from the trail, `transactions list` from the journal).
 */

import { lastEntries } from "../audit/search.js";
import { auditDir } from "../audit/segments.js";
import { offsetOf } from "../audit/time.js";
import type { JournalReader } from "../journal/journal.js";

export function storedLaneOffset(dataDir: string, reader: JournalReader): number | null {
  let fromJournal: number | null = null;
  try {
    const last = reader.get(reader.lastSeq());
    fromJournal = last ? offsetOf(last.createdAt) : null;
  } catch {
    // a journal of an older schema, migrated only when the action opens it: the trail says it too
  }
  if (fromJournal !== null) return fromJournal;
  const newest = lastEntries(auditDir(dataDir), 1)[0];
  return newest ? offsetOf(newest.entry.time) : null;
}
