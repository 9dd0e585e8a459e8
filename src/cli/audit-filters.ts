/**
 * The id and kind filters of `etc-lane audit search|export`, checked before the trail is read
 * (src/service/trail-filters.ts, which the page's search runs too): a value no entry can have is a usage
 * error naming the option and what was expected, never a quiet "0 entries".
 */
import { trailFilterProblem } from "../service/trail-filters.js";
import { UsageError } from "./run-cli.js";

export { AUDIT_ENTRY_TYPES, AUDIT_KIND_WORDS, isAuditKind } from "../service/trail-filters.js";

/**
 * Throws a UsageError naming the option when --card, --obu or a --kind cannot match any entry; a refused
 * --card is quoted masked unless --full-ids.
 */
export function checkAuditFilters(o: {
  card?: string;
  obu?: string;
  kind?: string[];
  fullIds?: boolean;
}): void {
  const p = trailFilterProblem(o);
  if (p) throw new UsageError(`--${p.field}: ${p.message}`);
}
