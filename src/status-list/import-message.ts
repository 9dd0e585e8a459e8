/**
 * The words of an operator's status-list import, the same whether the running lane applied the bundle
 * (src/service/runtime-operator.ts) or the CLI did without a lane (src/cli/commands/status-list.ts), so
 * `etc-lane status-list import` prints the same line either way; and the alarm of a bundle listing
 * entries that match nothing (OBU ids no lane matches, cards of network 0000), in those words, the log's
 * and the audit's (`status-list.applied`); and what keeps an import's file from being read at all
 * (operatorFileProblem).
 */
import { closeSync, openSync, statSync } from "node:fs";
import { type ListChange, listChangeOf } from "./apply-change.js";
import { isBundleRefusal, notAppliedWhy } from "./errors.js";
import type { ApplyResult, ListVersions } from "./types.js";

export function importAppliedMessage(
  r: Pick<ApplyResult, "kind" | "version" | "adds" | "removes"> & Partial<Unmatched>,
): string {
  const applied = `status-list ${r.kind} ${r.version} applied (${r.adds} added, ${r.removes} removed)`;
  const unmatched = unmatchedMessage(r);
  return unmatched ? `${applied}; ${unmatched}` : applied;
}

/** A bundle's entries that match nothing, as an apply result counts them. */
export type Unmatched = Pick<ApplyResult, "obusNotDecimal" | "cardsNoNetwork" | "cardNoNetworkExample">;

/**
 * Why a bundle is an alarm although applied: its entries that match nothing (ApplyResult.obusNotDecimal,
 * ApplyResult.cardsNoNetwork), each kind in its words, joined by "; "; null when there are none.
 */
export function unmatchedMessage(r: Partial<Unmatched>): string | null {
  const parts: string[] = [];
  if (r.obusNotDecimal) parts.push(obusNotDecimalMessage(r.obusNotDecimal));
  if (r.cardsNoNetwork) parts.push(cardsNoNetworkMessage(r.cardsNoNetwork, r.cardNoNetworkExample ?? null));
  return parts.length > 0 ? parts.join("; ") : null;
}

/**
 * Why a bundle's OBU entries with a digit A-F (ApplyResult.obusNotDecimal) are an alarm: no lane matches
 * them, so the OBUs they list pass.
 */
export function obusNotDecimalMessage(n: number): string {
  return (
    `${n} OBU ${n === 1 ? "entry has an id" : "entries have ids"} with a digit A-F, which no lane matches ` +
    "(an OBU id is its contract serial's 16 BCD digits; a station that writes serials as integers makes " +
    "them): those OBUs pass"
  );
}

/**
 * The fields an audit entry carries for a bundle's entries that match nothing: only those there are (an
 * entry without them is an ordinary `status-list.applied`).
 */
export function unmatchedFields(r: Partial<Unmatched>): {
  obusNotDecimal?: number;
  cardsNoNetwork?: number;
  cardNoNetworkExample?: string;
} {
  return {
    ...(r.obusNotDecimal ? { obusNotDecimal: r.obusNotDecimal } : {}),
    ...(r.cardsNoNetwork ? { cardsNoNetwork: r.cardsNoNetwork } : {}),
    ...(r.cardsNoNetwork && r.cardNoNetworkExample ? { cardNoNetworkExample: r.cardNoNetworkExample } : {}),
  };
}

/**
 * Why a bundle's card entries of network 0000 (ApplyResult.cardsNoNetwork) are an alarm: no card carries
 * that network, so they match no card and the cards they mean pass. Names the first of them.
 */
export function cardsNoNetworkMessage(n: number, example: string | null): string {
  return (
    `${n} card ${n === 1 ? "entry has" : "entries have"} network 0000${example ? ` (${example}${n > 1 ? ", ..." : ""})` : ""}, ` +
    "which no card carries (a card id is its 0015 network, 4 digits, then its 16-digit serial; a station " +
    "that lists cards by their serial alone makes them): they match no card, and those cards pass"
  );
}

