/**
 * One audit entry = one line of a segment file (docs/audit.md, "Format"):
 *
 *   {"seq":12,"time":"2026-11-26T08:15:02.123+08:00","utc":"2026-11-26T00:15:02.123Z","type":"lane.start",
 *    "severity":"info","message":"...","data":{...},"prev":"<64 hex>","hash":"<64 hex>"}\n
 *
 * `seq` is global and gap-free across every segment file; `prev` is the previous entry's hash (64 zeros
 * before the first entry); `hash` is the SHA-256 of the line's exact bytes up to and including the
 * `"prev":"..."` member, closed with `}` (the line without its hash member). The line is built by string
 * concatenation in this fixed member order and checked over its raw bytes, never re-serialised, so a
 * verifier needs no canonical JSON: any changed byte changes the hash.
 */
import { createHash, hash as oneShotHash } from "node:crypto";

export const GENESIS = "0".repeat(64);
export const SEVERITIES = ["info", "warn", "alarm"] as const;
export type AuditSeverity = (typeof SEVERITIES)[number];

/** What a caller appends. `type` is one of the kinds in ./events.ts (or an audit.* kind of the trail). */
export interface AuditEventInput {
  type: string;
  severity: AuditSeverity;
  message: string;
  data?: object;
}

/** An entry as read back from a line. */
export interface AuditEntry {
  seq: number;
  /** the lane's local time with its offset */
  time: string;
  utc: string;
  type: string;
  severity: AuditSeverity;
  message: string;
  data?: Record<string, unknown>;
  prev: string;
  hash: string;
}

/** `,"hash":"` + 64 hex + `"}`: the fixed-length end of every line (without its newline). */
export const HASH_SUFFIX_LENGTH = 9 + 64 + 2;
const HASH_PREFIX = Buffer.from(',"hash":"');
const CLOSE = Buffer.from("}");
const HEX64 = /^[0-9a-f]{64}$/;
const TYPE_RE = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$/;

/** SHA-256 in hex, one call (no Hash object: the hot path hashes twice per record). */
export const sha256hex = (b: string | Buffer): string => oneShotHash("sha256", b, "hex");

export interface BuiltLine {
  seq: number;
  hash: string;
  /** the whole line with its trailing newline */
  line: string;
}

/**
 * Builds the line of entry `seq` after `prev`. The hot path of the trail: one JSON.stringify per
 * variable member, one SHA-256. Throws on a type or severity the format does not allow.
 */
export function buildLine(
  seq: number,
  time: string,
  utc: string,
  ev: AuditEventInput,
  prev: string,
): BuiltLine {
  if (!TYPE_RE.test(ev.type))
    throw new TypeError(`audit entry type "${ev.type}" is not a dotted lower-case name`);
  if (!(SEVERITIES as readonly string[]).includes(ev.severity))
    throw new TypeError(`audit entry severity "${ev.severity}" is not one of ${SEVERITIES.join(", ")}`);
  return lineOf(
    seq,
    time,
    utc,
    ev.type,
    ev.severity,
    JSON.stringify(ev.message),
    ev.data === undefined ? undefined : JSON.stringify(ev.data),
    prev,
  );
}

/**
 * The line from its members already serialised: `messageJson` and `dataJson` are JSON texts (dataJson
 * undefined: no data member); `type` and `severity` must already be valid (buildLine checks them; the
 * trail's record entries use fixed ones). The bytes are those buildLine writes.
 */
export function lineOf(
  seq: number,
  time: string,
  utc: string,
  type: string,
  severity: AuditSeverity,
  messageJson: string,
  dataJson: string | undefined,
  prev: string,
): BuiltLine {
  const head =
    `{"seq":${seq},"time":"${time}","utc":"${utc}","type":"${type}","severity":"${severity}",` +
    `"message":${messageJson}${dataJson === undefined ? "" : `,"data":${dataJson}`},"prev":"${prev}"`;
  // the hash covers the line without its hash member: the head closed with "}"
  const hash = sha256hex(`${head}}`);
  return { seq, hash, line: `${head},"hash":"${hash}"}\n` };
}

export type LineCheck = { entry: AuditEntry } | { problem: string };

