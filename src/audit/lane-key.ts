/**
 * The lane's Ed25519 audit key in its data directory (docs/audit.md, "Keys"): `audit-key.pem` (PKCS#8,
 * mode 0600) and its public key `audit-key.pub.pem` (SPKI), created on the first start, loaded afterwards.
 *
 * Fails closed (E623) rather than start a second key beside the first: a new key would sign every later
 * checkpoint with a key that neither the public key staff keep, nor the station (which pins the key at the
 * first checkpoint it sees), nor `audit verify` knows, so the trail would never verify again and the
 * station would refuse every checkpoint, raising alarms that point at a rollback. So:
 * - `audit-key.pem` missing while `audit-key.pub.pem` is there, or while the trail holds a checkpoint (or
 *   the station's word on one), is refused, naming the missing file and the key id to restore;
 * - `audit-key.pem` whose public key is not `audit-key.pub.pem`'s is refused too (one of them was replaced),
 *   as is a key file that cannot be read (as before);
 * - `audit-key.pem` whose key id is not the one the trail's newest checkpoint names is refused, whether
 *   `audit-key.pub.pem` agrees with it (both replaced) or is missing (it is not written from a foreign key).
 *   That checkpoint's signature is not checked there (its line checks by a self-hash anyone can recompute),
 *   so the trail is looked back through for an older checkpoint signed with the loaded key: when there is
 *   one, the newest is named as not the lane's (forged or copied in) rather than the key pair as wrong.
 * A key is created only where nothing shows one existed: the data directory's first start.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import {
  AUDIT_KEY_FILE,
  AUDIT_PUBLIC_KEY_FILE,
  type CheckpointStatement,
  keyIdOf,
  publicKeyFromPem,
  verifyStatement,
} from "./checkpoint.js";
import { parseEntry } from "./entry.js";
import { AuditErrorCodes } from "./errors.js";
import { checkpointsBackwards, findLastCheckpoint } from "./recovery.js";
import { syncDirNow } from "./segment-writer.js";
import { listSegments } from "./segments.js";
import type { AuditSpool } from "./spool.js";

export interface LaneKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
  keyId: string;
}

/** Where the data directory shows that a lane key signed already, besides `audit-key.pub.pem`. */
export interface PriorKey {
  /** the key id it names, when it names one */
  keyId: string | null;
  where: string;
  /**
   * Where the trail holds an older checkpoint that names `publicKey`'s id and whose signature verifies with
   * it, newest first ("checkpoint #M (seq T)"); null when none. Asked only when `keyId` is another key's.
   */
  signedBefore?: (publicKey: KeyObject) => string | null;
}

/**
 * The newest checkpoint in the trail `dir` (its key id), else the station's word on one in the spool: a
 * key signed already. Read when `audit-key.pem` is missing (to refuse a new key) and when it is loaded (to
 * refuse one whose key id is not the newest checkpoint's).
 */
export function priorKeyInTrail(dir: string, spool: Pick<AuditSpool, "witness">): PriorKey | null {
  const cp = findLastCheckpoint(listSegments(dir));
  if (cp.n > 0 && cp.line !== null) {
    const s = (parseEntry(cp.line.trimEnd())?.data as { checkpoint?: CheckpointStatement } | undefined)
      ?.checkpoint;
    return {
      keyId: typeof s?.keyId === "string" ? s.keyId : null,
      where: `the trail's checkpoint #${cp.n} (seq ${cp.seq})`,
      signedBefore: (publicKey) => checkpointSignedWith(dir, publicKey),
    };
  }
  let n: number | null = null;
  try {
    n = spool.witness()?.n ?? null;
  } catch {
    n = null; // a witness record that is not JSON: audit verify names it
  }
  return n === null
    ? null
    : { keyId: null, where: `the station's word on checkpoint #${n} (journal.db meta.audit_witness)` };
}

/** The newest checkpoint in the trail `dir` that names `publicKey`'s id and is signed with it. */
function checkpointSignedWith(dir: string, publicKey: KeyObject): string | null {
  const keyId = keyIdOf(publicKey);
  for (const { cp, seq } of checkpointsBackwards(listSegments(dir)))
    if (cp.checkpoint.keyId === keyId && verifyStatement(cp, publicKey))
      return `checkpoint #${cp.checkpoint.n} (seq ${seq})`;
  return null;
}

function refuse(path: string, message: string): EtcError {
  return new EtcError(AuditErrorCodes.AuditKey, message, { path });
}

/**
 * The lane's key in `dataDir`: loaded, or created on the first start (nothing shows a key: no public key
 * file and `prior()` null). Throws E623 naming the file when the key is missing beside an older one,
 * does not match the public key beside it or the key id `prior()` names, or cannot be read.
 */