/**
 * A failed import that changed nothing (the list served unchanged), with its code when it has one: the
 * bundle refused for itself (errors.ts isBundleRefusal), or not applied (errors.ts notAppliedWhy): the bundle
 * made ahead of the lane's clock (either clock wrong), or the lane's own failure (its store or disk, its
 * worker, a list it built but cannot serve: the error says what happens next).
 */
export function importRefusedMessage(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  const what = isBundleRefusal(e) ? "refused" : `not applied (${notAppliedWhy(code)})`;
  return `status-list bundle ${what}: ${message}${typeof code === "string" ? ` [${code}]` : ""}`;
}

/**
 * A failed import that changed the list served all the same (apply-change.ts): what the lane serves now,
 * what it served before, and the failure with its code.
 */
export function importChangedMessage(e: unknown, c: ListChange): string {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  return (
    `status-list import failed, but the list served changed to ${held(c.versions)} (was ${held(c.before)}): ` +
    `${message}${typeof code === "string" ? ` [${code}]` : ""}`
  );
}

function held(v: ListVersions): string {
  if (v.full === null) return "no list";
  return v.delta === null ? `full ${v.full}` : `delta ${v.delta} on full ${v.full}`;
}

/**
 * A failed import as the operator is told (ok: false, the command exits 1, no apply result): refused, not
 * applied for the lane's own failure, or, when the job changed the list served all the same, that change
 * (the trail's `status-list.applied` entry holds it as data).
 */
export function importFailedResult(e: unknown): { ok: false; message: string } {
  const change = listChangeOf(e);
  return { ok: false, message: change ? importChangedMessage(e, change) : importRefusedMessage(e) };
}

/** The apply result as the import reports it (JSON: `ms` rounded). */
export function importResultData(r: ApplyResult): Record<string, unknown> {
  return { ...r, ms: Math.round(r.ms) };
}

/** An fs error in an operator's words: what is wrong, then its code. */
function fsWhy(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const what =
    code === "ENOENT"
      ? "no such file"
      : code === "EACCES" || code === "EPERM"
        ? "this user may not read it"
        : code === "ENOTDIR"
          ? "a part of the path is not a directory"
          : (e as Error).message;
  return code ? `${what} (${code})` : what;
}

/** The two calls operatorFileProblem makes (tests inject failing ones). */
export interface FileProbe {
  stat(path: string): { isFile(): boolean };
  /** opens the file for reading and closes it again */
  open(path: string): void;
}

const realProbe: FileProbe = {
  stat: (path) => statSync(path),
  open: (path) => closeSync(openSync(path, "r")),
};

/**
 * What keeps a file an operator named (a bundle, a key) from being read, in an operator's words, or null.
 * Only the operator's own mistakes: no such file (ENOENT), a part of the path not a directory (ENOTDIR),
 * not a regular file (a directory); and, when `asReader` (this process's user is the one that reads it: the
 * running lane, or an import without one), this user may not read it (EACCES, EPERM, on the file or a
 * directory on its path). Without `asReader` (the CLI's check before it asks a running lane, which reads
 * the file as its own user) a permission error is not the operator's: null. Any other error (EMFILE,
 * ENFILE, EIO, ...) is not the operator's either: null, so the apply goes on, meets it and records it as the
 * lane's own failure (E511, `status-list.refused` with `local: true`). A mistyped file is neither a
 * refusal of a bundle nor the lane's failure: the CLI refuses it as a usage error, the running lane answers
 * it without an apply (src/cli/commands/status-list.ts, src/service/runtime-operator.ts).
 */
export function operatorFileProblem(
  file: string,
  asReader: boolean,
  probe: FileProbe = realProbe,
): string | null {
  try {
    if (!probe.stat(file).isFile()) return "not a file (a directory?)";
    if (asReader) probe.open(file);
  } catch (e) {
    return operatorsFsError(e, asReader) ? fsWhy(e) : null;
  }
  return null;
}

/** Whether an fs error is the operator's slip (operatorFileProblem). */
function operatorsFsError(e: unknown, asReader: boolean): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || (asReader && (code === "EACCES" || code === "EPERM"));
}
