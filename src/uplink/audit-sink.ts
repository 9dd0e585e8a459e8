/** Where the uplink's state changes go (src/audit AuditTrail implements it), and how it appends to it. */
import type { Logger } from "../../firmware-bridge/log.js";

export interface AuditSink {
  append(event: {
    type: string;
    severity: "info" | "warn" | "alarm";
    message: string;
    data?: object;
  }): unknown;
}

export type AuditEvent = Parameters<AuditSink["append"]>[0];

/** The audit trail must never stop the uplink: a failed append is logged and dropped. */
export function appendSafe(audit: AuditSink | undefined, log: Logger, ev: AuditEvent): void {
  try {
    audit?.append(ev);
  } catch (e) {
    log.error({ err: e instanceof Error ? e.message : String(e), event: ev.type }, "audit append failed");
  }
}
