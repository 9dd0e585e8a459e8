/**
 * The operator's "run retention now" (LaneOperator.runRetention; the control socket's `journal.retention`,
 * `etc-lane journal retention --now`): the journal's retention, then the audit trail's, and one result
 * that says what each part did. The running lane runs both (./runtime-operator.ts); without a running lane the
 * CLI runs the journal's only (src/cli/stopped-lane-operator.ts).
 *
 * The order and the guard: audit retention keeps every segment file holding an entry a kept journal row
 * is bound to, a floor it reads from the journal (docs/audit.md, "Rotation and retention";
 * src/audit/retention.ts). It runs after the journal's, whose deletions raise that floor, and only when
 * the journal's completed: a journal run that stopped with an error (an unhealthy journal, a batch that
 * failed: docs/journal.md, "Retention and the other upkeep") leaves a journal whose floor is not to be
 * trusted, and a deleted trail file cannot be brought back, so the trail deletes nothing then (its own
 * hourly run tries again).
 *
 * A side file of damaged bytes the trail could not delete is named in the answer, by its path, for the
 * operator to remove by hand: the hourly run only logs it (once). The answer asks the trail after its own
 * run (src/audit/trail.ts `sideFilesLeft()`), not only that run's result: a run with nothing due resolves
 * null yet still tries the files an earlier run (the hourly one) left, and one it then leaves is named too,
 * whether or not the run deleted anything, also when it failed.
 */
import { join } from "node:path";
import type { RetentionResult } from "../audit/retention.js";
import type { RetentionReport } from "../journal/upkeep.js";
import type { OperatorResult } from "./lane-view.js";

export interface RetentionParts {
  journal: { runRetention(): Promise<Pick<RetentionReport, "deleted" | "cutoff" | "error">> };
  /** the trail's retention (AuditTrail.runRetention) and its directory, or why it is not run here */
  audit:
    | {
        readonly dir: string;
        runRetention(): Promise<Pick<RetentionResult, "files" | "deletedThrough"> | null>;
        /** the side files still left after the latest try (AuditTrail.sideFilesLeft), file names */
        sideFilesLeft(): readonly string[];
      }
    | { notRun: string };
}

/** What the trail's part did, in the result's `data.audit`. */
type AuditPart =
  | {
      ok: true;
      ran: true;
      filesDeleted: number;
      deletedThrough?: number;
      /** the paths of the side files still left after the run (this run's or an earlier's); only when there is one */
      sideFilesLeft?: string[];
    }
  | { ok: boolean; ran: false; filesDeleted: 0; reason: string }
  | { ok: false; ran: true; filesDeleted: 0; error: string; sideFilesLeft?: string[] };

const JOURNAL_INCOMPLETE = "the journal retention did not complete";

/** "; 1 side file not deleted: remove it by hand: PATH" (all still left are named); "" for none. */
function sideFilesLeftText(paths: string[]): string {
  if (paths.length === 0) return "";
  const one = paths.length === 1;
  return `; ${paths.length} side file${one ? "" : "s"} not deleted: remove ${one ? "it" : "them"} by hand: ${paths.join(", ")}`;
}

/** Runs the journal's retention, then (see above) the trail's; never throws: a failure is in the result. */
export async function runRetentionNow(parts: RetentionParts): Promise<OperatorResult> {
  const j = await parts.journal.runRetention();
  const journalOk = j.error === null;
  const journalText = journalOk
    ? `journal retention: ${j.deleted} acknowledged record(s) older than ${j.cutoff} deleted`
    : `journal retention stopped after ${j.deleted} record(s) deleted: ${j.error!.message}`;

  let audit: AuditPart;
  let auditText: string;
  if (!journalOk) {
    audit = { ok: false, ran: false, filesDeleted: 0, reason: JOURNAL_INCOMPLETE };
    auditText = "audit retention not run: it runs only after a journal retention that completed";
  } else if ("notRun" in parts.audit) {
    audit = { ok: true, ran: false, filesDeleted: 0, reason: parts.audit.notRun };
    auditText = `audit retention not run: ${parts.audit.notRun}`;
  } else {
    const trail = parts.audit;
    // named after the run whatever it did: a run with nothing due (null) tries the side files an
    // earlier run left too, and one still left is the operator's to remove
    const leftNow = () => trail.sideFilesLeft().map((f) => join(trail.dir, f));
    try {
      const a = await trail.runRetention();
      // null: none due; an entry that could not be sealed, a seal not on the disk yet, or an unhealthy
      // journal, rejects (E625): caught below
      const left = leftNow();
      const leftData = left.length > 0 ? { sideFilesLeft: left } : {};
      audit = a
        ? { ok: true, ran: true, filesDeleted: a.files.length, deletedThrough: a.deletedThrough, ...leftData }
        : { ok: true, ran: true, filesDeleted: 0, ...leftData };
      auditText = a
        ? `audit retention: ${a.files.length} segment file(s) deleted, entries through seq ${a.deletedThrough}${sideFilesLeftText(left)}`
        : `audit retention: no segment file deleted${sideFilesLeftText(left)}`;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const left = leftNow();
      audit = {
        ok: false,
        ran: true,
        filesDeleted: 0,
        error: message,
        ...(left.length > 0 ? { sideFilesLeft: left } : {}),
      };
      auditText = `audit retention failed: ${message}${sideFilesLeftText(left)}`;
    }
  }

  return {
    ok: journalOk && audit.ok,
    message: `${journalText}; ${auditText}`,
    data: {
      // the journal's, as before the parts were reported apart
      deleted: j.deleted,
      cutoff: j.cutoff,
      journal: {
        ok: journalOk,
        deleted: j.deleted,
        cutoff: j.cutoff,
        ...(j.error ? { error: { code: j.error.code, message: j.error.message } } : {}),
      },
      audit,
    },
  };
}
