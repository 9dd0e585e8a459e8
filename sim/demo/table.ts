/**
 * The demo's printed table (sim/demo/demo.ts): one line per lane decision over DSRC and one per booth
 * outcome, in columns that stay aligned on a terminal (a Chinese character takes two columns there).
 */
import type { CommittedRecord, RecordKind } from "../../src/journal/types.js";
import { STOP_REASONS, type StopReason } from "../../src/lane/stop-reasons.js";

export interface DemoLine {
  vehicle: string;
  plate: string;
  vehicleClass: number | null;
  route: string;
  kind: RecordKind;
  /** fen debited by this record (0 unless a transaction) */
  charged: number;
  outcome: string;
  /** where the record was decided: the lane over DSRC, or the booth's card reader */
  path: "dsrc" | "booth";
  /**
   * the lane's decision time at the antenna (ms); null for the booth (its time is the collector's) and
   * for a record the lane wrote without deciding on a vehicle at the antenna (see `decided`)
   */
  decisionMs: number | null;
  /**
   * "antenna": the lane's decision on a vehicle in the zone; "booth": a booth outcome; "later": a record
   * the lane wrote afterwards, not deciding on a vehicle in the zone: a suspect settled by a late B5 or B8
   * or by an operator (its revision > 1), or a late B5 recorded as ORPHAN_B5
   */
  decided: "antenna" | "booth" | "later";
  /** the record's revision: > 1 when it settles a suspect */
  revision: number;
}

export const yuan = (fen: number): string => `${(fen / 100).toFixed(2)}`;

/** Terminal columns of a string: CJK ideographs and full-width forms take two. */
export function displayWidth(s: string): number {
  let n = 0;
  for (const ch of s)
    n +=
      /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(
        ch,
      )
        ? 2
        : 1;
  return n;
}

const padEnd = (s: string, n: number): string => s + " ".repeat(Math.max(0, n - displayWidth(s)));
const padStart = (s: string, n: number): string => " ".repeat(Math.max(0, n - displayWidth(s))) + s;

/** What the record says, in the lane display's words. */
export function describeRecord(r: CommittedRecord, path: DemoLine["path"]): string {
  if (path === "booth") {
    if (r.kind === "transaction")
      return r.revision > 1 ? `已确认扣费 settled (booth, ${r.outcome})` : "扣费成功 ok (booth)";
    if (r.kind === "suspect") return `疑似交易 suspect (booth, ${r.outcome})`;
    return `未收费 not paid (booth, ${r.outcome})`;
  }
  if (r.revision > 1)
    return r.kind === "transaction"
      ? `已确认扣费 settled (${r.outcome})`
      : `未收费 not paid (settled, ${r.outcome})`;
  if (r.kind === "transaction") return r.outcome === "ENTRY_WRITE" ? "入口已写 ok" : "扣费成功 ok";
  if (r.kind === "suspect") return `疑似交易 suspect (${r.outcome})`;
  const info = STOP_REASONS[r.outcome as StopReason];
  if (!info) return r.outcome;
  return info.direction
    ? `${info.message} ${info.direction} (${r.outcome})`
    : `${info.message} (${r.outcome})`;
}

/** The vehicle column's width when no id is longer (the ids of config/scenarios/demo.yaml fit it). */
export const VEHICLE_WIDTH = 16;

/**
 * The vehicle column: `width` wide (the scenario's longest id: sim/demo/demo.ts), at least VEHICLE_WIDTH,
 * and a space after it, also after an id longer than the column (a random vehicle's, named after the header).
 */
const vehicleCell = (s: string, width: number): string => `${padEnd(s, Math.max(width, VEHICLE_WIDTH))} `;

export function headerLine(vehicleWidth = VEHICLE_WIDTH): string {
  return (
    `${vehicleCell("vehicle", vehicleWidth)}${padEnd("plate", 11)}${padStart("class", 5)}  ${padEnd("route", 10)}` +
    `${padStart("charged", 9)}  ${padStart("decision", 10)}  outcome`
  );
}

export function tableLine(l: DemoLine, vehicleWidth = VEHICLE_WIDTH): string {
  const decision =
    l.path === "booth" ? "人工 booth" : l.decisionMs === null ? "-" : `${l.decisionMs.toFixed(2)}ms`;
  return (
    `${vehicleCell(l.vehicle, vehicleWidth)}${padEnd(l.plate, 11)}${padStart(String(l.vehicleClass ?? "-"), 5)}  ${padEnd(l.route, 10)}` +
    `${padStart(l.kind === "transaction" ? yuan(l.charged) : "-", 9)}  ${padStart(decision, 10)}  ${l.outcome}`
  );
}
