/**
 * A command the `slow` fault delays (sim/reader/faults.ts): the WAIT frames it sends meanwhile, the
 * moment it runs, and which card it arrived for. The reader runs a card command on the card that was
 * in the field when the command arrived (docs/reader.md §4, §8.3), never on one that came later.
 */
import type { AnyReaderCommand } from "../../firmware-bridge/reader/commands.js";
import type { ReaderWireFrame } from "../../firmware-bridge/reader/frame.js";
import type { FieldPresence } from "./card-field.js";

export class SlowCommand {
  private readonly timers: ReturnType<typeof setTimeout>[] = [];

  constructor(
    readonly frame: ReaderWireFrame,
    readonly def: AnyReaderCommand,
    /** For a card command: the field as the command found it; undefined for any other command. */
    readonly arrivedFor: FieldPresence | undefined,
  ) {}

  /** `sendWait(leftMs)` every `waitEveryMs` (0: never) until `delayMs`, then `run()`. */
  start(
    delay: { delayMs: number; waitEveryMs: number },
    sendWait: (leftMs: number) => void,
    run: () => void,
  ): void {
    if (delay.waitEveryMs > 0) {
      for (let t = delay.waitEveryMs; t < delay.delayMs; t += delay.waitEveryMs) {
        const left = delay.delayMs - t;
        this.timers.push(setTimeout(() => sendWait(left), t));
      }
    }
    this.timers.push(setTimeout(run, delay.delayMs));
  }

  /** No more WAIT frames, and it never runs. */
  cancel(): void {
    for (const t of this.timers.splice(0)) clearTimeout(t);
  }
}
