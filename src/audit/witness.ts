/**
 * The station as witness (docs/audit.md, "The station as witness"). Every checkpoint goes to the station
 * with the normal uplink, in order; the station keeps the last one per lane and refuses (HTTP 409, with
 * its own) one that does not extend it: number not last + 1, `prev` not the hash of its last, or a range
 * that does not continue the last one's. That is
 * the only check a local attacker cannot defeat: a data directory replaced by an older copy, or a trail
 * re-sealed with the lane's key, no longer extends what the station holds.
 *
 * This class is the uplink's view of the checkpoints (the `WitnessOutbox` of src/uplink): a queue of
 * checkpoints not yet acknowledged, rebuilt from the files at start, and what the station answered, kept
 * in the spool (the journal's meta) so that `audit verify` compares the trail with it too. The queue holds
 * at most `max` checkpoints, the oldest unsent ones; newer ones then stay in the segment files only and
 * are read from them again once the station has acknowledged what the queue held (none is ever dropped:
 * the station would refuse every checkpoint after a gap).
 */
import { type FileHandle, open } from "node:fs/promises";
import { setImmediate as nextTurn } from "node:timers/promises";
import {
  CHECKPOINT_TYPE,
  type CheckpointStatement,
  checkpointHash,
  type SignedCheckpoint,
  statementOnly,
  statementProblem,
} from "./checkpoint.js";
import { claimedEntry } from "./entry.js";
import type { LastCheckpoint } from "./recovery.js";
import { listSegments } from "./segments.js";
import type { AuditSpool, WitnessRecord } from "./spool.js";

const CHECKPOINT_MARK = '"type":"audit.checkpoint"';

/** The signed checkpoints in a segment file's bytes, in order (a torn last line, a malformed one: skipped). */
function* checkpointsIn(buf: Buffer): Generator<{ seq: number; cp: SignedCheckpoint }> {
  for (let at = buf.indexOf(CHECKPOINT_MARK); at >= 0; at = buf.indexOf(CHECKPOINT_MARK, at + 1)) {
    const end = buf.indexOf(10, at);
    if (end < 0) return; // a torn last line
    const e = claimedEntry(buf.toString("utf8", buf.lastIndexOf(10, at) + 1, end));
    at = end;
    const cp = e !== null && e.type === CHECKPOINT_TYPE ? (e.data as unknown as SignedCheckpoint) : null;
    if (!cp || statementProblem(cp.checkpoint) !== null || typeof cp.sig !== "string") continue;
    yield { seq: e!.seq, cp };
  }
}

/** How much of a segment file the witness reads at a time. */
export const WITNESS_CHUNK_BYTES = 64 * 1024;

/**
 * The signed checkpoints in the segment file at `path`, in order, as checkpointsIn gives them from the whole
 * file: read forward in chunks of at most `chunkBytes` in the thread pool (node:fs/promises), so each read is
 * a turn of the lane's event loop and its thread scans at most one chunk and the line that straddles it at a
 * time (as linesBackwardsChunks in ./segments.ts reads backwards). Only the file's size at open is read. A
 * file that cannot be opened or read (deleted by retention meanwhile) ends its checkpoints there.
 */
async function* checkpointsInFile(
  path: string,
  chunkBytes = WITNESS_CHUNK_BYTES,
): AsyncGenerator<{ seq: number; cp: SignedCheckpoint }> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch {
    return; // deleted by retention meanwhile
  }
  try {
    const size = (await fh.stat()).size;
    let pos = 0;
    // the start of a line that began in an earlier chunk
    let carry: Buffer = Buffer.alloc(0);
    while (pos < size) {
      const len = Math.min(chunkBytes, size - pos);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const data =
        carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      const nl = data.lastIndexOf(10);
      if (nl < 0) {
        carry = data;
        continue;
      }
      // whole lines only: bytes after the file's last newline (a torn last line) are never scanned
      yield* checkpointsIn(data.subarray(0, nl + 1));
      carry = Buffer.from(data.subarray(nl + 1));
    }
  } catch {
    return; // a read that failed: as a file that could not be read
  } finally {
    await fh.close();
  }
}

