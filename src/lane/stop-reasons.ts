/**
 * Why the lane stops a transaction (docs/lane.md "Stop reasons": the conditions on which a lane answers C2,
 * and the special situations (特情) lane software records). Each reason has a short Chinese display text,
 * where the driver goes, and two flags: `toManual` (the vehicle must be handled at an MTC/manual lane or by
 * staff) and `alarm`. No stop opens the barrier: it opens only after the commit of a transaction in the same
 * step (effect-runner.ts).
 */
export type StopStage = "B2" | "B3" | "B4" | "B5" | "lane";

export interface StopReasonInfo {
  readonly stage: StopStage;
  /** short display text, Chinese */
  readonly message: string;
  /** where to go / what to do, Chinese */
  readonly direction: string;
  readonly toManual: boolean;
  /** raise an operator alarm (status list hits, tampering, system faults) */
  readonly alarm: boolean;
  readonly title: string;
}

const manual = "请走人工车道";

function r(
  stage: StopStage,
  message: string,
  title: string,
  opts: { direction?: string; toManual?: boolean; alarm?: boolean } = {},
): StopReasonInfo {
  return {
    stage,
    message,
    title,
    direction: opts.direction ?? manual,
    toManual: opts.toManual ?? true,
    alarm: opts.alarm ?? false,
  };
}

export const STOP_REASONS = {
  // ---- B2: OBU --------------------------------------------------------------------------------
  OBU_READ_FAILED: r("B2", "读标签失败", "B2 carried a non-zero ErrorCode"),
  OBU_DATA_INVALID: r("B2", "标签数据异常", "B2 fields missing or dates not valid BCD"),
  OBU_TYPE_INVALID: r(
    "B2",
    "标签类型无效",
    "national B2 DeviceType neither 01 (dual-chip OBU) nor 02 (single-chip OBU): 03 (CPC) or unknown",
  ),
  OBU_NO_CARD: r("B2", "标签无卡", "OBUStatus bit 7: no IC card in the OBU", {
    direction: "请插卡或走人工车道",
  }),
  OBU_CARD_ERROR: r("B2", "卡片异常", "OBUStatus bit 3: IC card error"),
  OBU_LOCKED: r("B2", "标签已锁定", "OBUStatus bit 2: OBU locked", { alarm: true }),
  OBU_TAMPERED: r(
    "B2",
    "标签已拆卸",
    "OBUStatus bit 1, or the tamper byte as transaction.tamperByte reads it: OBU removed",
    { alarm: true },
  ),
  OBU_BATTERY_LOW: r("B2", "标签电量低", "OBUStatus bit 0 with lowBattery: stop"),
  OBU_EXPIRED: r("B2", "标签已过期", "OBU expiry date before today"),
  OBU_NOT_YET_VALID: r("B2", "标签未启用", "OBU issue date after today"),
  OBU_ISSUER_INVALID: r("B2", "标签发行方无效", "OBU issuer id empty or all FF"),
  OBU_ON_STATUS_LIST: r("B2", "标签状态名单", "OBU contract serial on the status list", { alarm: true }),
  // never displayed nor recorded: obu-machine.ts alreadyTraded answers the C2 (rsu.alreadyTradedStopType;
  // StopType 3 makes the OBU beep "already traded") and counts it. The screen keeps what it showed; the barrier
  // does not open (no transaction in this step), so a card that paid here, read in another OBU, passes no one
  ALREADY_TRADED: r("B2", "已交易", "OBU or card traded in this lane within the recent-trade window", {
    direction: "",
    toManual: false,
  }),
  UNSETTLED_DEBIT: r("B2", "存在未确认交易", "OBU or card has an unsettled (suspect) debit here", {
    alarm: true,
  }),
  // ---- B3: vehicle -----------------------------------------------------------------------------
  VEHICLE_READ_FAILED: r("B3", "读车辆信息失败", "B3 carried a non-zero ErrorCode"),
  VEHICLE_CLASS_INVALID: r("B3", "车型异常", "vehicle class outside JT/T 489 (1-4, 11-16, 21-26)"),
  FRAME_INCOMPLETE: r("B3", "数据不完整", "B3/B4 incomplete after one resend (C2 StopType 2)"),
  // ---- B4: card --------------------------------------------------------------------------------
  CARD_READ_FAILED: r("B4", "读卡失败", "B4 carried a non-zero ErrorCode"),
  CARD_DATA_INVALID: r("B4", "卡片数据异常", "0015 dates or card number not valid"),
  CARD_TYPE_INVALID: r("B4", "卡类型无效", "card type neither 22 (stored value) nor 23 (credit)"),
  CARD_EXPIRED: r("B4", "卡已过期", "card expiry date before today"),
  CARD_NOT_YET_VALID: r("B4", "卡未启用", "card start date after today"),
  CARD_OBU_MISMATCH: r(
    "B4",
    "标卡信息不符",
    "card issuer (0015) differs from the OBU issuer (B2), or the card's bound plate (0015) from the OBU's (B3)",
  ),
  CARD_ON_STATUS_LIST: r("B4", "卡状态名单", "card id on the status list", { alarm: true }),
  NO_ENTRY_INFO: r("B4", "无入口信息", "exit: 0019 holds no ETC entry record (status 03)"),
  ENTRY_ALREADY_OPEN: r("B4", "入口信息异常", "entry: 0019 already holds an open entry (U-turn, flag error)"),
  TIMEOUT_VEHICLE: r("B4", "超时车辆", "exit: entry older than transaction.maxTripHours"),
  ENTRY_TIME_INVALID: r(
    "B4",
    "入口时间异常",
    "exit: the 0019 entry time is more than 10 minutes ahead of the lane's clock (card-rules.ts ENTRY_AHEAD_TOLERANCE_MS)",
  ),
  CLASS_MISMATCH: r(
    "B4",
    "车型不符",
    "exit: the class the card's 0019 entry states differs from the OBU vehicle file's (B3), the class charged",
  ),
  UNKNOWN_ROUTE: r("B4", "入口站无费率", "exit: the entry station is not in the tariff", { alarm: true }),
  UNKNOWN_CLASS: r("B4", "车型无费率", "exit: the vehicle class has no fee for this route", { alarm: true }),
  INSUFFICIENT_BALANCE: r("B4", "余额不足", "stored-value card balance below the charge"),
  // ---- B5 --------------------------------------------------------------------------------------
  TRADE_FAILED: r(
    "B5",
    "交易失败",
    "B5 (or B8) ErrorCode the RSU's result-code table classes failed: card untouched, no money moved",
  ),
  // ---- any stage: the OBU went silent ------------------------------------------------------------
  OBU_LEFT: r("lane", "车辆离开", "the OBU stopped answering before the debit", {
    direction: "请重新通行或走人工车道",
  }),
  // ---- lane ------------------------------------------------------------------------------------
  JOURNAL_FAILED: r("lane", "系统故障", "the journal cannot be written: lane closed", { alarm: true }),
  LANE_CLOSED: r("lane", "车道关闭", "the lane closed before this vehicle's debit (RSU down, reboot, stop)"),
  DEBIT_NOT_SENT: r(
    "lane",
    "通信中断",
    "the link refused the debit command (C6/C3) before writing a byte (link lost): no debit happened",
  ),
  STATUS_LIST_FAILED: r(
    "lane",
    "名单系统故障",
    "the status list could not answer (lookup failed, or no usable list)",
    {
      alarm: true,
    },
  ),
} as const satisfies Record<string, StopReasonInfo>;

