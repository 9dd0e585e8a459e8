/**
 * Checkpoints: signed statements over the chain, and the lane's Ed25519 key's id and public form (the key
 * files in the data directory: ./lane-key.ts).
 *
 * A checkpoint statement names its number `n` (1, 2, 3... by sequence, never by wall-clock epochs), the
 * range of entries it covers (`from`..`to`, contiguous with the previous checkpoint's range), the chain's
 * hash at `to` (`head`), the hash of the previous checkpoint's statement (`prev`), the lane and the key
 * id. Binding every seal to its position this way is what journald's CVE-2023-31439 lacked (old entries
 * re-sealed with a newer key passed); a checkpoint is made on a timer even when nothing happened, so an
 * idle interval is sealed too (CVE-2023-31438). The statement is signed as fixed bytes (below), so the
 * station and `etc-lane audit verify` rebuild exactly what was signed from the fields.
 */
import { createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { EtcError } from "../../firmware-bridge/errors.js";
import { laneKey } from "../journal/trade-id.js";
import { GENESIS, sha256hex } from "./entry.js";
import { AuditErrorCodes } from "./errors.js";

export const CHECKPOINT_TYPE = "audit.checkpoint";
/** Domain separation: these bytes never mean anything else. */
const STATEMENT_PREFIX = "etc-lane audit checkpoint v1\n";
const HEX64 = /^[0-9a-f]{64}$/;

export const AUDIT_KEY_FILE = "audit-key.pem";
export const AUDIT_PUBLIC_KEY_FILE = "audit-key.pub.pem";

export interface CheckpointStatement {
  v: 1;
  /** network + station + lane, as in trade ids: "430101020" + "3" -> "4301010203" */
  lane: string;
  /** first 16 hex digits of the SHA-256 of the public key (SPKI DER) */
  keyId: string;
  n: number;
  from: number;
  to: number;
  /** the chain's hash at `to` */
  head: string;
  /** checkpointHash() of checkpoint n-1; 64 zeros for n = 1 */
  prev: string;
  /** UTC time the statement was made (data, not the key to anything) */
  time: string;
}

/** A statement with its Ed25519 signature (base64): what a checkpoint entry's `data` holds, and what the
 *  station receives. */
export interface SignedCheckpoint {
  checkpoint: CheckpointStatement;
  sig: string;
}

/** The exact bytes signed; throws a TypeError naming the field on anything malformed. */
export function statementBytes(s: CheckpointStatement): Buffer {
  const bad = statementProblem(s);
  if (bad) throw new TypeError(`checkpoint statement: ${bad}`);
  return Buffer.from(
    `${STATEMENT_PREFIX}{"v":1,"lane":"${s.lane}","keyId":"${s.keyId}","n":${s.n},"from":${s.from},"to":${s.to},` +
      `"head":"${s.head}","prev":"${s.prev}","time":"${s.time}"}`,
  );
}

/** Why a parsed statement is not well formed, or null. */
export function statementProblem(s: unknown): string | null {
  if (s === null || typeof s !== "object") return "not an object";
  const c = s as Record<string, unknown>;
  if (c.v !== 1) return "v is not 1";
  if (typeof c.lane !== "string" || !/^[0-9A-F]{8}\d{2}$/.test(c.lane)) return "lane is not 8 hex + 2 digits";
  if (typeof c.keyId !== "string" || !/^[0-9a-f]{16}$/.test(c.keyId)) return "keyId is not 16 hex digits";
  for (const k of ["n", "from", "to"] as const) {
    if (!Number.isSafeInteger(c[k]) || (c[k] as number) < 1) return `${k} is not a positive whole number`;
  }
  if ((c.to as number) < (c.from as number)) return "to is before from";
  if (typeof c.head !== "string" || !HEX64.test(c.head)) return "head is not a hash";
  if (typeof c.prev !== "string" || !HEX64.test(c.prev)) return "prev is not a hash";
  if (typeof c.time !== "string" || !/^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$/.test(c.time))
    return "time is not UTC ISO";
  return null;
}

/** The statement's own members only (one from elsewhere, e.g. a station's answer, may carry others). */
export function statementOnly(s: CheckpointStatement): CheckpointStatement {
  return {
    v: s.v,
    lane: s.lane,
    keyId: s.keyId,
    n: s.n,
    from: s.from,
    to: s.to,
    head: s.head,
    prev: s.prev,
    time: s.time,
  };
}

/** The checkpoint's identity: SHA-256 of its statement bytes. The next checkpoint names it as `prev`. */
export function checkpointHash(s: CheckpointStatement): string {
  return sha256hex(statementBytes(s));
}

export const NO_CHECKPOINT = { n: 0, to: 0, hash: GENESIS } as const;

/**
 * Signs on the calling thread (one Ed25519 signature): only for the one seal at open (src/audit/trail.ts
 * open), before the lane trades; every other checkpoint is signed with signStatement.
 */
export function signStatementNow(s: CheckpointStatement, key: KeyObject): string {
  return sign(null, statementBytes(s), key).toString("base64");
}

/** Signs off the calling thread: with a callback, Node runs Ed25519 signing in libuv's thread pool. */
export function signStatement(s: CheckpointStatement, key: KeyObject): Promise<string> {
  const bytes = statementBytes(s);
  return new Promise((resolve, reject) => {
    sign(null, bytes, key, (err, sig) => (err ? reject(err) : resolve(sig.toString("base64"))));
  });
}

export function verifyStatement(cp: SignedCheckpoint, key: KeyObject): boolean {
  try {
    return verify(null, statementBytes(cp.checkpoint), key, Buffer.from(cp.sig, "base64"));
  } catch {
    return false;
  }
}

const keyIds = new WeakMap<KeyObject, string>();

export function keyIdOf(publicKey: KeyObject): string {
  let id = keyIds.get(publicKey);
  if (id === undefined) {
    id = sha256hex(publicKey.export({ type: "spki", format: "der" })).slice(0, 16);
    keyIds.set(publicKey, id);
  }
  return id;
}

/** The lane id checkpoints name: src/journal/trade-id.ts laneKey, as trade ids and the station API have it. */
export function laneIdOf(lane: { network: string; station: string; lane: number }): string {
  return laneKey(lane);
}

/** A public key from PEM (SPKI) text; throws E623 naming the source when it is not an Ed25519 key. */
export function publicKeyFromPem(pem: string | Buffer, source: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPublicKey(pem);
  } catch (e) {
    throw new EtcError(
      AuditErrorCodes.AuditKey,
      `${source}: not a PEM public key (${(e as Error).message})`,
      {
        source,
      },
    );
  }
  if (k.asymmetricKeyType !== "ed25519")
    throw new EtcError(AuditErrorCodes.AuditKey, `${source}: not an Ed25519 key (${k.asymmetricKeyType})`, {
      source,
    });
  return k;
}
