/**
 * The UTC offset a stopped lane writes in, read from what it wrote, for a command acting for it without
 * its config (./direct-session.ts): the offset of the journal's newest record (`createdAt`, which only
 * the lane writes), else of the audit trail's newest entry, else null. The read commands take the lane's
 * offset the same way (`audit` from the trail, `transactions list` from the journal).
 */

import { lastEntries } from "../audit/search.js";
import { auditDir } from "../audit/segments.js";
import { offsetOf } from "../audit/time.js";
import { dialectFromConfig } from "../config/load.js";
import type { LaneConfig } from "../config/schema.js";
import { JournalReader } from "../journal/journal.js";
import { hasJournal } from "./data-dir-access.js";

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

/**
 * The lane's offset as a status-list command knows it (the list reads the station's versions at it:
 * docs/status-list.md section 3, "Clocks"): the config's (its RSU dialect), else the offset the stopped
 * lane wrote in (storedLaneOffset, its journal read-only), else null: not known, for a data directory no
 * lane has run in (or whose journal cannot be read), where the list reads versions at the widest offset.
 */
export function statusListOffset(dataDir: string, config: LaneConfig | null): number | null {
  if (config) return dialectFromConfig(config).utcOffsetMinutes;
  if (!hasJournal(dataDir)) return null;
  let reader: JournalReader;
  try {
    reader = JournalReader.openReadOnly(dataDir, { anyVersion: true });
  } catch {
    return null;
  }
  try {
    return storedLaneOffset(dataDir, reader);
  } catch {
    return null;
  } finally {
    reader.close();
  }
}
