/**
 * A serial line's speed on a pseudo-terminal (which has none): every chunk takes its line time, 10 bits a
 * byte (8N1) at `baud`, in each direction on its own (full duplex), one chunk after another. Wrapped
 * around the simulated device's end, it makes what the lane measures include the bytes' line time
 * (test/bench/booth.ts). A virtual line clock per direction: a late timer delays one chunk, never the
 * ones after it. Node's timers have a resolution of 1 ms (and truncate fractions), so each chunk is
 * handed on at the whole millisecond nearest to when its last byte would have arrived: within about
 * 0.5 ms either way, about right on average over a transaction's frames.
 */
import { Subject } from "rxjs";
import type { Transport } from "../../firmware-bridge/transport/types.js";

export interface PacedLine extends Transport {
  /** bytes that crossed the line (in, out) */
  readonly bytes: { rx: number; tx: number };
}

export function pacedLine(inner: Transport, baud: number): PacedLine {
  const byteMs = 10_000 / baud;
  let rxFree = 0;
  let txFree = 0;
  const data = new Subject<Buffer>();
  const bytes = { rx: 0, tx: 0 };
  inner.data$.subscribe((chunk) => {
    const now = performance.now();
    rxFree = Math.max(now, rxFree) + chunk.length * byteMs;
    bytes.rx += chunk.length;
    setTimeout(() => data.next(chunk), Math.round(rxFree - now));
  });
  return {
    name: `paced(${baud}):${inner.name}`,
    data$: data.asObservable(),
    get state$() {
      return inner.state$;
    },
    get status() {
      return inner.status;
    },
    bytes,
    open: () => inner.open(),
    close: () => inner.close(),
    write(b: Buffer): Promise<void> {
      const now = performance.now();
      txFree = Math.max(now, txFree) + b.length * byteMs;
      bytes.tx += b.length;
      const at = txFree;
      return new Promise<void>((resolve, reject) => {
        setTimeout(() => inner.write(b).then(resolve, reject), Math.round(at - now));
      });
    },
  };
}
