/**
 * `audit verify`'s checks of the checkpoints, in chain order (docs/audit.md, "Checkpoints"): each one's
 * number follows the previous one's, its range continues the previous range and ends before its own seq
 * inside the entries since the previous checkpoint, the head it names is the chain's hash at that seq, it
 * names the previous checkpoint's hash, names the lane, and is signed with the key verify was given
 * (Ed25519). A trail that retention cut begins with an anchor: the checkpoint the deleted entries ended
 * with, whose lane and signature are checked and from which the chain goes on. The checkpoint the station
 * knows (the witness) must be the one in the trail, the anchor included; after the walk, the station's last
 * word against the trail's checkpoints (checkStationWord).
 */
import { type KeyObject, verify as verifySig } from "node:crypto";
import {
  type CheckpointStatement,
  checkpointHash,
  keyIdOf,
  type SignedCheckpoint,
  statementBytes,
  statementProblem,
} from "./checkpoint.js";
import { type AuditEntry, GENESIS } from "./entry.js";
import type { WitnessRecord } from "./spool.js";
import type { Problems } from "./verify-problems.js";

/** A checkpoint as the next one must name it. */
export interface Cp {
  n: number;
  to: number;
  hash: string;
}

export class CheckpointChain {
  /** the newest checkpoint so far; n 0: the chain's start (no checkpoint yet); null before the walk */
  last: Cp | null = null;
  /** checkpoints checked (the anchor included) */
  count = 0;
  /** the newest checkpoint's entry time */
  lastTime = "";
  /** the hash of the checkpoint numbered as the witness's, when the walk met it */
  witnessAt: string | null = null;
  readonly keyId: string | null;
  /** the hash of each entry since the previous checkpoint, by seq: what a checkpoint's head may name */
  private window = new Map<number, string>();

  constructor(
    private readonly key: KeyObject | null,
    /** the lane checkpoints must name; null: the first checkpoint's */
    private laneId: string | null,
    /** the station's last word (what it acknowledged or holds) */
    private readonly witness: WitnessRecord | null,
    /** signature results by key id + signature + statement (VerifyOptions.signatureCache) */
    private readonly sigCache: Map<string, boolean>,
    private readonly problems: Problems,
  ) {
    this.keyId = key ? keyIdOf(key) : null;
  }

  /** The first file starts the chain (no anchor): no checkpoint before it. */
  start(): void {
    this.last = { n: 0, to: 0, hash: GENESIS };
  }

  /** An entry of the chain, in order: a checkpoint after it may name it as its head. */
  entry(seq: number, hash: string): void {
    this.window.set(seq, hash);
  }

  /** The last checkpoint's `to`; 0 when none seals anything. */
  sealedTo(): number {
    const l = this.last;
    return l && l.n > 0 ? l.to : 0;
  }

  /**
   * The oldest kept file's first line, a checkpoint at the seq before the file's first (checked by the
   * caller): the chain goes on from it. Returns the seq it seals through.
   */
  anchor(e: AuditEntry, file: string): number {
    const cp = e.data as unknown as SignedCheckpoint;
    const bad = statementProblem(cp?.checkpoint);
    // a signature that is no string (missing, a number, an object) is named here, as check() names it: the
    // anchor's hash is only its own, so anyone can write one
    if (bad || typeof cp.sig !== "string")
      this.problems.stop(e.seq, file, 1, `the anchor checkpoint is malformed: ${bad ?? "no signature"}`);
    const s = cp.checkpoint;
    const where = `the anchor checkpoint #${s.n}`;
    if (this.laneId !== null && s.lane !== this.laneId)
      this.problems.stop(e.seq, file, 1, `${where} names lane ${s.lane}, not ${this.laneId}`);
    if (this.key && !this.sigOk(cp))
      this.problems.stop(e.seq, file, 1, `${where}: the signature does not verify with key ${this.keyId}`);
    const h = checkpointHash(s);
    this.witnessed(s.n, h, where, e.seq, file, 1);
    this.last = { n: s.n, to: s.to, hash: h };
    this.laneId ??= s.lane;
    this.sealed(e);
    return s.to;
  }

