/**
 * An upload batch and what the station answered about it (docs/station-api.md "Upload transactions"):
 * the records it acknowledges marked uploaded at the revision sent, those it refuses held for an operator
 * (E613, an `uplink.records-held` alarm), the acknowledgement counters. What goes next and what a failure
 * does is the uplink's (./uplink.ts) and the batch sizer's (./batch-sizer.ts).
 */
import { EtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { heldHow } from "../audit/events.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { HoldItem, Outbox } from "../journal/outbox.js";
import type { PendingRecord } from "../journal/types.js";
import { type AuditSink, appendSafe } from "./audit-sink.js";
import type { QueueAgeWatch } from "./queue-age.js";
import type { StationClient } from "./station-client.js";
import type { UplinkStatusBoard } from "./uplink-status.js";

/**
 * The outbox failed: it could not be read (a damaged journal, an I/O error), or it could not record what
 * the station answered. The journal's failure, not the station's: no E611, nothing for the breaker.
 */
export class OutboxFailed extends Error {
  constructor(
    readonly op: string,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}

export interface RecordUploadDeps {
  client: Pick<StationClient, "upload">;
  outbox: Outbox;
  /** the counters and the E613 of a hold */
  board: Pick<UplinkStatusBoard, "counters" | "held">;
  /** told which records left the queue */
  queueAge: Pick<QueueAgeWatch, "leftQueue">;
  /** the wall clock, for the times recorded */
  now: () => number;
  log: Logger;
  audit?: AuditSink;
}

export class RecordUpload {
  constructor(private readonly d: RecordUploadDeps) {}

  /**
   * Uploads `batch` and records what the station answered: the records it names in `accepted` marked
   * uploaded (each for the revision sent), those it names in `rejected` held (hold). Throws the station's
   * failure, E612 when the answer names none of the batch, OutboxFailed when the outbox could not record
   * the answer.
   */
  async upload(batch: readonly PendingRecord[]): Promise<void> {
    const res = await this.d.client.upload(batch);
    this.d.board.counters.batches++;
    this.d.board.counters.bytesSent += res.bytes;
    // each acknowledgement is for the revision this batch carried (a record settled meanwhile stays queued)
    const sent = new Map(batch.map((r) => [r.tradeId, r.revision]));
    const acked = res.accepted
      .filter((a) => sent.has(a.tradeId))
      .map((a) => ({ tradeId: a.tradeId, revision: sent.get(a.tradeId)! }));
    // the acknowledgement's audit entry follows the records' own: let their lines land first (built off
    // the lane thread, within about TAKE_EVERY_MS, at most about LATE_MS + TAKE_EVERY_MS in
    // src/audit/record-queue.ts), so that the entry does not make the lane thread build them. A crash
    // meanwhile loses only this answer: the batch is sent again and the station answers duplicate.
    if (acked.length > 0 || res.rejected.length > 0) await this.d.outbox.recordsWritten?.();
    // the station's answer is durable at the station; record it durably here before anything else
    const n =
      acked.length > 0
        ? this.fromOutbox("markUploaded", () => this.d.outbox.markUploaded(acked, new Date(this.d.now())))
        : 0;
    this.d.board.counters.recordsAcked += n;
    this.d.board.counters.duplicatesAcked += res.accepted.filter((a) => a.status === "duplicate").length;
    this.d.board.counters.updatesAcked += res.accepted.filter((a) => a.status === "updated").length;
    const ackedIds = new Set(acked.map((a) => a.tradeId));
    const refused = res.rejected.filter(
      (r) => r.tradeId !== null && sent.has(r.tradeId) && !ackedIds.has(r.tradeId),
    );
    if (refused.length > 0) {
      // keep the queue moving: the refused records are held (kept, never pruned) for an operator
      // each refusal is of the revision this batch carried: a record settled meanwhile stays queued
      this.hold(
        refused.map((r) => ({
          tradeId: r.tradeId!,
          code: r.code,
          message: r.message ?? "",
          revision: sent.get(r.tradeId!)!,
        })),
      );
    }
    // only the records that left the queue: one the station did not name is still queued, and so still
    // the head the queue's age watches (a station that keeps storing the rest never hides it)
    const refusedIds = new Set(refused.map((r) => r.tradeId));
    const left = batch.filter((r) => ackedIds.has(r.tradeId) || refusedIds.has(r.tradeId));
    if (left.length > 0) this.d.queueAge.leftQueue(left);
    if (acked.length === 0 && refused.length === 0) {
      throw new EtcError(
        JournalErrorCodes.StationProtocol,
        `station acknowledged none of ${batch.length} records`,
      );
    }
  }

  /**
   * Holds records the station refused, or failed on alone (HTTP_500, TIMEOUT: ./uplink.ts batchFailed),
   * kept, never pruned, out of the queue until an operator requeues them: E613 as the last error, logged,
   * and an `uplink.records-held` alarm, each worded by the codes (heldHow). Returns how many were held:
   * none when each refused revision has been replaced meanwhile (a settlement; the new one goes next).
   */
  hold(items: HoldItem[]): number {
    const held = this.fromOutbox("hold", () => this.d.outbox.hold(items, new Date(this.d.now())));
    this.d.board.counters.rejected += held;
    const first = items[0]!;
    const how = heldHow(items.map((r) => r.code));
    if (held === 0) {
      this.d.log.warn(
        { refused: items.slice(0, 10) },
        `station ${how} revisions the records have since replaced: nothing held`,
      );
      return 0;
    }
    this.d.board.held(
      `station ${how} ${items.length} record(s), first ${first.tradeId}: ${first.code} ${first.message}`,
    );
    this.d.log.error({ refused: items.slice(0, 10), held }, `station ${how} records: held out of the queue`);
    // a journal bound to the trail wrote the entry in the hold's own transaction, naming the seqs it held
    if (!this.d.outbox.bindsAudit)
      appendSafe(this.d.audit, this.d.log, {
        type: "uplink.records-held",
        severity: "alarm",
        message: `station ${how} ${items.length} record(s); held for an operator (first ${first.tradeId}: ${first.code})`,
        data: {
          tradeIds: items.slice(0, 50).map((r) => r.tradeId),
          codes: [...new Set(items.map((r) => r.code))],
        },
      });
    return held;
  }

  /** An outbox read or write; its failure is the journal's, not the station's. */
  private fromOutbox<T>(op: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw new OutboxFailed(op, e);
    }
  }
}
