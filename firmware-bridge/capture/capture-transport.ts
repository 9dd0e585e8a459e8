/**
 * The capture as a transport decorator: any port (the RSU's, the card reader's) wrapped with
 * `capturingTransport(inner, writer, name, description)` behaves exactly as `inner`, and every byte
 * it writes or reads, and every state change, goes to the capture with a monotonic timestamp.
 * Written bytes are stamped when the lane handed them to the port (recorded once the write settled: a
 * write that resolves only after a drain, firmware-bridge/transport/serial.ts, would otherwise be stamped
 * after the peer's answer to it), read bytes when they arrived (the chunks read together in one
 * event-loop turn at the time of the first: ./capture-writer.ts). A write that failed is recorded too,
 * stamped the same way, with a comment `write failed: <why>`, unless the port refused it before any byte
 * went out (`details.nothingWritten`, firmware-bridge/errors.ts): a drain that failed comes after the
 * bytes left, so the peer may have them (a DEBIT, a C6).
 */
import type { Observable } from "rxjs";
import { wroteNothing } from "../errors.js";
import type { Transport, TransportKind, TransportState, TransportStatus } from "../transport/types.js";
import type { CaptureWriter } from "./capture-writer.js";
import { RTAC_EVENT } from "./pcapng.js";

class CapturingTransport implements Transport {
  readonly data$: Observable<Buffer>;
  readonly state$: Observable<TransportState>;
  private readonly iface: number;

  constructor(
    private readonly inner: Transport,
    private readonly writer: CaptureWriter,
    port: string,
    description: string,
  ) {
    this.iface = writer.addPort(port, description);
    // One subscription each, made first: every chunk is recorded once, when it arrived, however many
    // subscribers the port has; they read the inner port's streams directly.
    inner.data$.subscribe((b) => writer.record(this.iface, RTAC_EVENT.dataRx, b));
    let last: TransportStatus | undefined;
    inner.state$.subscribe((s) => {
      if (s.status === last) return;
      last = s.status;
      const why = s.error ? `: ${s.error.message}` : "";
      writer.record(this.iface, RTAC_EVENT.statusChange, Buffer.alloc(0), `${s.status}${why}`);
    });
    this.data$ = inner.data$;
    this.state$ = inner.state$;
  }

  get name(): string {
    return this.inner.name;
  }

  /** the inner port's medium: the link's reconnect policy depends on it (a silent TCP RSU is reconnected) */
  get kind(): TransportKind | undefined {
    return this.inner.kind;
  }

  get status(): TransportStatus {
    return this.inner.status;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  async write(bytes: Buffer): Promise<void> {
    const at = this.writer.time();
    try {
      await this.inner.write(bytes);
    } catch (e) {
      if (!wroteNothing(e)) {
        const why = e instanceof Error ? e.message : String(e);
        this.writer.record(this.iface, RTAC_EVENT.dataTx, bytes, `write failed: ${why}`, at);
      }
      throw e;
    }
    this.writer.record(this.iface, RTAC_EVENT.dataTx, bytes, undefined, at);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * `inner`, captured as interface `port` ("rsu", "reader"); `description` says which side and what it
 * speaks (`decode --capture` reads "protocol=legacy|national|etc-reader", `etc-sim replay` an RSU port's).
 */
export function capturingTransport(
  inner: Transport,
  writer: CaptureWriter,
  port: string,
  description: string,
): Transport {
  return new CapturingTransport(inner, writer, port, description);
}
