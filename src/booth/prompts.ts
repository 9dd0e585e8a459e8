/**
 * What the booth shows the collector at each step (docs/booth.md §6): Chinese, like the lane's display,
 * one line saying what happened and one saying what to do. Every prompt has a stable `step` code (for
 * tests, logs and the status service) and a tone; `signal` is what the reader's beeper and LED do.
 */

export type PromptTone = "ok" | "stop" | "warn" | "info";

export interface Prompt {
  step: string;
  text: string;
  detail: string;
  tone: PromptTone;
  /** beep and LED on the reader: "done" green, "refused" red, none for progress */
  signal?: "done" | "refused";
}

const yuan = (fen: number): string => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}元`;
/** The last four digits of a card id: the collector compares it with the card in hand. */
export const tail = (cardId: string): string => `****${cardId.slice(-4)}`;

/**
 * Why a recovered debit stays unconfirmed (recover.ts): "not-back", the original card was not put back in
 * time; "reader-down", the reader's link was down until then (the card could not be asked);
 * "card-cannot-say", the original card was read and could not say.
 */
export type UnconfirmedHow = "not-back" | "reader-down" | "card-cannot-say";

const p = (
  step: string,
  text: string,
  detail: string,
  tone: PromptTone,
  signal?: Prompt["signal"],
): Prompt => ({
  step,
  text,
  detail,
  tone,
  ...(signal ? { signal } : {}),
});

export const PROMPTS = {
  idle: () => p("IDLE", "收费亭空闲", "无待处理车辆", "info"),
  waitCard: (who: string, why: string) =>
    p("WAIT_CARD", "请刷卡", `${who} ${why}：请将卡片放在读卡器上`, "info"),
  readerDown: (why: string) => p("READER_DOWN", "读卡器未连接", `请检查读卡器连线（${why}）`, "warn"),
  readerUnfit: (why: string) => p("READER_UNFIT", "读卡器不可用", `请检查读卡器或配置（${why}）`, "warn"),
  reading: () => p("READING", "读卡中", "请勿移动卡片", "info"),
  cardError: (why: string) => p("CARD_ERROR", "读卡失败", `请重新放卡（${why}）`, "warn", "refused"),
  noCase: (cardId: string) =>
    p(
      "NO_CASE",
      "此卡无待处理车辆",
      `卡 ${tail(cardId)}：请核对车辆，或用 etc-lane booth take 选择`,
      "warn",
      "refused",
    ),
  wrongCard: (cardId: string) =>
    p("WRONG_CARD", "卡号不符", `请使用该车辆的卡片 ${tail(cardId)}`, "warn", "refused"),
  needClass: (mismatch?: { entry: number; charged: number }) =>
    mismatch
      ? p(
          "NEED_CLASS",
          "车型不符",
          `入口车型 ${mismatch.entry}，本车道车型 ${mismatch.charged}：请核对后用 etc-lane booth take --class N 输入车型`,
          "warn",
          "refused",
        )
      : p("NEED_CLASS", "缺少车型", "请用 etc-lane booth take --class N 输入车型", "warn", "refused"),
  alreadyTraded: () =>
    p("ALREADY_TRADED", "已交易", "此卡刚已在本车道交易：请取回卡片，勿重复收费", "warn", "refused"),
  held: () => p("HELD", "存在未确认交易", "此卡有未确认交易：请稍候或联系监控中心", "stop", "refused"),
  refused: (code: string, text: string, detail: string) =>
    p(`REFUSED_${code}`, text, detail, "stop", "refused"),
  paying: (amount: number) => p("PAYING", `扣费 ${yuan(amount)}`, "扣费中：请勿移动卡片", "info"),
  paid: (amount: number, balance: number | null, entry: boolean) =>
    entry
      ? p("PAID", "入口信息已写入", "请放行", "ok", "done")
      : p(
          "PAID",
          `扣费 ${yuan(amount)}`,
          `${balance !== null ? `余额 ${yuan(balance)} ` : ""}请放行`,
          "ok",
          "done",
        ),
  settled: (amount: number) =>
    p("SETTLED", `已确认扣费 ${yuan(amount)}`, "上次交易卡片已扣款：请放行，勿重复收费", "ok", "done"),
  /**
   * settled as paid (by the lane meanwhile, or by the booth from the card's real TAC) after an earlier pass
   * had noted the card's debit shown: that pass told the collector to release the vehicle by hand
   * (PAID_UNSETTLED), or refused the card after the note (listed, the list's lookup failed, another
   * vehicle's case): no barrier, whichever it was (settle.ts); the collector releases the vehicle if it is
   * still there
   */
  settledReleasedBefore: (amount: number) =>
    p(
      "SETTLED_NO_BARRIER",
      `已确认扣费 ${yuan(amount)}`,
      "此卡此前已判过，未抬杆：车辆仍在时请人工放行，勿重复收费",
      "warn",
      "done",
    ),
  notDebited: () => p("NOT_DEBITED", "上次交易未扣款", "已核实未扣款：重新扣费中", "info"),
  paidUnsettled: (amount: number) =>
    p(
      "PAID_UNSETTLED",
      `已扣费 ${yuan(amount)}（待核实）`,
      "卡片显示已扣款：请人工放行并上报，勿重复收费",
      "warn",
      "done",
    ),
  unknown: () => p("UNKNOWN", "交易无法确认", "请联系监控中心，勿重复收费", "stop", "refused"),
  putBack: (cardId: string, secondsLeft: number) =>
    p(
      "PUT_BACK",
      "请放回原卡",
      `扣款未确认：请将原卡 ${tail(cardId)} 放回读卡器（剩余 ${secondsLeft} 秒）`,
      "warn",
      "refused",
    ),
  notOriginal: (cardId: string, secondsLeft: number) =>
    p("NOT_ORIGINAL", "不是原卡", `请放回原卡 ${tail(cardId)}（剩余 ${secondsLeft} 秒）`, "stop", "refused"),
  recovered: (amount: number) =>
    p("RECOVERED", `扣费 ${yuan(amount)}`, "已找回交易凭证：请放行", "ok", "done"),
  recordedNoCard: (amount: number, cardId: string) =>
    p(
      "RECORDED_NO_CARD",
      `已扣费 ${yuan(amount)}（记录已补写）`,
      `原卡 ${tail(cardId)} 不在读卡器上，未抬杆：车辆仍在时请核对原卡后人工放行，勿重复收费`,
      "warn",
      "done",
    ),
  /** why the debit stays unconfirmed: UnconfirmedHow */
  unconfirmed: (cardId: string, how: UnconfirmedHow) =>
    p(
      "UNCONFIRMED",
      "扣款未确认",
      how === "card-cannot-say"
        ? `原卡 ${tail(cardId)} 无法确认扣款：已记为待核实交易，请上报，勿重复收费`
        : how === "reader-down"
          ? "读卡器未连接，无法确认扣款：已记为待核实交易，请上报，勿重复收费"
          : `原卡 ${tail(cardId)} 未放回：已记为待核实交易，请上报`,
      "stop",
      "refused",
    ),
  psamError: (what: string) =>
    p("PSAM_ERROR", "PSAM故障，未扣款", `${what}：请检查PSAM卡后重试`, "stop", "refused"),
  cancelled: () => p("CANCELLED", "已取消", "该车辆已转人工处理", "info"),
  caseClosed: () => p("CASE_CLOSED", "未扣款", "该车辆的待处理记录已关闭：请取回卡片", "warn", "refused"),
} as const;
