/**
 * A CardReader that counts the time its caller spent waiting on the reader (every call, from the call
 * to its settlement): the line, the reader, the card and the PSAM. What a booth transaction takes beyond
 * that is the lane's own share (docs/booth.md §8, measured by `npm run bench -- --only booth`).
 */
import type { CardReader, CommandOptions } from "../../firmware-bridge/reader/card-reader.js";

export class ReaderClock {
  waitMs = 0;
  calls = 0;
}

export function timedReader(inner: CardReader, clock: ReaderClock, now: () => number): CardReader {
  const timed =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const t = now();
      clock.calls++;
      try {
        return await f(...a);
      } finally {
        clock.waitMs += now() - t;
      }
    };
  return {
    open: () => inner.open(),
    close: () => inner.close(),
    get state$() {
      return inner.state$;
    },
    get cardEvents$() {
      return inner.cardEvents$;
    },
    activate: timed((s?: AbortSignal) => inner.activate(s)),
    halt: timed((s?: AbortSignal) => inner.halt(s)),
    cardApdu: timed((a: Buffer, s?: AbortSignal, o?: CommandOptions) => inner.cardApdu(a, s, o)),
    cardApduList: timed((a: Buffer[], s?: AbortSignal) => inner.cardApduList(a, s)),
    psamReset: timed((slot: number, s?: AbortSignal) => inner.psamReset(slot, s)),
    psamApdu: timed((slot: number, a: Buffer, s?: AbortSignal) => inner.psamApdu(slot, a, s)),
    psamApduList: timed((slot: number, a: Buffer[], s?: AbortSignal) => inner.psamApduList(slot, a, s)),
    signal: timed((s: Parameters<CardReader["signal"]>[0]) => inner.signal(s)),
  };
}
