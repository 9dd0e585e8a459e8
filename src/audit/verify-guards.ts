/**
 * What `audit verify` checks besides the chain, the seals and the rows (./verify.ts; docs/audit.md,
 * "Verify"): that what it reads of the spool is what the lane writes there.
 *
 * - The spool's meta values (`audit_head`, `audit_witness`) are read as data to check, never trusted: a
 *   value that is not what the lane writes (whole numbers, 64-hex hashes, a known state) is a failure
 *   naming its key, and is not used (a witness `n` that is not a number would otherwise turn the witness
 *   checks off, and text in it would reach the operator's terminal).
 */
import type { AuditHead, AuditSpoolView, WitnessRecord } from "./spool.js";

const HEX64 = /^[0-9a-f]{64}$/;
const isCount = (v: unknown, min: number): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min;

/** What is wrong with a head copy as read from the spool, or null when it is what the lane writes. */
export function headCopyProblem(h: unknown): string | null {
  if (h === null || typeof h !== "object" || Array.isArray(h)) return "not a JSON object";
  const o = h as Record<string, unknown>;
  if (!isCount(o.seq, 0)) return "seq is not a whole number";
  if (typeof o.hash !== "string" || !HEX64.test(o.hash)) return "hash is not 64 hex digits";
  return null;
}

/** What is wrong with a witness record as read from the spool, or null when it is what the lane writes. */
export function witnessRecordProblem(w: unknown): string | null {
  if (w === null || typeof w !== "object" || Array.isArray(w)) return "not a JSON object";
  const o = w as Record<string, unknown>;
  if (o.state !== "acknowledged" && o.state !== "conflict")
    return "state is neither acknowledged nor conflict";
  if (!isCount(o.n, 1)) return "n is not a whole number from 1";
  if (!isCount(o.to, 0)) return "to is not a whole number";
  if (typeof o.head !== "string" || !HEX64.test(o.head)) return "head is not 64 hex digits";
  if (typeof o.hash !== "string" || !HEX64.test(o.hash)) return "hash is not 64 hex digits";
  if (typeof o.at !== "string" || Number.isNaN(Date.parse(o.at))) return "at is not a time";
  return null;
}

/**
 * The head copy and the witness record, each checked: a malformed one (or one that is not JSON) is named
 * in `problems` and read as absent.
 */
export function readSpoolMeta(spool: AuditSpoolView | null | undefined): {
  head: AuditHead | null;
  witness: WitnessRecord | null;
  problems: string[];
} {
  const problems: string[] = [];
  const read = <T>(
    key: string,
    what: string,
    get: () => T | null,
    bad: (v: unknown) => string | null,
  ): T | null => {
    let v: T | null;
    try {
      v = get();
    } catch (e) {
      problems.push(`meta.${key} (${what}) cannot be read: ${(e as Error).message}; it was changed`);
      return null;
    }
    if (v === null) return null;
    const p = bad(v);
    if (p === null) return v;
    problems.push(`meta.${key} (${what}) is malformed: ${p}; the lane never writes it so, it was changed`);
    return null;
  };
  if (!spool) return { head: null, witness: null, problems };
  const head = read("audit_head", "the head copy", () => spool.head(), headCopyProblem);
  const witness = read(
    "audit_witness",
    "the station's last word",
    () => spool.witness(),
    witnessRecordProblem,
  );
  return { head, witness, problems };
}
