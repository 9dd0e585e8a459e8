/**
 * The trail search's id and kind filters, checked before the trail is read, by `etc-lane audit
 * search|export` (src/cli/audit-filters.ts) and by the page's search (./http/search.ts) alike: a value no
 * entry can have (a 3-digit card, a masked card number copied from the page, a kind nobody writes) is
 * refused naming the field and what was expected, never a quiet "0 entries".
 *
 * The kinds are those src/audit/search.ts `matches` knows: a record kind, "record", "event", an entry
 * type, or the first part(s) of one before a dot ("uplink" for uplink.state, "operator.booth"). The entry
 * types are the ones the lane writes: AUDIT_ENTRY_TYPES lists them by writer; test/cli/audit-filters.test.ts
 * checks that every type written in src/ is listed.
 */
import { CHECKPOINT_TYPE } from "../audit/checkpoint.js";
import { LANE_EVENT_KINDS } from "../audit/events.js";
import { RECORD_TYPES } from "../audit/records.js";
import { RECORD_KINDS } from "../journal/types.js";
import { maskTypedCard, quotedRefused } from "./format.js";
import type { OperatorAction } from "./lane-view.js";

/**
 * The operator actions written as `operator.<action>` (src/service/operator-audit.ts, control/booth-actions.ts),
 * and those a refused request may name besides (`auditRefusedRequest`: status, booth.list, bad-request).
 */
const OPERATOR_ACTIONS: readonly (
  | OperatorAction
  | "booth.take"
  | "booth.cancel"
  | "booth.list"
  | "status"
  | "bad-request"
)[] = [
  "lane.open",
  "lane.close",
  "status-list.import",
  "journal.requeue-held",
  "journal.retention",
  "journal.settle",
  "journal.resolve-intent",
  "booth.take",
  "booth.cancel",
  "booth.list",
  "status",
  "bad-request",
];

/** `operator.` + what a refused request named as its action (src/service/control/protocol.ts refusedRequest). */
const REFUSED_OPERATOR_TYPE = /^operator\.[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$/;

/** Every entry type of the trail. */
export const AUDIT_ENTRY_TYPES: readonly string[] = [
  ...Object.values(RECORD_TYPES),
  ...LANE_EVENT_KINDS,
  // the lane controller (src/lane/controller.ts)
  "lane.notice",
  // the trail itself (src/audit/trail.ts, recovery.ts, checkpoint.ts)
  CHECKPOINT_TYPE,
  "audit.rollback",
  "audit.station-behind",
  "audit.retention",
  "audit.damaged",
  "audit.head-mismatch",
  "audit.torn-tail",
  "audit.gap",
  "audit.journal-gap",
  "audit.journal-behind",
  // the lane's background verify (src/audit/verify-alarm.ts)
  "audit.verify-ok",
  // the booth (src/booth/)
  "booth.case",
  "booth.evidence",
  "booth.recovery",
  "booth.refused",
  "booth.settled",
  ...OPERATOR_ACTIONS.map((a) => `operator.${a}`),
];

/** The words `--kind` takes besides the entry types. */
export const AUDIT_KIND_WORDS: readonly string[] = [...RECORD_KINDS, "record", "event"];

/** The first parts of the entry types ("operator", "operator.booth", "uplink"): `--kind` takes these too. */
function typePrefixes(): Set<string> {
  const s = new Set<string>();
  for (const t of AUDIT_ENTRY_TYPES) {
    const parts = t.split(".");
    for (let i = 1; i < parts.length; i++) s.add(parts.slice(0, i).join("."));
  }
  return s;
}

/** Is `k` a `--kind` that can match an entry, exactly as src/audit/search.ts `matches` compares it? */
export function isAuditKind(k: string): boolean {
  // a record's kind is compared without case (the row's kind); the rest exactly
  return (
    (RECORD_KINDS as readonly string[]).includes(k.toLowerCase()) ||
    k === "record" ||
    k === "event" ||
    AUDIT_ENTRY_TYPES.includes(k) ||
    typePrefixes().has(k) ||
    (k.length <= 49 && REFUSED_OPERATOR_TYPE.test(k))
  );
}

// network 4 + serial 16: digits on every card seen; hex allowed, as the card's files are read
const CARD_RE = /^[0-9A-Fa-f]{20}$/;
const OBU_RE = /^(?:[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})$/;

/** What is wrong with one filter: the field (`card`, `obu`, `kind`) and why, without the field's name. */
export interface TrailFilterProblem {
  field: "card" | "obu" | "kind";
  message: string;
}

/**
 * The first filter among card, obu and kinds that cannot match any entry, or null when all can.
 * `moreKinds`: words the asker takes as kinds besides these (the page's "alarm": every entry of severity
 * alarm, src/service/trail-search.ts searchTrailDir), accepted and named in the refusal. A refused value
 * is quoted masked, as card numbers are everywhere on the page and in the CLI's output, unless `fullIds`
 * (`etc-lane audit search|export --full-ids`): a card by ./format.ts maskTypedCard (every hex digit but its
 * first and last four when it holds more than eight); an OBU or a kind by maskCardRuns (only a run that
 * could be a card number, spaced or run into a letter, so a mistyped kind stays readable).
 */
export function trailFilterProblem(
  o: {
    card?: string;
    obu?: string;
    kind?: readonly string[];
    fullIds?: boolean;
  },
  moreKinds: readonly string[] = [],
): TrailFilterProblem | null {
  const quotedCard = (v: string): string => JSON.stringify(o.fullIds ? v : maskTypedCard(v));
  const quoted = (v: string): string => quotedRefused(v, o.fullIds);
  if (o.card !== undefined && !CARD_RE.test(o.card))
    return {
      field: "card",
      message:
        `expected a card number of 20 (hex) digits (network 4 + serial 16), got ${quotedCard(o.card)}` +
        (o.card.includes("*")
          ? "; a masked number (as the page and etc-lane status show it) cannot be searched: give it in full"
          : ""),
    };
  if (o.obu !== undefined && !OBU_RE.test(o.obu))
    return {
      field: "obu",
      message: `expected an OBU contract serial of 16 hex digits or its MAC id of 8 hex digits, got ${quoted(o.obu)}`,
    };
  const bad = (o.kind ?? []).filter((k) => !isAuditKind(k) && !moreKinds.includes(k));
  if (bad.length > 0) {
    const prefixes = [...typePrefixes()].filter((p) => !p.includes(".")).sort();
    return {
      field: "kind",
      message:
        `unknown ${bad.map(quoted).join(", ")}; expected ${[...AUDIT_KIND_WORDS, ...moreKinds].join(", ")}, ` +
        `an entry type (${AUDIT_ENTRY_TYPES.join(", ")}) or its first part (${prefixes.join(", ")})`,
    };
  }
  return null;
}
