/**
 * The simulated reader's PSAM slots: which slot holds a PSAM, whether it was reset since power-up, and
 * the PSAM side of an exchange, where the PSAM faults apply (absent, mute, an error status word).
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { encodeApduList } from "../../firmware-bridge/reader/apdu-list.js";
import { ReaderStatus } from "../../firmware-bridge/reader/status.js";
import { exchangeResolvingT0, T0AnswerLost } from "../../firmware-bridge/reader/t0.js";
import type { SimPsam } from "../card/sim-psam.js";
import type { FaultBook } from "./fault-book.js";
import { isOk, type Outcome, outcome } from "./outcome.js";

export interface PsamSlotSpec {
  slot: number;
  /** 12 hex digits: the PSAM terminal number. */
  terminalNo: string;
  /** First terminal transaction serial (default 1). */
  serial?: number;
  /** Answer as a T=0 PSAM (61xx / GET RESPONSE), which the reader resolves. Default true. */
  t0?: boolean;
  /** The slot starts empty. */
  absent?: boolean;
}

export const DEFAULT_SIM_PSAM: PsamSlotSpec = { slot: 1, terminalNo: "430100000099", serial: 1, t0: true };

/**
 * The first PSAM whose slot an earlier one has (`psams.N.slot` and why), or undefined: a slot holds one
 * PSAM, and a second one for it would replace the first, silently.
 */
export function repeatedSlot(
  specs: readonly Pick<PsamSlotSpec, "slot">[],
): { index: number; path: string; message: string } | undefined {
  const seen = new Map<number, number>();
  for (const [i, { slot }] of specs.entries()) {
    const first = seen.get(slot);
    if (first !== undefined)
      return {
        index: i,
        path: `psams.${i}.slot`,
        message: `slot ${slot} is configured already (psams.${first}); one PSAM per slot`,
      };
    seen.set(slot, i);
  }
  return undefined;
}

interface Slot {
  /** The slot's PSAM; it keeps its serial counter while it is out of the slot. */
  psam: SimPsam;
  inserted: boolean;
  /** Reset since it was inserted or since the reader powered up. */
  powered: boolean;
}

export class PsamSlots {
  private readonly slots = new Map<number, Slot>();

  constructor(
    private readonly faults: FaultBook,
    private readonly createPsam: (spec: PsamSlotSpec) => SimPsam,
    specs: readonly PsamSlotSpec[],
  ) {
    const repeat = repeatedSlot(specs);
    if (repeat) throw new EtcError(ErrorCodes.ConfigInvalid, `reader ${repeat.path}: ${repeat.message}`);
    for (const spec of specs) this.configure(spec);
  }

  /** The highest slot number configured (0 without any). */
  get highest(): number {
    return Math.max(0, ...this.slots.keys());
  }

  configure(spec: PsamSlotSpec): void {
    this.slots.set(spec.slot, {
      psam: this.createPsam(spec),
      inserted: spec.absent !== true,
      powered: false,
    });
  }

  /**
   * Throws naming `slotNo` (and `what` asked) when no PSAM was configured there: a PSAM can only come
   * back to the slot it was taken from (a new one would need its own terminal number and serial).
   */
  checkConfigured(slotNo: number, what: string): void {
    if (this.slots.has(slotNo)) return;
    const known = [...this.slots.keys()].sort((a, b) => a - b);
    throw new Error(
      `${what}: slot ${slotNo} has no PSAM configured (configured: ${known.length > 0 ? `slot ${known.join(", ")}` : "none"}); a PSAM comes back only to a slot configured with one (a scenario's psams, absent: true to start empty)`,
    );
  }

  /**
   * Take the PSAM out of `slot` / put it back (unpowered, serial counter kept); true when that changed the
   * slot. Putting one back into a slot never configured throws (checkConfigured); taking one out of a slot
   * empty already or never configured, or putting back one that is in, changes nothing (false).
   */
  setInserted(slotNo: number, inserted: boolean): boolean {
    const slot = this.slots.get(slotNo);
    if (!slot) {
      if (inserted) this.checkConfigured(slotNo, "psam-present");
      return false;
    }
    if (slot.inserted === inserted) return false;
    slot.inserted = inserted;
    slot.powered = false;
    return true;
  }

  /** The PSAM in `slot`, if one is inserted. */
  psam(slotNo: number): SimPsam | undefined {
    const s = this.slots.get(slotNo);
    return s?.inserted ? s.psam : undefined;
  }

  /** Reader power lost: every PSAM needs a reset again. */
  powerDown(): void {
    for (const s of this.slots.values()) s.powered = false;
  }

  reset(slotNo: number): Outcome {
    const slot = this.slots.get(slotNo);
    if (!slot?.inserted) return outcome(ReaderStatus.psamAbsent);
    if (this.faults.take("psam-mute")) return outcome(ReaderStatus.psamMute);
    slot.psam.reset();
    slot.powered = true;
    return outcome(ReaderStatus.ok, { data: slot.psam.atr });
  }

  /** APDUs to the PSAM in `slot`, 61xx/6Cxx resolved, stopping after the first SW that is not 9000. */
  exchange(slotNo: number, apdus: Buffer[], list: boolean): Outcome {
    const ins = apdus.map((a) => a[1] as number);
    const slot = this.slots.get(slotNo);
    if (!slot?.inserted) return outcome(ReaderStatus.psamAbsent, { ins });
    if (!slot.powered || this.faults.take("psam-mute")) return outcome(ReaderStatus.psamMute, { ins });
    const psam = slot.psam;
    const results: Buffer[] = [];
    for (const apdu of apdus) {
      const err = this.faults.takeMatching("psam-error", "psam", apdu);
      let r: Buffer;
      try {
        r = err ? Buffer.from(err.sw, "hex") : exchangeResolvingT0((c) => psam.apdu(c), apdu);
      } catch (e) {
        // the PSAM ran the APDU (61xx) but its answer could not be fetched (docs/reader.md §5)
        if (e instanceof T0AnswerLost)
          return outcome(ReaderStatus.psamMute, { ins, ...(list ? { data: encodeApduList(results) } : {}) });
        throw e;
      }
      results.push(r);
      if (!isOk(r)) break;
    }
    return outcome(ReaderStatus.ok, { data: list ? encodeApduList(results) : results[0], ins });
  }
}
