/**
 * Two tables under one `version`: records carry the tariff's version string only (src/lane/obu-outcomes.ts,
 * src/booth/booth-records.ts), so a fee corrected in place without a new `version` gives records of two
 * tables the same name, which the station cannot tell apart. The lane keeps the version and SHA-256 of the
 * tariff loaded by each start that opened in the journal (lane setting `tariff.loaded`, src/journal/journal.ts
 * writeSetting: read in O(1) at start, where the trail's previous `tariff.loaded` entry would take a scan of
 * every entry since) and, when this start's tariff has the same version and other bytes, says so: a note
 * the run logs at warn, and the trail's `tariff.loaded` entry at warn naming the previous digest.
 */
import type { FileDigest } from "../file-digest.js";

/** The journal's lane setting that holds the tariff the last start loaded. */
export const TARIFF_SETTING = "tariff.loaded";

/** The tariff a start loaded, as the setting keeps it. */
export interface TariffSeen {
  version: string;
  path: string;
  sha256: string;
}

function parseSeen(text: string | null): TariffSeen | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<TariffSeen> | null;
    return typeof v?.version === "string" && typeof v.sha256 === "string"
      ? { version: v.version, path: typeof v.path === "string" ? v.path : "", sha256: v.sha256 }
      : null;
  } catch {
    return null; // not this module's JSON: nothing to compare with, overwritten once the lane has opened
  }
}

/**
 * What the previous start that opened kept of its tariff, against this start's (`file`, `version`):
 * `before`, that tariff when it had `version` and other bytes than `file`, else null (none kept: a journal
 * from before this check, or an entry lane's; the same bytes; another version); and `keep`, which keeps
 * this start's tariff for the next one. The lane calls `keep` only once it has opened
 * (src/lane/runtime.ts openLane): a start that fails after this comparison keeps nothing, so the next
 * start compares with the same tariff and says so again, where the note of the failed one (logged by
 * `run` once the lane has opened: src/cli/commands/run.ts) never reached the log. A journal that cannot
 * read or write the setting is left to the controller, which closes the lane on the journal's failure:
 * `onError` is told, and the lane starts.
 */
export function sameVersionOtherTable(
  journal: { readSetting(key: string): string | null; writeSetting(key: string, value: string | null): void },
  file: FileDigest,
  version: string,
  onError: (e: unknown) => void,
): { before: TariffSeen | null; keep: () => void } {
  let before: TariffSeen | null;
  try {
    before = parseSeen(journal.readSetting(TARIFF_SETTING));
  } catch (e) {
    onError(e); // a journal that cannot read: the controller closes the lane on it, this check says nothing
    return { before: null, keep: () => {} };
  }
  const now: TariffSeen = { version, path: file.path, sha256: file.sha256 };
  const kept = before?.version === version && before.sha256 === file.sha256;
  return {
    before: before !== null && before.version === version && before.sha256 !== file.sha256 ? before : null,
    keep: () => {
      if (kept) return;
      try {
        journal.writeSetting(TARIFF_SETTING, JSON.stringify(now));
      } catch (e) {
        onError(e);
      }
    },
  };
}

/** The note for a tariff loaded under the version of another table: `tariff: <why>`. */
export function sameVersionNote(file: FileDigest, version: string, before: TariffSeen): string {
  return (
    `${file.path}: version "${version}" is the version of the tariff the lane loaded before ` +
    `(${before.path || "path not kept"}, sha256 ${before.sha256.slice(0, 12)}), but this table's bytes differ ` +
    `(sha256 ${file.sha256.slice(0, 12)}): records of both name "${version}"; expected a new version for a changed table`
  );
}
