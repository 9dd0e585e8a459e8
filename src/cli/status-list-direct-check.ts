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
 * - with it (the command's key is then the config's, ./commands/status-list.ts): a full list is still
 *   refused unless it is newer than the version that list holds (E506); an import without a lane never
 *   replaces a list by an older one, whichever key signed either. A running lane (and its uplink) replaces
 *   another key's list by any full list of its own key (docs/status-list.md section 3, "The key").
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { decodeHeader, HEADER_LEN, loadPublicKey } from "../status-list/bundle.js";
import { StatusListErrors, slError } from "../status-list/errors.js";
import { listDir, signedListOnDisk } from "../status-list/store.js";

export interface DirectImportKey {
  /** the PEM file of the key the import verifies with */
  path: string;
  /** whether the lane's config names that key (else it comes from --public-key alone) */
  fromLaneConfig: boolean;
}

/** Throws E504 or E506 (above) when the bundle in `file` must not replace the list in `dataDir`. */
export function checkAgainstListOnDisk(dataDir: string, file: string, key: DirectImportKey): void {
  const dir = listDir(dataDir);
  const onDisk = signedListOnDisk(dir);
  // no list: nothing to lose; a list that cannot be read: the list's own order (version-order.ts)
  if (onDisk.state !== "readable") return;
  let given: string;
  try {
    given = loadPublicKey(readFileSync(key.path, "utf8")).keyId.toString("hex");
  } catch {
    return; // the cache's open names the key file it cannot read
  }
  if (onDisk.keyId === given) return;
  const held = onDisk.delta === null ? `full ${onDisk.full}` : `delta ${onDisk.delta} on full ${onDisk.full}`;
  const details = { keyId: onDisk.keyId, given, full: onDisk.full, delta: onDisk.delta };
  if (!key.fromLaneConfig)
    throw slError(
      StatusListErrors.BadSignature,
      `the list in ${dir} (${held}) was signed by key ${onDisk.keyId}; this import was given key ${given} ` +
        `(--public-key ${key.path}): without the lane's config this command cannot tell which is the lane's key, ` +
        "and a list of the key it was given would replace that list: refused, the list kept; " +
        "give --config FILE (the lane's statusList.publicKey)",
      details,
    );
  const h = headerOf(file);
  if (h === null || h.kind !== "full") return; // refused by the list itself (a delta: E508, no list served)
  const holds = onDisk.delta ?? onDisk.full;
  if (h.version <= holds)
    throw slError(
      StatusListErrors.NotNewer,
      `full list ${h.version} is not newer than the list in ${dir} (${held}, signed by key ${onDisk.keyId}, ` +
        `not by the lane's key ${given}): refused, the list kept; an import without a running lane never ` +
        "replaces a list by an older one",
      { ...details, version: h.version, holds },
    );
}

/** The bundle's header, or null when it cannot be read or decoded (the apply then says why). */
function headerOf(file: string): ReturnType<typeof decodeHeader> | null {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return null;
  }
  try {
    const b = Buffer.alloc(HEADER_LEN);
    const n = readSync(fd, b, 0, HEADER_LEN, 0);
    return decodeHeader(b.subarray(0, n));
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
