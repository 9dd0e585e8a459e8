/**
 * What the lane's background verify (./background-verify.ts) writes into the trail it verifies
 * (docs/audit.md, "The lane verifies itself"): a `lane.alarm` with code `AUDIT_VERIFY_FAILED` and the
 * first problem when a result turns failed (from intact, or from no result since the lane started), and an
 * `audit.verify-ok` entry when a result turns intact again after a failed one. Once per change: a trail that
 * stays failed does not grow by an entry per run, and "when did the lane notice" is answered from the
 * trail (`etc-lane audit search --reason AUDIT_VERIFY_FAILED`).
 *
 * A run that could not run (it threw: ./background-verify.ts couldNotRun) is a verdict of its own, failed
 * but not a finding: a failed result after it (tampering found by the next run) is a change and writes its
 * alarm naming what was found, and so does a could-not-run result after a failed one.
 */
import { type AuditAppender, LaneEvents } from "./events.js";
import type { VerifySummary } from "./verify-worker.js";

export const VERIFY_FAILED_CODE = "AUDIT_VERIFY_FAILED";
export const VERIFY_OK_TYPE = "audit.verify-ok";

/** What VerifyResultEntries.note wrote: the alarm, the entry of an intact result again, or nothing. */
export type VerifyEntryWritten = "alarm" | "ok" | null;

/** The message of the alarm a failed verify raises (in the trail and on the page's feed). */
export function verifyFailedMessage(problem: string | null): string {
  return `audit verify failed: ${problem ?? "?"}`;
}

/** A result's verdict: intact, failed (verify's report names a problem), or could not run (it threw). */
export type VerifyVerdict = "intact" | "failed" | "could-not-run";

function verdictOf(s: VerifySummary): VerifyVerdict {
  return s.ok ? "intact" : s.couldNotRun ? "could-not-run" : "failed";
}

export class VerifyResultEntries {
  /** the last result's verdict; null: none since the lane started */
  private last: VerifyVerdict | null = null;
  private readonly events: LaneEvents;

  constructor(private readonly sink: AuditAppender) {
    this.events = new LaneEvents(sink);
  }

  /**
   * Writes the entry a change of verdict calls for. Returns what it wrote: "alarm" (the `lane.alarm`, which
   * reaches the page's feed as every alarm entry does), "ok", or null (no change: nothing written).
   */
  note(s: VerifySummary): VerifyEntryWritten {
    const was = this.last;
    const now = verdictOf(s);
    this.last = now;
    if (now === was) return null;
    if (now !== "intact") {
      this.events.alarm(VERIFY_FAILED_CODE, verifyFailedMessage(s.problem), { problem: s.problem });
      return "alarm";
    }
    if (was !== null) {
      this.sink.append({
        type: VERIFY_OK_TYPE,
        severity: "info",
        message: `audit verify intact again${s.range ? ` (seq ${s.range.from}..${s.range.to})` : ""}`,
        data: { range: s.range, entries: s.entries },
      });
      return "ok";
    }
    return null;
  }
}
