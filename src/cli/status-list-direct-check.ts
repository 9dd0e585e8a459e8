/**
 * What `etc-lane status-list import` without a running lane (./status-list-direct.ts) checks against the
 * list already in the data directory before it applies a bundle, under the data-directory lock, beyond
 * what the list itself checks (src/status-list/version-order.ts).
 *
 * The cache the command opens trusts the command's key (`--public-key`, else the config's). To it a list
 * another key signed is no list (src/status-list/store.ts listOnDisk): any full list of the command's key
 * would replace it, whatever its version, and the replaced list's files would be deleted
 * (src/status-list/lifecycle.ts activate). That is the lane's rule for its own key; a command given
 * another key must not use it. The data directory records the id of the key that signed its list
 * (`meta.key_id`), so, when that is not the command's key:
 * - without the lane's config the command cannot tell which of the two keys is the lane's: refused
 *   (E504), naming both key ids;
 * - with it (the command's key is then the config's, ./commands/status-list.ts): the lane's rule applies, as
 *   it does for an import through the running lane: the lane never serves that list, so any full list of
 *   its key replaces it, whatever version either claims (a bundle dated far ahead is still refused, E509);
 *   a stricter rule here would leave a lane whose directory holds a mistaken list to start with none.
 *   A delta is refused by the list itself (E508: no list of the lane's key). The list is returned, for the
 *   command to say, once a full list has replaced it, which list it replaced (replacedListLine).
 *
 * The command opens the list saying itself why a list on disk is not served (StatusListOpenOptions
 * reportsNotServed, src/status-list/cache.ts): in the line naming the list a full list replaced
 * (replacedListLine, notServedReplacedLine); the refusal of an older full list says it itself
 * (src/status-list/apply-change.ts withNotServedReason).
 */
import { readFileSync } from "node:fs";
import { loadPublicKey } from "../status-list/bundle.js";
import { StatusListErrors, slError } from "../status-list/errors.js";
import { listDir, signedListOnDisk } from "../status-list/store.js";

export interface DirectImportKey {
  /** the PEM file of the key the import verifies with */
  path: string;
  /** whether the lane's config names that key (else it comes from --public-key alone) */
  fromLaneConfig: boolean;
}

/** A list in the data directory signed by another key than the import's (the config's). */
export interface ListOfAnotherKey {
  /** the list's directory (src/status-list/store.ts listDir) */
  dir: string;
  /** "full V" or "delta D on full V" */
  held: string;
  /** the id of the key that signed it */
  keyId: string;
  /** the id of the import's key */
  given: string;
}

/**
 * Throws E504 (above) when a bundle must not replace the list in `dataDir`; returns the list another key
 * signed that a full list of the config's key will replace (null when the list on disk is of the import's
 * key, or there is none, or it cannot be read).
 */
export function checkAgainstListOnDisk(dataDir: string, key: DirectImportKey): ListOfAnotherKey | null {
  const dir = listDir(dataDir);
  const onDisk = signedListOnDisk(dir);
  // no list: nothing to lose; a list that cannot be read: the list's own order (version-order.ts)
  if (onDisk.state !== "readable") return null;
  let given: string;
  try {
    given = loadPublicKey(readFileSync(key.path, "utf8")).keyId.toString("hex");
  } catch {
    return null; // the cache's open names the key file it cannot read
  }
  if (onDisk.keyId === given) return null;
  const held = onDisk.delta === null ? `full ${onDisk.full}` : `delta ${onDisk.delta} on full ${onDisk.full}`;
  // the lane's rule (above): the config names the key the lane trusts
  if (key.fromLaneConfig) return { dir, held, keyId: onDisk.keyId, given };
  throw slError(
    StatusListErrors.BadSignature,
    `the list in ${dir} (${held}) was signed by key ${onDisk.keyId}; this import was given key ${given} ` +
      `(--public-key ${key.path}): without the lane's config this command cannot tell which is the lane's key, ` +
      "and a list of the key it was given would replace that list: refused, the list kept; " +
      "give --config FILE (the lane's statusList.publicKey)",
    { keyId: onDisk.keyId, given, full: onDisk.full, delta: onDisk.delta },
  );
}

/** The line the import prints once a full list of the config's key has replaced `list`. */
export function replacedListLine(list: ListOfAnotherKey, full: string): string {
  return (
    `etc-lane: the list in ${list.dir} (${list.held}) signed by key ${list.keyId}, not the config's key ` +
    `${list.given}, is replaced by full ${full}\n`
  );
}

/**
 * The line the import prints once a full list has replaced a list the lane did not serve (its database
 * damaged or missing, or it could not be opened): `notServed` says why (StatusListCache.notServed).
 */
export function notServedReplacedLine(notServed: string, full: string): string {
  return `etc-lane: the list the lane did not serve is replaced by full ${full}: ${notServed}\n`;
}