export type StopReason = keyof typeof STOP_REASONS;
export const STOP_REASON_CODES = Object.keys(STOP_REASONS) as StopReason[];

/**
 * The stops that end a transaction with no journal record, and why: the booth, whose cases are journal
 * records (src/booth/cases.ts, rebuilt from them at start by src/booth/case-desk.ts), never sees them, so
 * a `booth.offerFor` entry naming one has no effect, which `run` notes (src/config/preflight.ts configNotes).
 */
export const UNRECORDED_STOPS = {
  // src/lane/machines.ts (its write-ahead note failed), src/lane/effect-runner.ts (its record's commit failed)
  JOURNAL_FAILED: "the journal could not write this vehicle's record",
  // src/lane/obu-machine.ts alreadyTraded
  ALREADY_TRADED: "its vehicle just paid: answered with C2 and a note",
} as const satisfies Partial<Record<StopReason, string>>;

export function stopInfo(reason: StopReason): StopReasonInfo {
  return STOP_REASONS[reason];
}

/**
 * Why a debit is uncertain (suspect record outcome):
 * - B5_NO_DSRC: B5 with an ErrorCode classed uncertain (and C8, when it was sent, did not prove it);
 * - B5_INCOMPLETE: B5 ErrorCode 00 without a field clearing needs (TAC, serials, balance, time);
 * - B5_MISMATCH: B5 ErrorCode 00 with every clearing field, contradicting the debit sent (TransTime not
 *   the PurchaseTime, or on a stored-value card balance after not balance before - amount:
 *   debit-agreement.ts), and the C8 that followed did not prove it;
 * - B5_MISSING: no B5 within b5TimeoutMs (no serial, so no C8);
 * - SUPERSEDED: the RSU started over with the OBU (new B2) while the debit was open;
 * - LANE_STOPPED: graceful stop, and the answer did not come within transaction.drainTimeoutMs;
 * - CRASH_RECOVERED: the process that sent the debit died before it recorded the answer (debit intent).
 */
export const SUSPECT_REASONS = [
  "B5_NO_DSRC",
  "B5_INCOMPLETE",
  "B5_MISMATCH",
  "B5_MISSING",
  "SUPERSEDED",
  "LANE_STOPPED",
  "CRASH_RECOVERED",
] as const;
export type SuspectReason = (typeof SUSPECT_REASONS)[number];

/** Outcome codes of successful records. */
export type SuccessOutcome =
  | "EXIT_DEBIT"
  | "ENTRY_WRITE"
  | "EXIT_DEBIT_TAC_REFETCHED"
  | "ENTRY_WRITE_TAC_REFETCHED";

/** Outcome of a suspect record that a late B5 proved (journal settle: same record, next revision). */
export type SettledOutcome = "EXIT_DEBIT_SETTLED" | "ENTRY_WRITE_SETTLED";