export function loadOrCreateLaneKey(dataDir: string, prior: () => PriorKey | null = () => null): LaneKey {
  const privPath = join(dataDir, AUDIT_KEY_FILE);
  const pubPath = join(dataDir, AUDIT_PUBLIC_KEY_FILE);
  // an empty file is what a power cut during its first write leaves (before its fsync below): absent. An
  // empty public key file is written again from the private key; an empty private key file is made again
  // only while nothing shows a key signed (below)
  const present = (path: string): boolean => existsSync(path) && statSync(path).size > 0;
  const besideId = present(pubPath) ? publicKeyIdIn(pubPath) : null;
  let privateKey: KeyObject;
  const loaded = present(privPath);
  if (loaded) privateKey = readPrivateKey(privPath);
  else {
    const shown: PriorKey | null = besideId !== null ? { keyId: besideId, where: pubPath } : prior();
    if (shown !== null)
      throw refuse(
        privPath,
        `audit key ${privPath} is missing, but ${shown.where} shows the lane's key` +
          `${shown.keyId ? ` (id ${shown.keyId})` : ""}: restore ${AUDIT_KEY_FILE} from its backup` +
          `${shown.keyId ? ` (the key of id ${shown.keyId})` : ""}. The lane does not start with a new key beside it: ` +
          "its checkpoints would verify with neither the public key kept for the lane nor the one the station pinned " +
          '(docs/audit.md, "Keys")',
      );
    privateKey = generateKeyPairSync("ed25519").privateKey;
    try {
      if (existsSync(privPath)) unlinkSync(privPath); // empty: the first start's write cut short
      writeSynced(privPath, privateKey.export({ type: "pkcs8", format: "pem" }), 0o600, "wx");
      try {
        chmodSync(privPath, 0o600);
      } catch (e) {
        // the refusal says the next start writes it again: so it must not find this one
        unlinkSync(privPath);
        throw e;
      }
    } catch (e) {
      throw refuse(privPath, notWritten(privPath, e));
    }
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  if (besideId !== null && besideId !== keyId)
    throw refuse(
      privPath,
      `audit key ${privPath} is key ${keyId}, but ${pubPath} holds key ${besideId}: one of them was replaced; ` +
        'put back the pair the trail\'s checkpoints are signed with (docs/audit.md, "Keys")',
    );
  // a key pair that agrees with itself is still refused when the trail's newest checkpoint names another
  // key: both files replaced, or the private key replaced with the public key file gone (which would
  // otherwise be written again from the foreign key). That checkpoint's signature is not checked (it names
  // the key), so an older checkpoint signed with this key tells a line that is not the lane's from a
  // replaced key pair: staff are not sent to put back a pair they have
  const signed = loaded ? prior() : null;
  if (signed?.keyId != null && signed.keyId !== keyId) {
    const before = signed.signedBefore?.(publicKey) ?? null;
    throw refuse(
      privPath,
      before !== null
        ? `audit key ${privPath} is key ${keyId}, but ${signed.where} names key ${signed.keyId}, while ` +
            `${before} before it is signed with this lane's key ${keyId}: that checkpoint line is not the lane's ` +
            "(forged or copied in); `etc-lane audit verify --key <the public key kept for the lane>` names it " +
            '(docs/audit.md, "Keys")'
        : `audit key ${privPath} is key ${keyId}, but ${signed.where} names key ${signed.keyId}: ` +
            'put back the pair the trail\'s checkpoints are signed with (docs/audit.md, "Keys")',
    );
  }
  if (besideId === null) {
    // a key loaded beside no public key: an earlier start wrote it and stopped before (or refused at) the
    // public key, so nothing says its fsync ran: it runs now, before the lane signs with it
    if (loaded) {
      try {
        fsyncFile(privPath);
      } catch (e) {
        throw refuse(privPath, notWritten(privPath, e, false));
      }
    }
    try {
      writeSynced(pubPath, publicKeyPem, 0o644, "w");
    } catch (e) {
      throw refuse(pubPath, notWritten(pubPath, e));
    }
  }
  // the files' names: a checkpoint signed with a key whose file a power cut took (or left empty) would
  // refuse every later start (E623, no backup of a key seconds old), while the trail's fdatasync and the
  // station already hold that checkpoint
  if (!loaded || besideId === null) syncDirNow(dataDir);
  return { privateKey, publicKey, publicKeyPem, keyId };
}

/**
 * Writes `data` to a new `path` and fsyncs it before it returns (the directory is the caller's). When the
 * write or the fsync fails the file is removed: after a failed fsync its bytes may never reach the disk
 * (Linux may mark the pages clean), and a file left behind would be loaded by the next start without one
 * (a power cut later could then take the key a checkpoint was signed with). Nothing was signed with it.
 */
function writeSynced(path: string, data: string | Buffer, mode: number, flag: "w" | "wx"): void {
  const fd = openSync(path, flag, mode);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // the refusal names the first error; an empty or partial file left counts as absent or is refused
    }
    throw e;
  }
  closeSync(fd);
}

/** fsync of an existing file. */
function fsyncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The refusal when a key file could not be written or fsynced: the write is named, not the key, which is
 * not at fault (`removed`: a file this start created, removed by writeSynced, which the next start writes
 * again; else the loaded key, which the next start fsyncs again).
 */
function notWritten(path: string, e: unknown, removed = true): string {
  return (
    `audit key ${path} could not be ${removed ? "written" : "fsynced"} (${(e as Error).message}); ` +
    (removed
      ? "nothing was signed with it, and the next start writes it again"
      : "the lane does not sign with a key not known to be on the disk; the next start tries again") +
    ' (docs/audit.md, "Keys")'
  );
}

function publicKeyIdIn(path: string): string {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    throw refuse(path, `audit key ${path}: ${(e as Error).message}`);
  }
  return keyIdOf(publicKeyFromPem(pem, path));
}

function readPrivateKey(path: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPrivateKey(readFileSync(path));
  } catch (e) {
    throw refuse(path, `audit key ${path}: ${(e as Error).message}`);
  }
  if (k.asymmetricKeyType !== "ed25519")
    throw refuse(path, `audit key ${path}: not an Ed25519 key (${k.asymmetricKeyType})`);
  return k;
}
