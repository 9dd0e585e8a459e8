/**
 * The booth card reader as the lane sees it, whatever its vendor: a desktop contact/contactless IC card
 * reader with PSAM slots. `FramedCardReader` (our framing, docs/reader.md) implements it; a driver for
 * another vendor's reader implements the same interface beside it.
 *
 * Contract for every implementation:
 *  - APDU replies are final R-APDUs (data ‖ SW1 SW2): 61xx never reaches the caller, nor 6Cxx to a
 *    case-2 APDU (a 6Cxx to any other APDU is its answer: the command is never sent twice, t0.ts);
 *  - one command at a time: calls queue and run in order;
 *  - failures are EtcErrors with the ReaderErrorCodes (firmware-bridge/reader/errors.ts), each with
 *    `details.executed` "no" (the card/PSAM never got it) or "unknown" (it may have run);
 *  - an AbortSignal ends the wait at once (E811); a queued command is then never sent;
 *  - a command sent with `noResend` (CommandOptions) goes to the card once: whatever would make the driver
 *    send it again (our framing: a BAD_CHECKSUM reply, docs/reader.md §6.2) fails it instead, executed
 *    "unknown";
 *  - nothing waits for ever: every command has a deadline, and a lost link fails it.
 */
import type { Observable } from "rxjs";
import type { EtcError } from "../errors.js";
import type { CardActivation, Led, ReaderInfo } from "./commands.js";

export type { CardActivation, CardKind, Led, ReaderInfo } from "./commands.js";

export type ReaderLinkStatus = "connecting" | "up" | "down" | "stopped";

export interface ReaderLinkState {
  readonly status: ReaderLinkStatus;
  /** Why: "open", "reconnected", the open error, "reader silent: ...", "closed"... */
  readonly reason?: string;
  /** The transport or reader error behind a "down". */
  readonly error?: EtcError;
  /** Monotonic ms (the reader's clock) when this state began. */
  readonly since: number;
}

export interface CardEvent {
  readonly kind: "inserted" | "removed";
  /** Monotonic ms when the event arrived. */
  readonly at: number;
}

/** How one call is sent, beside its AbortSignal. */
export interface CommandOptions {
  /**
   * Never send this command a second time, not even after a reply that says the reader got it corrupted
   * and ran nothing (BAD_CHECKSUM, which is otherwise resent: docs/reader.md §6.2). Such a reply fails the
   * command instead as an answer lost (E813, executed "unknown"): the reply carries only a SEQ and CMD,
   * and a corrupted frame that happened to carry them can be NAKed after the reader ran the command
   * itself, whose second run would then answer for itself, not for the first. For a command the caller
   * must never have run twice without knowing it.
   */
  readonly noResend?: boolean;
}

export interface CardReader {
  /**
   * Opens the link and asks the reader who it is. Resolves with its info once the first attempt
   * succeeded; rejects with the first attempt's error (E807) while reconnection goes on in the
   * background until close() (watch state$). Idempotent while open.
   */
  open(): Promise<ReaderInfo>;
  /**
   * What the reader answered to INFO at the latest link-up (a reconnect asks again), undefined before
   * the first; the link reports "up" only once it has it.
   */
  readonly info?: ReaderInfo | undefined;
  /** Stops reconnecting, fails queued and pending commands (E811), closes the port. Idempotent. */
  close(): Promise<void>;
  /** Current state first, then every change. */
  readonly state$: Observable<ReaderLinkState>;
  /** Card arrivals and departures the reader reports on its own. */
  readonly cardEvents$: Observable<CardEvent>;
  /** Power the field and activate the card: UID, type, ATS. */
  activate(signal?: AbortSignal): Promise<CardActivation>;
  /** Deactivate the card (field reset); the next card command needs activate() again. */
  halt(signal?: AbortSignal): Promise<void>;
  /** One APDU to the card; the final R-APDU with SW1 SW2. */
  cardApdu(apdu: Buffer, signal?: AbortSignal, options?: CommandOptions): Promise<Buffer>;
  /**
   * APDUs to the card in order. The reader stops after the first answer whose SW is not 9000, so the
   * result may be shorter than the list; the last element then carries the failing SW.
   */
  cardApduList(apdus: Buffer[], signal?: AbortSignal): Promise<Buffer[]>;
  /** Cold reset of the PSAM in `slot` (1..n): its ATR. */
  psamReset(slot: number, signal?: AbortSignal): Promise<Buffer>;
  psamApdu(slot: number, apdu: Buffer, signal?: AbortSignal): Promise<Buffer>;
  psamApduList(slot: number, apdus: Buffer[], signal?: AbortSignal): Promise<Buffer[]>;
  /** Beep (ms) and/or set the LED. */
  signal(s: { beep?: number; led?: Led }): Promise<void>;
}
