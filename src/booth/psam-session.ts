/**
 * The booth's PSAM on the reader: reset, terminal number, DF01, once per reader session (a replugged or
 * reconnected reader has its PSAMs unpowered), then MAC1 and the MAC2 check. It also knows whether the
 * PSAM's purchase session of a given MAC1 still lives (same reader session, no MAC1 since), which is
 * when a recovered MAC2 can still be verified.
 */
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import {
  DEFAULT_PURCHASE_KEYS,
  dataOf,
  expectData,
  type Mac1Input,
  PSAM,
  type PurchaseKeys,
  parseMac1,
  swOf,
} from "./apdus.js";
import { BoothErrorCodes } from "./errors.js";

/** Names one MAC1 of this process: its PSAM session lives while `current(ref)` is true. */
export interface Mac1Ref {
  epoch: number;
  mac1: number;
}

export class PsamSession {
  /** 6-byte PSAM terminal number of the current reader session, undefined until prepared. */
  terminalNo: Buffer | undefined;
  atr: Buffer | undefined;
  private epoch = 0;
  private mac1Count = 0;
  private preparing: Promise<Buffer> | undefined;

  constructor(
    private readonly reader: CardReader,
    readonly slot: number,
    /** the purchase keys this PSAM and the cards share: INIT's key index, MAC1's diversification levels */
    readonly keys: PurchaseKeys = DEFAULT_PURCHASE_KEYS,
  ) {}

  get ready(): boolean {
    return this.terminalNo !== undefined;
  }

  /** The reader session ended (link down, reconnect): the PSAM must be prepared again. */
  invalidate(): void {
    this.terminalNo = undefined;
    this.preparing = undefined;
  }

  /** Reset, terminal number, select DF01 (once per reader session); the terminal number. */
  prepare(signal?: AbortSignal): Promise<Buffer> {
    if (this.terminalNo) return Promise.resolve(this.terminalNo);
    this.preparing ??= this.doPrepare(signal).finally(() => {
      this.preparing = undefined;
    });
    return this.preparing;
  }

