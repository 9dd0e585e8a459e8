/**
 * The faults armed in a simulated reader, and the one place that decides which fault applies to what:
 * each `take*` finds the first armed fault that matches, counts it down (`times`) and reports it.
 */

import { hex2 } from "../../firmware-bridge/framing/bytes.js";
import { type ApduMatch, matches, type ReaderFault } from "./faults.js";

type Armed = ReaderFault & { left: number };
/** The commands whose answer carries a TAC, by INS: DEBIT FOR CAPP PURCHASE and GET TRANSACTION PROVE. */
const ZERO_TAC_ON: Readonly<Record<number, "debit" | "prove">> = { 84: "debit", 90: "prove" };
type OfKind<K extends ReaderFault["kind"]> = Extract<ReaderFault, { kind: K }>;

export class FaultBook {
  private readonly armed: Armed[] = [];

  /** `applied(kind, detail)` hears of every fault as it takes effect. */
  constructor(private readonly applied: (kind: string, detail: string) => void) {}

  arm(f: ReaderFault): void {
    this.armed.push({ ...f, left: "times" in f ? f.times : 1 });
  }

  /** The first armed fault of `kind`, consumed once. */
  take<K extends ReaderFault["kind"]>(kind: K): OfKind<K> | undefined {
    const i = this.armed.findIndex((f) => f.kind === kind);
    return i < 0 ? undefined : (this.consume(i, "applied") as unknown as OfKind<K>);
  }

  /** The first armed fault of `kind` whose APDU match fits this APDU to `target`. */
  takeMatching<K extends "card-mute" | "psam-error">(
    kind: K,
    target: "card" | "psam",
    apdu: Buffer,
  ): OfKind<K> | undefined {
    const i = this.armed.findIndex(
      (f) => f.kind === kind && matches((f as { when: ApduMatch }).when, target, apdu),
    );
    return i < 0
      ? undefined
      : (this.consume(i, `applied at ${target} INS ${hex2(apdu[1] as number)}`) as unknown as OfKind<K>);
  }

  /** The first armed hold whose APDU match fits one of this command's APDUs (to `target`). */
  takeHold(target: "card" | "psam", apdus: readonly Buffer[]): OfKind<"hold"> | undefined {
    const i = this.armed.findIndex((f) => f.kind === "hold" && apdus.some((a) => matches(f.when, target, a)));
    if (i < 0) return undefined;
    const ins = apdus.map((a) => hex2(a[1] as number)).join(",");
    return this.consume(i, `applied at ${target} INS ${ins}`) as unknown as OfKind<"hold">;
  }

  /** Drops every armed fault of `kind` that has not fired yet; returns how many. */
  disarm(kind: ReaderFault["kind"]): number {
    const before = this.armed.length;
    for (let i = this.armed.length - 1; i >= 0; i--)
      if ((this.armed[i] as Armed).kind === kind) this.armed.splice(i, 1);
    return before - this.armed.length;
  }

  /**
   * Whether an armed card-zero-tac applies to this card APDU (DEBIT, INS 54, or GET TRANSACTION PROVE,
   * INS 5A, as its `on` says); consumed once when it does. Asked only for an answer that carries a TAC.
   */
  takeZeroTac(apdu: Buffer): boolean {
    const on = ZERO_TAC_ON[apdu[1] as number];
    if (on === undefined) return false;
    const i = this.armed.findIndex((f) => f.kind === "card-zero-tac" && (f.on === undefined || f.on === on));
    if (i < 0) return false;
    this.consume(i, `applied at card INS ${hex2(apdu[1] as number)}`);
    return true;
  }

  /** A card removal due at this card APDU: before the card runs it (commit false) or after (true). */
  takeRemoval(apdu: Buffer): { commit: boolean } | undefined {
    for (let i = 0; i < this.armed.length; i++) {
      const f = this.armed[i] as Armed;
      let commit: boolean | undefined;
      if (f.kind === "remove-card" && matches(f.when, "card", apdu)) commit = f.commit;
      else if (f.kind === "card-removed-before-debit" && apdu[1] === 0x54) commit = false;
      else if (f.kind === "card-removed-after-debit" && apdu[1] === 0x54) commit = true;
      if (commit !== undefined) {
        this.consume(i, `applied at card INS ${hex2(apdu[1] as number)}`);
        return { commit };
      }
    }
    return undefined;
  }

  private consume(i: number, detail: string): Armed {
    const f = this.armed[i] as Armed;
    f.left--;
    if (f.left <= 0) this.armed.splice(i, 1);
    this.applied(f.kind, detail);
    return f;
  }
}