  /** A checkpoint entry met in the chain; returns the seq it seals through. */
  check(e: AuditEntry, file: string, lineNo: number): number {
    const stop = (what: string): never => this.problems.stop(e.seq, file, lineNo, what);
    const cp = e.data as unknown as SignedCheckpoint;
    const bad = statementProblem(cp?.checkpoint);
    if (bad || typeof cp.sig !== "string") stop(`checkpoint is malformed: ${bad ?? "no signature"}`);
    const s = cp.checkpoint as CheckpointStatement;
    const where = `checkpoint #${s.n}`;
    const lastCp = this.last;
    if (this.laneId === null) this.laneId = s.lane;
    else if (s.lane !== this.laneId) stop(`${where} names lane ${s.lane}, not ${this.laneId}`);
    if (lastCp !== null && s.n !== lastCp.n + 1)
      stop(`${where} follows checkpoint #${lastCp.n} (checkpoints missing, repeated or reordered)`);
    if (lastCp !== null && s.from !== lastCp.to + 1)
      stop(
        `${where} covers seq ${s.from}..${s.to}, which does not continue the previous range (..${lastCp.to})`,
      );
    if (lastCp !== null && s.prev !== lastCp.hash)
      stop(`${where} does not name checkpoint #${lastCp.n} as its predecessor`);
    if (lastCp === null && s.n === 1 && (s.from !== 1 || s.prev !== GENESIS))
      stop(`${where} is the first but does not start at seq 1`);
    if (s.to >= e.seq) stop(`${where} covers seq ..${s.to}, at or after its own seq`);
    const at = this.window.get(s.to);
    if (at === undefined)
      stop(`${where} covers seq ..${s.to}, outside the entries since the previous checkpoint`);
    if (at !== s.head)
      stop(`${where} names a head at seq ${s.to} that is not the chain's (entries before it were changed)`);
    if (this.key) {
      if (s.keyId !== this.keyId)
        stop(`${where} is signed with key ${s.keyId}; the key used to verify is ${this.keyId} (wrong key?)`);
      else if (!this.sigOk(cp)) stop(`${where}: the signature does not verify with key ${this.keyId}`);
    }
    const h = checkpointHash(s);
    this.witnessed(s.n, h, where, e.seq, file, lineNo);
    this.last = { n: s.n, to: s.to, hash: h };
    this.sealed(e);
    return s.to;
  }

  /**
   * Checkpoint `n` (hash `h`) met in the trail: when the station's last word names that number, its
   * checkpoint must be this one (by its hash, which covers every member of the statement, the lane's id
   * included).
   */
  private witnessed(n: number, h: string, where: string, seq: number, file: string, lineNo: number): void {
    const w = this.witness;
    if (!w || n !== w.n) return;
    this.witnessAt = h;
    if (h !== w.hash)
      this.problems.note(
        seq,
        file,
        lineNo,
        `${where} differs from the checkpoint #${w.n} the station ${w.state === "acknowledged" ? "acknowledged" : "holds"} ` +
          "(the trail was replaced or re-sealed after it)",
      );
  }

  private sealed(e: AuditEntry): void {
    this.lastTime = e.time;
    this.count++;
    this.window = new Map([[e.seq, e.hash]]);
  }

  /**
   * Whether `cp`'s signature verifies with the key; false, never a throw, on anything malformed (as
   * ./checkpoint.ts verifyStatement does): the walk rethrows what is not a Stop, and would name no record.
   */
  private sigOk(cp: SignedCheckpoint): boolean {
    try {
      const bytes = statementBytes(cp.checkpoint);
      const k = `${this.keyId}:${cp.sig}:${bytes.toString("latin1")}`;
      let ok = this.sigCache.get(k);
      if (ok === undefined) {
        ok = verifySig(null, bytes, this.key!, Buffer.from(cp.sig, "base64"));
        this.sigCache.set(k, ok);
      }
      return ok;
    } catch {
      return false;
    }
  }
}

/** The station's last word against the trail's checkpoints as the file walk left them (`last`). */
export function checkStationWord(
  witness: WitnessRecord | null,
  last: Cp | null,
  witnessAt: string | null,
  retainedFrom: number | null,
  problems: Problems,
): void {
  // a conflict the station reported; checkpoints ending before the one it knows (rolled back or truncated);
  // the one it knows (`witnessAt`: the hash of the trail's checkpoint of that number) missing from a trail
  // that reaches it (not deleted by retention, from `retainedFrom` on)
  if (!witness) return;
  if (witness.state === "conflict")
    problems.note(null, null, null, `the station refused this lane's checkpoints; it holds #${witness.n}`);
  if (last && last.n < witness.n)
    problems.note(
      null,
      null,
      null,
      `the station ${witness.state === "acknowledged" ? "acknowledged" : "holds"} checkpoint #${witness.n} but this trail's checkpoints end at #${last.n}: it was rolled back or truncated`,
    );
  if (
    witnessAt === null &&
    last &&
    last.n >= witness.n &&
    (retainedFrom === null || witness.to >= retainedFrom)
  )
    problems.note(
      null,
      null,
      null,
      `checkpoint #${witness.n}, which the station knows, is not in this trail`,
    );
}