/** Checks one line (raw bytes, no newline) on its own: hash over its bytes, then its members' types. */
export function checkLine(line: Buffer): LineCheck {
  const n = line.length;
  if (n < HASH_SUFFIX_LENGTH + 2) return { problem: "not an audit entry (too short)" };
  const suffixAt = n - HASH_SUFFIX_LENGTH;
  const hash = line.toString("latin1", suffixAt + HASH_PREFIX.length, n - 2);
  if (
    !line.subarray(suffixAt, suffixAt + HASH_PREFIX.length).equals(HASH_PREFIX) ||
    line[n - 2] !== 0x22 ||
    line[n - 1] !== 0x7d ||
    !HEX64.test(hash)
  ) {
    return { problem: "the line does not end with its hash member" };
  }
  const computed = createHash("sha256").update(line.subarray(0, suffixAt)).update(CLOSE).digest("hex");
  if (computed !== hash)
    return { problem: "the hash does not match the line's content (the line was changed)" };
  let e: AuditEntry;
  try {
    e = JSON.parse(line.toString("utf8")) as AuditEntry;
  } catch {
    return { problem: "the line is not JSON" };
  }
  const problem = shapeProblem(e);
  return problem === null ? { entry: e } : { problem };
}

/**
 * What is wrong with a parsed line's members, or null when they are an entry's: the types checkLine and
 * parseEntry require alike (a positive whole seq; time, utc and message strings; a dotted type; a valid
 * severity; data an object when present; prev a hash).
 */
function shapeProblem(e: AuditEntry): string | null {
  if (e === null || typeof e !== "object" || Array.isArray(e)) return "the line is not a JSON object";
  if (!Number.isSafeInteger(e.seq) || e.seq < 1) return "seq is not a positive whole number";
  if (typeof e.time !== "string" || typeof e.utc !== "string") return "time or utc is missing";
  if (typeof e.type !== "string" || !TYPE_RE.test(e.type)) return "type is not a dotted name";
  if (!(SEVERITIES as readonly string[]).includes(e.severity)) return "severity is not valid";
  if (typeof e.message !== "string") return "message is not a string";
  if (e.data !== undefined && (e.data === null || typeof e.data !== "object")) return "data is not an object";
  if (typeof e.prev !== "string" || !HEX64.test(e.prev)) return "prev is not a hash";
  return null;
}

/**
 * Parses a line for display (audit search, tail, tail -f, the page's search): no hash check; null for
 * anything that is not an entry, by the member types checkLine checks (shapeProblem), so a reader never
 * meets an entry without its time or with a message that is not text. The hash member must be a string.
 * Recovery and its evidence scans read by claimedEntry instead: a damaged line still says what it is.
 */
export function parseEntry(line: string): AuditEntry | null {
  try {
    const e = JSON.parse(line) as AuditEntry;
    return shapeProblem(e) === null && typeof e.hash === "string" ? e : null;
  } catch {
    return null;
  }
}

/**
 * A line as it claims to be: a whole `seq` and a string `type`; `data` its data member when that is an
 * object, else absent. Its other members are as the line has them, unchecked (one damaged byte, as a
 * severity "warm" or a key "tife", leaves them missing or of another type): a reader that uses one checks
 * its type.
 */
export interface ClaimedEntry {
  seq: number;
  type: string;
  data?: Record<string, unknown>;
  time?: unknown;
  utc?: unknown;
  severity?: unknown;
  message?: unknown;
  prev?: unknown;
  hash?: unknown;
}

/**
 * Reads a line by what it claims (a JSON object with a whole `seq` and a string `type`: what parseEntry
 * took before it checked the other members), whatever its other members: for recovery and the evidence
 * scans at start (./recovery.ts, ./recovery-journal-seqs.ts, ./trail-behind-entries.ts, ./witness.ts,
 * ./trail-not-in-files.ts), which must not pass over a commit, a checkpoint or a retention entry because
 * one byte of its head is damaged (a suspect journal.db lacks would go unheld). Null for anything else.
 */
export function claimedEntry(line: string): ClaimedEntry | null {
  let e: Record<string, unknown> | null;
  try {
    e = JSON.parse(line) as Record<string, unknown> | null;
  } catch {
    return null;
  }
  if (e === null || typeof e !== "object" || !Number.isSafeInteger(e.seq) || typeof e.type !== "string")
    return null;
  const { data, ...rest } = e;
  return {
    ...rest,
    seq: e.seq as number,
    type: e.type,
    ...(data !== null && typeof data === "object" ? { data: data as Record<string, unknown> } : {}),
  };
}

/**
 * The seq a line claims (claimedEntry), whatever its other members: for naming a damaged line and
 * numbering after it (./recovery.ts lastIntactEntry, ./trail-not-in-files.ts), not for reading it.
 */
export function claimedSeq(line: string): number | null {
  return claimedEntry(line)?.seq ?? null;
}