export interface CheckpointWitnessOptions {
  dir: string;
  spool: AuditSpool;
  publicKeyPem: string;
  /** wall clock, ms since the epoch: the times written into the witness record and the status */
  now: () => number;
  /**
   * a clock that never steps (ms): when to ask the station again after a refusal, so that a wall clock
   * stepped back (NTP, an RTC reset) does not hold the checkpoints back for as long as the step; default
   * performance.now()
   */
  monotonicNow?: () => number;
  /** queue bound; checkpoints past it wait in the segment files and are read again when the queue drains */
  max: number;
  /** false when the lane has no station: nothing is queued */
  enabled: boolean;
  /** the station refused our checkpoint: raise AUDIT_ROLLBACK (called once per distinct station answer) */
  onConflict: (message: string, data: Record<string, unknown>) => void;
  /**
   * the station refused our checkpoint holding an older one of this trail's own (its record set back):
   * taken as acknowledged there, what follows is sent again (./witness.ts refused)
   */
  onStationBehind?: (message: string, data: Record<string, unknown>) => void;
  /** at start: the trail does not contain what the station acknowledged */
  onBehind: (message: string, data: Record<string, unknown>) => void;
  /**
   * the last seq an fdatasync covers (what the files held at open counts as covered): reading the files,
   * at start or again past the queue bound, stops at a checkpoint after it (the trail adds that one once a
   * sync covers it), so the station never holds a checkpoint a power cut could take from the lane, and none
   * is queued twice; default: everything in the files
   */
  durableSeq?: () => number;
  /** after a 409, ask again this much later (an operator may have reset the station's record) */
  conflictRetryMs?: number;
  /** after another refusal (422, malformed answer), ask again this much later */
  failRetryMs?: number;
}

export interface WitnessStatus {
  queued: number;
  /** checkpoints past the queue bound, in the segment files only until the queue drains */
  onDisk: number;
  lastAcknowledged: { n: number; at: string } | null;
  conflict: { stationN: number; at: string } | null;
  lastError: string | null;
}

