/** What a simulated reader command produced, before the reply goes out. */
import type { CardCommit } from "../card/sim-card.js";

export interface Outcome {
  /** The reply status (firmware-bridge/reader/status.ts). */
  status: number;
  data?: Buffer;
  /** Card commits made during the command, recorded in the ledger once the reply is out (or lost). */
  commits: CardCommit[];
  /** INS of the APDUs the command carried (for events and scripts). */
  ins: number[];
  /** A card removal to announce (CARD_EVENT) after the reply. */
  removed?: string;
}

export function outcome(status: number, extra: Partial<Outcome> = {}): Outcome {
  return { status, commits: [], ins: [], ...extra };
}

export function isOk(r: Buffer): boolean {
  return r.length >= 2 && r[r.length - 2] === 0x90 && r[r.length - 1] === 0x00;
}
