/**
 * The trail opened on the journal that hosts its spool and bound to it (docs/audit.md, "Journal
 * binding"), in the one order that works: a legacy `audit/spool.db` moved into the journal first (the
 * trail reads the head copy and the spooled lines when it opens), then the trail opened on the journal's
 * spool with the journal's lowest bound seq as its retention floor, then, once per journal, the
 * `journal.bound` entry that fixes in the trail from which journal seq on rows are bound (`audit verify`
 * excuses a row without an audit seq only below it), then the journal bound to the trail (from then on
 * every commit, settlement and retention batch writes its entry in its own transaction).
 *
 * Whether the journal.bound entry was written is journal.db's marker (meta.audit_bound_entry), which
 * anyone who can write journal.db can delete. So when the marker is missing the kept segment files are
 * read first (./binding-mark.ts): a trail that states a binding already (its journal.bound entry, or an
 * audit.retention entry restating it after retention deleted that entry's file) gets no second one, and
 * the marker is put back.
 * The upload state is bound once per journal too: the records queued and held at that moment, stated in
 * the journal.bound entry (`uploads`), or, for a journal an earlier version bound, in an `uplink.bound`
 * entry of its own; from then on every move of the upload state (acknowledged, held, requeued) writes its
 * own entry (src/journal/outbox.ts), and `audit verify` holds journal.db's outbox, held and acks tables to
 * them (./verify-uploads.ts). Its marker (meta.audit_uploads_bound_entry) commits with the statement.
 * Last, a journal.db found behind the trail at the start (./recovery-journal-seqs.ts journalBehind:
 * restored from a backup or copied back) is refused: its last seq raised past what the trail committed,
 * and the journal unhealthy with its damage note, so the lane closes and its next start refuses the file
 * until an operator acts; it keeps first what a lane going on with it needs: the trail's unsettled
 * suspects it lacks, whose cards and OBUs it holds, and its open debit intents, which are not recovered
 * (docs/journal.md, "A journal behind the audit trail").
 * The lane (src/lane/runtime.ts) and the operator commands without a lane (src/cli/direct-session.ts) both
 * open it so.
 */
import { silentLogger } from "../../firmware-bridge/log.js";
import { findBindingMark } from "./binding-mark.js";
import type { AuditEventInput } from "./entry.js";
import { journalBoundEvent, type UploadsBound, uplinkBoundEvent } from "./events.js";
import type { BoundEntry, RecordBinding, RecordSlot } from "./records.js";
import { type AuditSpool, absorbLegacySpool } from "./spool.js";
import { AuditTrail, type AuditTrailOptions } from "./trail.js";
import type { TrailHeldIntent } from "./trail-held-intents.js";
import type { TrailOnlySuspect } from "./trail-only-suspects.js";

/** What the trail needs of the journal (src/journal/journal.ts Journal). */
export interface TrailHost {
  readonly auditSpool: AuditSpool;
  bindAudit(binder: {
    bindRecord<T>(b: RecordBinding, tx: (slot: RecordSlot) => T): T;
    recordsWritten(): Promise<void>;
    bindEvent<T>(ev: AuditEventInput, tx: (bound: BoundEntry) => T): T;
  }): void;
  /** false once the journal failed (a write, a flush, a damaged file): its rows are not to be trusted */
  readonly healthy: boolean;
  auditFloor(): number | null;
  /** the first journal seq bound to the trail, or null once the `journal.bound` entry is written */
  auditBoundFrom(): number | null;
  /**
   * stores that entry's line and head copy and that it was written (`uploads`: and that it states the
   * upload state), in one transaction
   */
  markAuditBound(bound: BoundEntry, uploads?: boolean): void;
  /** stores that the entry at `seq` was written (the marker only: the trail holds the entry already) */
  restoreAuditBoundMarker(seq: number): void;
  /** the queued and held records to state in the trail, or null once a statement of them is written */
  auditUploadsToBind(): UploadsBound | null;
  /** stores the `uplink.bound` entry's line and head copy and that it was written, in one transaction */
  markAuditUploadsBound(bound: BoundEntry): void;
  /**
   * journal.db is behind the trail (its last record seq `lastSeq` below the trail's newest commit,
   * `trailJseq`: ./recovery-journal-seqs.ts journalBehind): the journal keeps `suspects` (the trail's
   * unsettled suspects it lacks: ./trail-only-suspects.ts) and its open debit intents for the lane that
   * goes on with it, raises its last seq to `trailJseq` and refuses itself as a damaged journal is refused
   * (unhealthy now, its note refusing the next open); `heldIntents` (./trail-held-intents.ts): the
   * intents kept for the back office the trail names, each kept as an intent rebuilt from its alarm;
   * `trailSeq`: the trail's newest entry (each kept intent keeps the alarms after it from retention)
   */
  refuseBehindTrail(b: {
    lastSeq: number;
    trailJseq: number;
    trailSeq: number;
    suspects: readonly TrailOnlySuspect[];
    heldIntents?: readonly TrailHeldIntent[];
  }): void;
}

export function openJournalTrail(
  journal: TrailHost,
  opts: Omit<AuditTrailOptions, "spool" | "boundFloor">,
): AuditTrail {
  const log = opts.logger ?? silentLogger;
  absorbLegacySpool(opts.dataDir, journal.auditSpool, log);
  const trail = AuditTrail.open({
    ...opts,
    spool: journal.auditSpool,
    // an unhealthy journal's rows are not to be trusted to say which trail files they are bound to: a
    // deleted trail file cannot be brought back, so retention deletes nothing then (trail.ts runRetention)
    boundFloor: () => {
      if (!journal.healthy) throw new Error("the journal is not healthy");
      return journal.auditFloor();
    },
  });
  const boundFrom = journal.auditBoundFrom();
  const uploads = journal.auditUploadsToBind();
  let uploadsStated = false;
  if (boundFrom !== null) {
    const stated = findBindingMark(trail.dir);
    if (stated) {
      log.error(
        { boundFrom: stated.boundFrom, entry: stated.seq, journalSays: boundFrom },
        "audit: journal.db says the journal is not bound to the trail, but the trail bound it already; no second journal.bound entry is written (journal.db was changed or replaced?)",
      );
      journal.restoreAuditBoundMarker(stated.seq);
      trail.bindingMark = stated;
    } else {
      const seq = trail.bindEvent(
        journalBoundEvent({ boundFrom, ...(uploads ? { uploads } : {}) }),
        (bound) => {
          journal.markAuditBound(bound, uploads !== null);
          return bound.seq;
        },
      );
      trail.bindingMark = { boundFrom, seq };
      uploadsStated = uploads !== null;
    }
  }
  // a journal an earlier version bound: its upload state is stated now, in an entry of its own
  if (uploads !== null && !uploadsStated)
    trail.bindEvent(uplinkBoundEvent(uploads), (bound) => journal.markAuditUploadsBound(bound));
  journal.bindAudit(trail);
  // journal.db behind the trail (the start recorded audit.journal-behind): the lane does not trade on it
  // until an operator acts, and none of the seqs the trail holds is given out again
  const behind = trail.journalBehind;
  if (behind !== null)
    journal.refuseBehindTrail({
      lastSeq: behind.lastSeq,
      trailJseq: behind.newestCommit.jseq,
      trailSeq: trail.status().lastSeq,
      suspects: behind.suspects,
      heldIntents: behind.heldIntents,
    });
  return trail;
}
