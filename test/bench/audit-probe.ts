/**
 * Measures the lane thread's share of each journal record's audit entry where the journal commits it:
 * outside the SQLite transaction (AuditTrail.bindRecord around it: the digest, the line, its hash and the
 * trail's bookkeeping) and inside it (the spool insert and the head copy). The audit bench uses it on
 * back-to-back commits, the service bench inside the running lane (test/bench/audit.ts, service.ts).
 */
import type { AuditTrail } from "../../src/audit/trail.js";
import type { Journal } from "../../src/journal/journal.js";
import { nowUs } from "./harness.js";

export interface RecordEntryProbe {
  /** per record: outside the transaction, inside it, and the two added (us) */
  outside: number[];
  inside: number[];
  both(): Float64Array;
}

/** Rebinds `journal` to `trail` through a probe (the same calls, timed). */
export function probeRecordEntries(journal: Journal, trail: AuditTrail): RecordEntryProbe {
  const outside: number[] = [];
  const inside: number[] = [];
  let spoolUs = 0;
  const spool = journal.auditSpool;
  const putInTx = spool.putInTx.bind(spool);
  spool.putInTx = (lines, head) => {
    const t = nowUs();
    putInTx(lines, head);
    spoolUs = nowUs() - t;
  };
  journal.bindAudit({
    bindRecord: (b, tx) => {
      const t0 = nowUs();
      let txUs = 0;
      spoolUs = 0;
      const r = trail.bindRecord(b, (bound) => {
        const t = nowUs();
        const x = tx(bound);
        txUs = nowUs() - t;
        return x;
      });
      outside.push(nowUs() - t0 - txUs);
      inside.push(spoolUs);
      return r;
    },
    bindEvent: (ev, tx) => trail.bindEvent(ev, tx),
  });
  return {
    outside,
    inside,
    both: () => Float64Array.from(outside, (x, i) => x + (inside[i] ?? 0)),
  };
}