export class CheckpointWitness {
  private queue: SignedCheckpoint[] = [];
  /** on the monotonic clock */
  private retryAt = 0;
  /** checkpoints not queued because the queue was full: read from the files again when it drains */
  private spilled = 0;
  private lastConflictHash: string | null = null;
  /** the station's checkpoint last taken as "station behind": refused again before an acknowledgement, a conflict */
  private behindHash: string | null = null;
  private lastError: string | null = null;
  private record: WitnessRecord | null;
  private rebuilding = false;
  /** resolves when the checkpoints to send after a start have been read from the files */
  ready: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly o: CheckpointWitnessOptions) {
    this.record = o.spool.witness();
  }

  get publicKeyPem(): string {
    return this.o.publicKeyPem;
  }

  /**
   * At open: compares the trail with the station's last word and queues what the station has not
   * acknowledged, read forward from the file that holds the acknowledged checkpoint. The reading runs in
   * the background (files read in the thread pool in chunks, each scanned between event-loop turns), so a long
   * outage does not delay the lane's start; nothing is sent before it is done (`ready`).
   */
  recover(last: LastCheckpoint): Promise<void> {
    const w = this.record;
    if (w?.state === "conflict") this.lastConflictHash = w.hash;
    if (!this.o.enabled) return this.ready;
    if (w && w.state === "acknowledged" && w.n > last.n) {
      this.o.onBehind(
        `the station acknowledged checkpoint #${w.n} (seq ..${w.to}) but this trail's checkpoints end at #${last.n}: ` +
          "the trail was rolled back or truncated",
        { station: w, trail: { n: last.n, to: last.to, hash: last.hash } },
      );
      return this.ready;
    }
    this.rebuilding = true;
    // lines this process writes meanwhile are not read: the trail adds its checkpoints once synced
    this.ready = this.rebuild(w, this.o.durableSeq?.())
      .catch((e: unknown) => {
        this.lastError = `reading unacknowledged checkpoints: ${e instanceof Error ? e.message : String(e)}`;
      })
      .finally(() => {
        this.rebuilding = false;
        for (const l of this.listeners) l();
      });
    return this.ready;
  }

  private async rebuild(w: WitnessRecord | null, durableTo = Number.POSITIVE_INFINITY): Promise<void> {
    const segs = listSegments(this.o.dir);
    let start = 0;
    if (w) for (let i = 0; i < segs.length; i++) if (segs[i]!.firstSeq <= w.to) start = i;
    const found: SignedCheckpoint[] = [];
    let spilled = 0;
    let lastN = w?.n ?? 0;
    let checkedW = false;
    let parsed = 0;
    let past = false;
    for (const seg of segs.slice(start)) {
      if (past) break;
      for await (const { seq, cp } of checkpointsInFile(seg.path)) {
        const n = cp.checkpoint.n;
        if (seq > durableTo && n > lastN) {
          // no fdatasync covers it (nor any after it) yet: the trail adds each once one does
          past = true;
          break;
        }
        if (w?.state === "acknowledged" && n === w.n && !checkedW) {
          checkedW = true;
          const h = checkpointHash(cp.checkpoint);
          if (h !== w.hash)
            this.o.onBehind(
              `checkpoint #${n} in this trail differs from the one the station acknowledged: ` +
                "the trail was replaced or re-sealed",
              { station: w, trail: { n, hash: h } },
            );
        }
        if (n <= lastN) continue; // acknowledged, or an anchor repeating the previous file's last line
        lastN = n;
        // the oldest unsent first: past the bound, the rest stays in the files for the next reading
        if (found.length < this.o.max) found.push(cp);
        else spilled++;
        if (++parsed % 200 === 0) await nextTurn();
      }
    }
    // checkpoints queued while this ran are newer than every one found; after a full reading they stay in
    // the files (order: nothing newer is sent before what the files still hold)
    const newer = this.queue.filter((c) => c.checkpoint.n > lastN);
    this.queue = spilled > 0 ? found : [...found, ...newer];
    if (spilled > 0) spilled += newer.length;
    while (this.queue.length > this.o.max) {
      this.queue.pop();
      spilled++;
    }
    this.spilled += spilled;
  }

  /** The queue drained while checkpoints wait in the files: read them again (nothing is sent meanwhile). */
  private refill(): void {
    if (this.spilled === 0 || this.queue.length > 0 || this.rebuilding) return;
    const waiting = this.spilled;
    this.spilled = 0;
    this.rebuilding = true;
    this.ready = this.rebuild(this.record, this.o.durableSeq?.())
      .catch((e: unknown) => {
        // nothing was read: they still wait in the files, and the next due() reads them again
        this.spilled += waiting;
        this.lastError = `reading unacknowledged checkpoints: ${e instanceof Error ? e.message : String(e)}`;
      })
      .finally(() => {
        this.rebuilding = false;
        for (const l of this.listeners) l();
      });
  }

  add(cp: SignedCheckpoint): void {
    if (!this.o.enabled) return;
    // past the bound (or while older ones wait in the files) it waits in the files too
    if (this.spilled > 0 || this.queue.length >= this.o.max) this.spilled++;
    else this.queue.push(cp);
    if (this.lastConflictHash === null) this.retryAt = 0;
    for (const l of this.listeners) l();
  }

  /** `listener` runs when a checkpoint is queued (the uplink wakes up for it). */
  onQueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Is there something to send now? (Checkpoints waiting in the files are read again first.) */
  due(): boolean {
    this.refill();
    return !this.rebuilding && this.queue.length > 0 && this.mono() >= this.retryAt;
  }

  private mono(): number {
    return this.o.monotonicNow?.() ?? globalThis.performance.now();
  }

  /** The next checkpoints to send, oldest first. */
  batch(limit: number): { publicKeyPem: string; checkpoints: SignedCheckpoint[] } {
    return { publicKeyPem: this.o.publicKeyPem, checkpoints: this.queue.slice(0, limit) };
  }

  /** The station stored (or already had) every checkpoint up to `upToN`. */
  acknowledged(upToN: number): void {
    const acked = this.queue.filter((c) => c.checkpoint.n <= upToN);
    if (acked.length === 0) return;
    this.queue = this.queue.filter((c) => c.checkpoint.n > upToN);
    const s = acked[acked.length - 1]!.checkpoint;
    this.setRecord("acknowledged", s);
    this.lastConflictHash = null;
    this.behindHash = null;
    this.lastError = null;
    this.retryAt = 0;
    this.refill();
  }

  /**
   * HTTP 409: the station holds `current` (its last checkpoint for this lane), which ours does not extend.
   * When `current` is older than the checkpoint before our first queued one, the files are read for this
   * lane's own checkpoint of that number (in the background; nothing is sent meanwhile): the same statement
   * means the station is behind (its record set back, as by a restore from an older backup), and the lane
   * takes it as acknowledged and sends what follows it again (`onStationBehind`, not a rollback); otherwise,
   * and at once for any other answer, it is a conflict (`onConflict`: a fork, or the lane behind the station).
   */
  refused(current: unknown, message: string): void {
    const st = (current as { checkpoint?: unknown } | null)?.checkpoint;
    // only the statement's own members of the station's answer go into the trail and the spool
    const valid = statementProblem(st) === null ? statementOnly(st as CheckpointStatement) : null;
    const hash = valid ? checkpointHash(valid) : "unknown";
    const ours = this.queue[0]?.checkpoint;
    this.retryAt = this.mono() + (this.o.conflictRetryMs ?? 600_000);
    // the station's current right before ours would be extended by it: such a 409 is no station behind, and
    // one the lane took as behind already that is refused again (nothing acknowledged since) is a conflict
    if (valid && ours && valid.n < ours.n - 1 && hash !== this.behindHash && !this.rebuilding) {
      this.rebuilding = true;
      this.ready = this.stationBehind(valid, hash, ours, message)
        .catch((e: unknown) => {
          this.lastError = `reading this trail's checkpoint #${valid.n}: ${e instanceof Error ? e.message : String(e)}`;
          this.retryAt = this.mono() + (this.o.failRetryMs ?? 60_000);
        })
        .finally(() => {
          this.rebuilding = false;
          for (const l of this.listeners) l();
        });
      return;
    }
    this.conflict(valid, hash, ours, message);
  }

  private conflict(
    valid: CheckpointStatement | null,
    hash: string,
    ours: CheckpointStatement | undefined,
    message: string,
  ): void {
    if (valid) this.setRecord("conflict", valid);
    if (hash !== this.lastConflictHash) {
      this.lastConflictHash = hash;
      this.o.onConflict(
        `the station refused checkpoint #${ours?.n ?? "?"}: it holds #${valid?.n ?? "?"} for this lane, which ours ` +
          `does not extend (a rolled-back data directory or a re-sealed trail): ${message}`,
        {
          ours: ours ? { n: ours.n, from: ours.from, to: ours.to, prev: ours.prev } : null,
          station: valid,
          stationHash: hash,
          message,
        },
      );
    }
  }

  /**
   * The station holds `valid` (#k), older than the checkpoint before `ours`: if this trail's own #k is the
   * same statement, the station is behind. Then #k counts as acknowledged and the queue is read again from
   * the files from #k + 1 (as a start after a conflict does), and `onStationBehind` tells the trail; else a
   * conflict, as before.
   */
  private async stationBehind(
    valid: CheckpointStatement,
    hash: string,
    ours: CheckpointStatement,
    message: string,
  ): Promise<void> {
    const own = await this.ownCheckpointHash(valid.n, valid.to);
    if (own !== hash) {
      this.conflict(valid, hash, ours, message);
      return;
    }
    const before = this.record;
    this.behindHash = hash;
    this.lastConflictHash = null;
    this.lastError = null;
    this.setRecord("acknowledged", valid);
    const waiting = this.spilled;
    this.spilled = 0; // the reading counts again what waits in the files
    try {
      await this.rebuild(this.record, this.o.durableSeq?.());
    } catch (e) {
      this.spilled += waiting;
      throw e;
    }
    this.retryAt = 0;
    const was = before?.state === "acknowledged" ? `, though it acknowledged #${before.n} before` : "";
    this.o.onStationBehind?.(
      `the station holds checkpoint #${valid.n} for this lane, this trail's own (the same statement)${was}: ` +
        `its record was set back (restored from an older backup?); checkpoints from #${valid.n + 1} on are sent again. ` +
        `The station's answer to #${ours.n}: ${message}`,
      {
        ours: { n: ours.n, from: ours.from, to: ours.to, prev: ours.prev },
        station: valid,
        stationHash: hash,
        acknowledgedBefore: before?.state === "acknowledged" ? { n: before.n, hash: before.hash } : null,
        message,
      },
    );
  }

  /** The hash of this trail's checkpoint #n (its range ending at `to`), read from the files; null: not there. */
  private async ownCheckpointHash(n: number, to: number): Promise<string | null> {
    const segs = listSegments(this.o.dir);
    let start = 0;
    for (let i = 0; i < segs.length; i++) if (segs[i]!.firstSeq <= to) start = i;
    for (const seg of segs.slice(start)) {
      for await (const { cp } of checkpointsInFile(seg.path)) {
        if (cp.checkpoint.n === n) return checkpointHash(cp.checkpoint);
        if (cp.checkpoint.n > n) return null;
      }
    }
    return null;
  }

  /** Any other refusal: note it and ask again later; the uplink's records are not held up. */
  failed(message: string): void {
    this.lastError = message;
    this.retryAt = this.mono() + (this.o.failRetryMs ?? 60_000);
  }

  status(): WitnessStatus {
    const r = this.record;
    return {
      queued: this.queue.length,
      onDisk: this.spilled,
      lastAcknowledged: r && r.state === "acknowledged" ? { n: r.n, at: r.at } : null,
      conflict: r && r.state === "conflict" ? { stationN: r.n, at: r.at } : null,
      lastError: this.lastError,
    };
  }

  private setRecord(state: WitnessRecord["state"], s: CheckpointStatement): void {
    const rec: WitnessRecord = {
      state,
      n: s.n,
      to: s.to,
      head: s.head,
      hash: checkpointHash(s),
      at: new Date(this.o.now()).toISOString(),
    };
    this.record = rec;
    try {
      this.o.spool.setWitness(rec);
    } catch {
      // kept in memory; written with the next acknowledgement
    }
  }
}
