/**
 * Sending the audit trail's checkpoints to the station, which witnesses them
 * (`POST /api/v1/lanes/{laneId}/audit-checkpoints`, docs/audit.md, "The station as witness"). The uplink sends them in order
 * when no upload is ready to go (no record queued, the uploads in their backoff, or the journal
 * unhealthy: src/uplink/uplink.ts step); what the station answers goes back to the outbox (src/audit/witness.ts
 * implements it): stored, refused with HTTP 409 (the station holds a checkpoint ours does not extend: a
 * rollback or a fork, and the lane raises AUDIT_ROLLBACK; or a station holding an older checkpoint of the
 * lane's own, set back, and the lane resends what follows it, an `audit.station-behind` entry and no
 * alarm), or refused otherwise (noted, asked again later). Only the numbers in `accepted` that lie within
 * the request's count (one above it would acknowledge checkpoints never sent); a 200 naming none of them
 * is such a refusal, asked again later and not at once. A 409 lists in `accepted` the checkpoints of
 * the request the station stored (or already held) before the one it refused: those are acknowledged
 * first, so that the refusal names the first one it did not take.
 * A station that cannot be reached is a link failure like any other.
 */
import { isEtcError } from "../../firmware-bridge/errors.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { StationClient } from "./station-client.js";

/** The trail's side. Checkpoints are opaque here: `{ checkpoint: { n, ... }, sig }`. */
export interface WitnessOutbox {
  /** something to send now (after a refusal, once its retry time has passed on a clock that never steps) */
  due(): boolean;
  batch(limit: number): { publicKeyPem: string; checkpoints: { checkpoint: { n: number } }[] };
  acknowledged(upToN: number): void;
  refused(current: unknown, message: string): void;
  failed(message: string): void;
  /** calls `listener` when a checkpoint is queued (the uplink wakes up for it); returns an unsubscribe */
  onQueued?(listener: () => void): () => void;
}

/** Checkpoints per request. */
export const CHECKPOINT_BATCH = 100;

/** One request; throws only when the station cannot be reached (E611). */
export async function sendCheckpoints(client: StationClient, outbox: WitnessOutbox): Promise<void> {
  const b = outbox.batch(CHECKPOINT_BATCH);
  if (b.checkpoints.length === 0) return;
  try {
    const r = await client.auditCheckpoints(b);
    // only what names a checkpoint of this request counts: a number below it acknowledges nothing new,
    // one above it would acknowledge checkpoints never sent
    const first = b.checkpoints[0]!.checkpoint.n;
    const last = b.checkpoints[b.checkpoints.length - 1]!.checkpoint.n;
    const ns = r.accepted.map((a) => a.n).filter((n) => n >= first && n <= last);
    if (ns.length > 0) outbox.acknowledged(Math.max(...ns));
    if (r.status === "conflict") outbox.refused(r.current, r.message);
    else if (ns.length === 0)
      // asked again after the outbox's wait, not at once (a 200 that takes none of them is no answer)
      outbox.failed(
        `station acknowledged none of the ${b.checkpoints.length} checkpoints sent (#${first}..#${last})`,
      );
  } catch (e) {
    if (isEtcError(e) && e.code === JournalErrorCodes.StationUnreachable) throw e;
    outbox.failed(e instanceof Error ? e.message : String(e));
  }
}
