/**
 * The words of an operator's status-list import, the same whether the running lane applied the bundle
 * (src/service/runtime-view.ts) or the CLI did without a lane (src/cli/commands/status-list.ts), so
 * `etc-lane status-list import` prints the same line either way.
 */
import type { ApplyResult } from "./types.js";

export function importAppliedMessage(r: Pick<ApplyResult, "kind" | "version" | "adds" | "removes">): string {
  return `status-list ${r.kind} ${r.version} applied (${r.adds} added, ${r.removes} removed)`;
}

/** The list's refusal (nothing applied), with its code when it has one. */
export function importRefusedMessage(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  return `status-list bundle refused: ${message}${typeof code === "string" ? ` [${code}]` : ""}`;
}

/** The apply result as the import reports it (JSON: `ms` rounded). */
export function importResultData(r: ApplyResult): Record<string, unknown> {
  return { ...r, ms: Math.round(r.ms) };
}
