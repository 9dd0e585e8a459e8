/**
 * An in-process, connected pair of transports for tests and the embedded demo: bytes written on one
 * end arrive on the other asynchronously (a microtask later), optionally split into random chunk
 * sizes to exercise reassembly. `unplug()` simulates a cable pull on both ends.
 */
import { BehaviorSubject, type Observable, Subject } from "rxjs";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../errors.js";
import type { Transport, TransportState, TransportStatus } from "./types.js";

export interface PairOptions {
  /** Split every write into chunks of at most this many bytes (default: whole writes). */
  maxChunk?: number;
  /** Deterministic chunk sizes from this seed when maxChunk is set. */
  seed?: number;
  names?: [string, string];
}

class PairEnd implements Transport {
  readonly name: string;
  private readonly dataSubject = new Subject<Buffer>();
  private readonly stateSubject = new BehaviorSubject<TransportState>({ status: "closed" });
  readonly data$: Observable<Buffer> = this.dataSubject.asObservable();
  readonly state$: Observable<TransportState> = this.stateSubject.asObservable();
  peer!: PairEnd;
  /** Bytes written by this end, for assertions. */
  readonly written: Buffer[] = [];
  private plugged = true;

  constructor(
    name: string,
    private readonly chunker: (b: Buffer) => Buffer[],
  ) {
    this.name = name;
  }

  get status(): TransportStatus {
    return this.stateSubject.value.status;
  }

  async open(): Promise<void> {
    if (!this.plugged) {
      const error = new EtcError(ErrorCodes.PortNotFound, `${this.name}: no such device (unplugged)`);
      this.stateSubject.next({ status: "closed", error });
      throw error;
    }
    if (this.status !== "open") this.stateSubject.next({ status: "open" });
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.status !== "open")
      throw new EtcError(ErrorCodes.PortClosed, `${this.name}: write while ${this.status}`, NOTHING_WRITTEN);
    const copy = Buffer.from(bytes);
    this.written.push(copy);
    const peer = this.peer;
    queueMicrotask(() => {
      if (peer.status !== "open") return; // bytes into a closed port are lost, as on a real line
      for (const c of this.chunker(copy)) peer.receive(c);
    });
  }

  async close(): Promise<void> {
    if (this.status !== "closed") this.stateSubject.next({ status: "closed" });
  }

  /** Inject bytes as if they arrived from the far side. */
  receive(bytes: Buffer): void {
    if (this.status === "open") this.dataSubject.next(bytes);
  }

  setPlugged(p: boolean): void {
    this.plugged = p;
    if (!p && this.status === "open") {
      this.stateSubject.next({
        status: "disconnected",
        error: new EtcError(ErrorCodes.PortDisconnected, `${this.name}: device disconnected`),
      });
    }
  }
}

export interface TransportPair {
  /** The lane controller's end. */
  readonly lane: Transport & { written: Buffer[]; receive(b: Buffer): void };
  /** The device (RSU simulator) end. */
  readonly device: Transport & { written: Buffer[]; receive(b: Buffer): void };
  /** Pull the cable: both ends go "disconnected" and opens fail until `replug()`. */
  unplug(): void;
  replug(): void;
}

export function createTransportPair(opts: PairOptions = {}): TransportPair {
  let s = (opts.seed ?? 1) >>> 0 || 1;
  const rnd = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
  const chunker = (b: Buffer): Buffer[] => {
    if (!opts.maxChunk) return [b];
    const out: Buffer[] = [];
    for (let i = 0; i < b.length; ) {
      const n = 1 + Math.floor(rnd() * opts.maxChunk);
      out.push(b.subarray(i, i + n));
      i += n;
    }
    return out;
  };
  const [ln, dn] = opts.names ?? ["pair:lane", "pair:device"];
  const lane = new PairEnd(ln, chunker);
  const device = new PairEnd(dn, chunker);
  lane.peer = device;
  device.peer = lane;
  return {
    lane,
    device,
    unplug() {
      lane.setPlugged(false);
      device.setPlugged(false);
    },
    replug() {
      lane.setPlugged(true);
      device.setPlugged(true);
    },
  };
}