  private async doPrepare(signal?: AbortSignal): Promise<Buffer> {
    const step = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
      try {
        return await f();
      } catch (e) {
        throw linkFault(e) ? e : psamError(what, e);
      }
    };
    this.atr = await step("reset", () => this.reader.psamReset(this.slot, signal));
    const t = await step("terminal number", () => this.reader.psamApdu(this.slot, PSAM.terminalNo(), signal));
    const terminal = checked("terminal number (00B0960006)", t, 6);
    const sel = await step("select DF01", () => this.reader.psamApdu(this.slot, PSAM.selectDf01(), signal));
    if (swOf(sel) !== "9000") throw psamError("select DF01 (00A4000002DF01)", undefined, swOf(sel));
    this.epoch++;
    this.terminalNo = terminal;
    return terminal;
  }

  /**
   * MAC1: the PSAM transaction serial, MAC1, and the reference of this PSAM session. A PSAM that does
   * not answer (PSAM_MUTE: a reader that lost power resets its PSAMs without the link noticing) is
   * prepared again and asked once more, if it still has the terminal number INIT was given.
   */
  async mac1(
    i: Mac1Input,
    signal?: AbortSignal,
  ): Promise<{ psamTransSerial: number; mac1: Buffer; ref: Mac1Ref }> {
    let r: Buffer;
    try {
      r = await this.reader.psamApdu(this.slot, PSAM.mac1(i, this.keys.levels), signal);
    } catch (e) {
      // a reader gone silent may have lost power, its PSAM unpowered with it: prepared again next time
      if (isEtcError(e, ReaderErrorCodes.Timeout)) this.invalidate();
      if (linkFault(e)) throw e;
      if (!isEtcError(e, ReaderErrorCodes.PsamMute)) throw psamError("MAC1", e);
      const before = this.terminalNo;
      this.invalidate();
      const after = await this.prepare(signal);
      if (!before || !after.equals(before))
        throw psamError(
          "MAC1",
          new Error(
            `terminal number changed after a PSAM reset (${before?.toString("hex")} -> ${after.toString("hex")})`,
          ),
        );
      try {
        r = await this.reader.psamApdu(this.slot, PSAM.mac1(i, this.keys.levels), signal);
      } catch (e2) {
        throw linkFault(e2) ? e2 : psamError("MAC1", e2);
      }
    }
    this.mac1Count++;
    if (swOf(r) !== "9000") throw psamError("MAC1 (8070)", undefined, swOf(r));
    let m: ReturnType<typeof parseMac1>;
    try {
      m = parseMac1(r);
    } catch (e) {
      // 9000 with another length than serial and MAC1: the PSAM's fault, not the card's (no DEBIT was sent)
      throw psamError("MAC1 (8070)", e);
    }
    return { ...m, ref: { epoch: this.epoch, mac1: this.mac1Count } };
  }

  /** True while the PSAM session of that MAC1 lives: same reader session, no MAC1 since, not verified yet. */
  current(ref: Mac1Ref | undefined): boolean {
    return ref !== undefined && this.ready && ref.epoch === this.epoch && ref.mac1 === this.mac1Count;
  }

  /**
   * Verify the card's MAC2 (8072) in the session of `ref`: "verified", "rejected" (the PSAM says the MAC2
   * is wrong: the card has debited all the same), or "session-gone" (not sent: the PSAM was reset or
   * computed another MAC1 since). A reader failure is "unverified".
   */
  async verifyMac2(
    mac2: Buffer,
    ref: Mac1Ref | undefined,
    signal?: AbortSignal,
  ): Promise<{ result: "verified" | "rejected" | "session-gone" | "unverified"; sw?: string }> {
    if (!this.current(ref)) return { result: "session-gone" };
    this.mac1Count++; // 8072 ends the PSAM's purchase session, whatever it answers
    let r: Buffer;
    try {
      r = await this.reader.psamApdu(this.slot, PSAM.verifyMac2(mac2), signal);
    } catch (e) {
      if (isEtcError(e, ReaderErrorCodes.PsamMute)) this.invalidate(); // powered down: prepare again next time
      return { result: "unverified", sw: e instanceof EtcError ? e.code : String(e) };
    }
    return swOf(r) === "9000" ? { result: "verified" } : { result: "rejected", sw: swOf(r) };
  }
}

function checked(what: string, r: Buffer, length: number): Buffer {
  try {
    return expectData(what, r, length);
  } catch {
    throw psamError(what, undefined, swOf(r) || dataOf(r).toString("hex"));
  }
}

/**
 * The reader's or its link's failure rather than the PSAM's: the link lost (LinkDown), the command aborted
 * (Aborted: the booth stopping, a cancel), the reader busy with an earlier command (Busy), or the reader
 * silent (Timeout: no answer at all within the command's time, as a reader that lost power or its cable is;
 * a PSAM that does not answer is the reader's PSAM_MUTE, answered in time). Whether the PSAM ran the command
 * does not matter here: every PSAM step comes before the debit intent and DEBIT, so no money moved. Passed
 * on as it is (charge.ts treats it as a reader error: no PSAM screen, alarm or count); a PSAM status word, a
 * malformed answer, PSAM_ABSENT and PSAM_MUTE (after the retry) stay PSAM errors.
 */
function linkFault(e: unknown): boolean {
  return (
    isEtcError(e, ReaderErrorCodes.LinkDown) ||
    isEtcError(e, ReaderErrorCodes.Aborted) ||
    isEtcError(e, ReaderErrorCodes.Busy) ||
    isEtcError(e, ReaderErrorCodes.Timeout)
  );
}

/** A PSAM failure: nothing was debited (the booth only sends DEBIT after MAC1 succeeded). */
export function psamError(what: string, cause?: unknown, sw?: string): EtcError {
  const why = sw ? `answered ${sw}` : cause instanceof Error ? cause.message : String(cause);
  return new EtcError(
    BoothErrorCodes.Psam,
    `PSAM ${what} failed: ${why}`,
    {
      step: what,
      ...(sw ? { sw } : {}),
      ...(cause instanceof EtcError ? { readerCode: cause.code } : {}),
    },
    cause ? { cause } : undefined,
  );
}
