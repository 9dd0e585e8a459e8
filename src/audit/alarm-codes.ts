/**
 * The alarm code of each of the trail's own alarm entries (written by ./recovery.ts,
 * ./recovery-journal-seqs.ts, ./recovery-retention.ts and the witness's callbacks in ./trail.ts). Each
 * such entry carries its code in its data (`code`), as the lane's other alarms do, so that
 * `etc-lane audit search --reason AUDIT_GAP` and the page's alarm feed name it; an entry written before
 * it carried one gets its code from its type here (toRow in ./search.ts, noteAlarm in ./trail.ts).
 */
export const TRAIL_ALARM_CODES: Readonly<Record<string, string>> = {
  "audit.gap": "AUDIT_GAP",
  "audit.journal-gap": "AUDIT_GAP",
  "audit.rollback": "AUDIT_ROLLBACK",
  "audit.damaged": "AUDIT_DAMAGED",
  "audit.head-mismatch": "AUDIT_HEAD_MISMATCH",
  "audit.journal-behind": "AUDIT_JOURNAL_BEHIND",
};

/** The code of the trail's own alarm entry of `type`, or null for any other type. */
export function trailAlarmCode(type: string): string | null {
  return Object.hasOwn(TRAIL_ALARM_CODES, type) ? TRAIL_ALARM_CODES[type]! : null;
}
