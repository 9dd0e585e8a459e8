/**
 * The id and kind filters of `etc-lane audit search|export`, checked before the trail is read
 * (src/service/trail-filters.ts, which the page's search runs too): a value no entry can have, or an empty
 * one, is a usage error naming the option and what was expected, never a quiet "0 entries".
 */
import { trailFilterProblem } from "../service/trail-filters.js";
import { UsageError } from "./run-cli.js";

export { AUDIT_ENTRY_TYPES, AUDIT_KIND_WORDS, isAuditKind } from "../service/trail-filters.js";

/**
 * Throws a UsageError naming the option when --card, --obu, --plate, --reason or a --kind is empty (after
 * trimmedFilters), or when --card, --obu or a --kind cannot match any entry; a refused --card is quoted
 * masked unless --full-ids. An empty value is refused rather than read: an empty --reason would match no
 * entry and an empty --plate every entry, events without a plate too, where the page's search takes an
 * empty field as not given (src/service/http/search.ts); a command line that names an option means it.
 */
export function checkAuditFilters(o: {
  card?: string;
  obu?: string;
  plate?: string;
  reason?: string;
  kind?: string[];
  fullIds?: boolean;
}): void {
  for (const [name, v] of [
    ["card", o.card],
    ["obu", o.obu],
    ["plate", o.plate],
    ["reason", o.reason],
  ] as const) {
    if (v === "") throw new UsageError(`--${name}: empty; leave the option out to search without it`);
  }
  if (o.kind?.includes("")) throw new UsageError("--kind: empty; leave the option out to search every kind");
  const p = trailFilterProblem(o);
  if (p) throw new UsageError(`--${p.field}: ${p.message}`);
}

/**
 * The options with --card, --obu, --plate, --reason and each --kind trimmed of surrounding white space, as
 * the page's search trims its fields (src/service/http/search.ts): a number pasted with a trailing space
 * finds what it finds there.
 */
export function trimmedFilters<
  T extends { card?: string; obu?: string; plate?: string; reason?: string; kind?: string[] },
>(o: T): T {
  const t: T = { ...o };
  if (t.card !== undefined) t.card = t.card.trim();
  if (t.obu !== undefined) t.obu = t.obu.trim();
  if (t.plate !== undefined) t.plate = t.plate.trim();
  if (t.reason !== undefined) t.reason = t.reason.trim();
  if (t.kind !== undefined) t.kind = t.kind.map((k) => k.trim());
  return t;
}
