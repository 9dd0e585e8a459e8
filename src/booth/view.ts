/**
 * What the booth shows outside itself: the status service's view (`BoothStatus`), a case as `etc-lane
 * booth list` shows it, the events the booth emits, and the Chinese words for why a vehicle is there.
 */
import type { ReaderInfo, ReaderLinkState } from "../../firmware-bridge/reader/card-reader.js";
import { localIsoSeconds as localIso } from "../local-time.js";
import type { BoothCase } from "./cases.js";
import type { BoothCounters, BoothTiming } from "./context.js";
import type { Prompt } from "./prompts.js";

export interface BoothStatus {
  /** the card reader's link: connecting | up | down | stopped, since when (monotonic ms), why */
  link: ReaderLinkState;
  /** the reader's INFO (vendor, model, firmware, serial, PSAM slots), once it answered */
  reader: ReaderInfo | null;
  /** why that reader cannot serve this booth (./reader-fit.ts: PSAM slot, frame length); null when it can */
  readerUnfit: string | null;
  port: string;
  cases: BoothCaseView[];
  /** the collector's screen now */
  screen: { step: string; text: string; detail: string; caseId: string | null; at: number } | null;
  counters: BoothCounters;
  /** the reader link's counters (frames, bytes, discarded bytes, timeouts, reconnects, ...) */
  readerCounters: Readonly<Record<string, number | Readonly<Record<string, number>>>>;
  /** debit intents of the booth not yet settled (a lost DEBIT answer being recovered) */
  recovering: number;
  /** the last booth transaction's time: total, waiting on the reader, the lane's own share (ms) */
  lastTiming: BoothTiming | null;
}

/** One case as the status service and `etc-lane booth list` show it. */
export interface BoothCaseView {
  id: string;
  openedAt: number;
  /** openedAt as ISO 8601 in the lane's UTC offset */
  openedAtLocal: string;
  kind: string;
  reason: string;
  detail: string;
  obuId: string | null;
  cardId: string | null;
  plate: string | null;
  seq: number | null;
  /** "active": being worked on; "taken": the collector chose it; "waiting" */
  status: "active" | "taken" | "waiting";
  vehicleClass: number | null;
}

export interface BoothOperatorResult {
  ok: boolean;
  message: string;
  data?: Record<string, unknown>;
}

export type BoothEvent =
  | { type: "booth"; at: number; action: "opened" | "closed"; case: BoothCaseView; why?: string }
  | { type: "prompt"; at: number; prompt: Prompt; caseId: string | null };

const CASE_TEXT: Record<string, string> = {
  OBU_NO_CARD: "标签无卡",
  OBU_CARD_ERROR: "卡片异常",
  OBU_TAMPERED: "标签已拆卸",
  OBU_LOCKED: "标签已锁定",
  OBU_READ_FAILED: "读标签失败",
  OBU_DATA_INVALID: "标签数据异常",
  OBU_BATTERY_LOW: "标签电量低",
  OBU_EXPIRED: "标签已过期",
  OBU_NOT_YET_VALID: "标签未启用",
  OBU_ISSUER_INVALID: "标签发行方无效",
  VEHICLE_READ_FAILED: "读车辆信息失败",
  FRAME_INCOMPLETE: "数据不完整",
  CARD_READ_FAILED: "读卡失败",
  CARD_OBU_MISMATCH: "标卡信息不符",
  TRADE_FAILED: "交易失败",
  OBU_LEFT: "车辆离开",
  LANE_CLOSED: "车道关闭",
  DEBIT_NOT_SENT: "通信中断",
  UNSETTLED_DEBIT: "存在未确认交易",
  CLASS_MISMATCH: "车型不符",
  BOOTH_RECOVERY: "扣款未确认",
  WALK_UP: "人工选择",
};

export function caseText(c: BoothCase): string {
  return CASE_TEXT[c.reason] ?? (c.kind === "suspect" ? "交易未确认" : c.reason);
}

/** A case as the status service and the operator see it. */
export function caseView(
  c: BoothCase,
  status: BoothCaseView["status"],
  utcOffsetMinutes: number,
): BoothCaseView {
  return {
    id: c.id,
    openedAt: c.openedAt,
    openedAtLocal: localIso(c.openedAt, utcOffsetMinutes),
    kind: c.kind,
    reason: c.reason,
    detail: caseText(c),
    obuId: c.obuId,
    cardId: c.cardId,
    plate: c.plate,
    seq: c.seq,
    status,
    vehicleClass: c.vehicleClass,
  };
}

/** Who the vehicle is, for the collector: its plate, else its OBU, else the case. */
export function who(c: BoothCase): string {
  return c.plate || (c.obuId ? `OBU ${c.obuId}` : c.id);
}

/** Who asked for an operator action (the control socket's user; an OperatorUser is one). */
export interface BoothUser {
  name: string;
  uid: number;
  /** the person behind `sudo -u <lane user>` (the control socket's OperatorUser.sudoUser) */
  sudoUser?: string;
}
