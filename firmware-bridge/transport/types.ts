/**
 * The one seam every byte passes through: a real serial port, a pseudo-terminal, a TCP
 * socket and the in-process pair all implement `Transport`. Everything above it (deframer, link,
 * simulator) is identical whatever the medium.
 */
import type { Observable } from "rxjs";
import type { EtcError } from "../errors.js";

export type TransportStatus = "closed" | "opening" | "open" | "disconnected";

export interface TransportState {
  readonly status: TransportStatus;
  /** Why we are not open: a failed open, an unplug (PortDisconnected), a lock held elsewhere... */
  readonly error?: EtcError;
}

/**
 * The medium behind a transport, where it changes what the link does about a silent peer (its
 * reconnect policy per transport, firmware-bridge/link/link-supervisor.ts): "tcp" for a connection the
 * lane opened to an RSU. A transport that does not say is treated as a port that stays open.
 */
export type TransportKind = "serial" | "tcp" | "in-process";

export interface Transport {
  /** Human-readable id used in logs and errors, e.g. "serial:/dev/ttyUSB0", "tcp:10.0.0.5:21003". */
  readonly name: string;
  /** The medium, for the link's reconnect policy; absent: a port that stays open. */
  readonly kind?: TransportKind;
  /** Bytes as they arrive, in arbitrary chunks (never assume one chunk is one frame). */
  readonly data$: Observable<Buffer>;
  /** Current state first, then every change. */
  readonly state$: Observable<TransportState>;
  readonly status: TransportStatus;
  /** Opens the medium; rejects with an EtcError naming the port (locked, not found, refused...). */
  open(): Promise<void>;
  /**
   * Hands bytes to the medium; resolves once they are accepted (drained to the OS), which is the
   * instant latency measurements call "handed to the port". Rejects with PortClosed when not open.
   */
  write(bytes: Buffer): Promise<void>;
  /** Closes; idempotent. State becomes "closed" (never "disconnected", which means the far side went). */
  close(): Promise<void>;
}
