/**
 * Two tables under one `version`: records carry the tariff's version string only (src/lane/obu-outcomes.ts,
 * src/booth/booth-records.ts), so a fee corrected in place without a new `version` gives records of two
 * tables the same name, which the station cannot tell apart. The lane keeps, for each of the last
 * TARIFFS_KEPT versions its starts that opened loaded, the SHA-256 of that version's latest table (lane
 * setting `tariff.loaded`, src/journal/journal.ts writeSetting: read in O(1) at start, where the trail's
 * earlier `tariff.loaded` entries would take a scan of every entry since) and, when this start's tariff has
 * a version kept there and other bytes, says so: a note the run logs at warn, and the trail's
 * `tariff.loaded` entry at warn naming the digest kept. A version loaded before another one is still known
 * (V, then W, then V corrected: the third start says so). The last one loaded is written at the top level
 * of the setting too, so an earlier build, which kept that one alone, still compares with it (`written`).
 */
import type { FileDigest } from "../file-digest.js";

/** The journal's lane setting that holds the tariffs the lane loaded, one per version. */
export const TARIFF_SETTING = "tariff.loaded";

/** How many versions the setting keeps (the least recently loaded is dropped first). */
export const TARIFFS_KEPT = 64;

/** The tariff a start loaded, as the setting keeps it. */
export interface TariffSeen {
  version: string;
  path: string;
  sha256: string;
}

/** An entry of the setting, or null when it is not one. */
function seenOf(v: unknown): TariffSeen | null {
  const o = v as Partial<TariffSeen> | null;
  return typeof o?.version === "string" && typeof o.sha256 === "string"
    ? { version: o.version, path: typeof o.path === "string" ? o.path : "", sha256: o.sha256 }
    : null;
}

/**
 * The tariffs the setting keeps, the least recently loaded first: its `tariffs` list when it has one (the
 * entry beside it at the top level is the list's last, written for an earlier build: see `written`), or
 * the one tariff an earlier build kept (`{ version, path, sha256 }`, the previous start's alone), so a lane
 * upgraded in place, or moved back to an earlier build and forward again, keeps that memory.
 */
function parseSeen(text: string | null): TariffSeen[] {
  if (text === null) return [];
  try {
    const v = JSON.parse(text) as { tariffs?: unknown } | null;
    if (Array.isArray(v?.tariffs)) return v.tariffs.map(seenOf).filter((t): t is TariffSeen => t !== null);
    const one = seenOf(v);
    return one === null ? [] : [one];
  } catch {
    return []; // not this module's JSON: nothing to compare with, overwritten once the lane has opened
  }
}

/**
 * The setting's value for `tariffs` (the least recently loaded first; never empty, its last is this
 * start's): the list, and its last's `version`, `path` and `sha256` at the top level too. A build from before the list
 * reads the top level alone (the previous start's tariff, `{ version, path, sha256 }`): going back to one
 * still compares with the last tariff loaded, where a value of the list alone would read as nothing kept.
 * Such a build, when its tariff is not the one at the top level, writes its own form over the whole value
 * (the list is lost then; parseSeen reads that value as one tariff kept).
 */
function written(tariffs: TariffSeen[]): string {
  const last = tariffs[tariffs.length - 1]!;
  return JSON.stringify({ version: last.version, path: last.path, sha256: last.sha256, tariffs });
}

/**
 * What the lane's starts that opened kept of the tariff of `version`, against this start's (`file`,
 * `version`): `before`, that version's latest table when its bytes differ from `file`'s, else null (none
 * kept: a journal from before this check, an entry lane's, a version not among the last TARIFFS_KEPT; the
 * same bytes); and `keep`, which keeps this start's tariff as its version's, the most recently loaded. The
 * lane calls `keep` only once it has opened (src/lane/runtime.ts openLane): a start that fails after this
 * comparison keeps nothing, so the next start compares with the same tariff and says so again, where the
 * note of the failed one (logged by `run` once the lane has opened: src/cli/commands/run.ts) never reached
 * the log. A journal that cannot read or write the setting is left to the controller, which closes the
 * lane on the journal's failure: `onError` is told, and the lane starts.
 */
export function sameVersionOtherTable(
  journal: { readSetting(key: string): string | null; writeSetting(key: string, value: string | null): void },
  file: FileDigest,
  version: string,
  onError: (e: unknown) => void,
): { before: TariffSeen | null; keep: () => void } {
  let text: string | null;
  try {
    text = journal.readSetting(TARIFF_SETTING);
  } catch (e) {
    onError(e); // a journal that cannot read: the controller closes the lane on it, this check says nothing
    return { before: null, keep: () => {} };
  }
  const seen = parseSeen(text);
  const now: TariffSeen = { version, path: file.path, sha256: file.sha256 };
  const same = seen.find((t) => t.version === version);
  const next = written([...seen.filter((t) => t.version !== version), now].slice(-TARIFFS_KEPT));
  return {
    before: same !== undefined && same.sha256 !== file.sha256 ? same : null,
    keep: () => {
      if (next === text) return; // this tariff was the last one kept, as it is
      try {
        journal.writeSetting(TARIFF_SETTING, next);
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
