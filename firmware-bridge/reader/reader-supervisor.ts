/**
 * The reader link's life cycle (docs/reader.md §6.3): open the transport, probe the reader with INFO,
 * and keep it that way. A failed open, an unplug, or a reader that leaves `silentLimit` commands in a
 * row unanswered puts the link "down": pending commands fail (E807), the port is closed, and a new
 * attempt follows after an exponential backoff with jitter. While idle the reader is probed with INFO
 * every `pingIntervalMs`, so a dead reader shows as "down" before the collector needs it. Every attempt
 * ends in a state$ event; none can hang (openTimeoutMs, and the probe's own deadline).
 *
 *   stopped --start--> connecting --open + INFO ok--> up --unplug / silent--> down --backoff--> connecting
 *   connecting --open or INFO failed--> down;   any --stop--> stopped
 */
import { BehaviorSubject, type Observable, type Subscription } from "rxjs";
import { ErrorCodes, EtcError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Transport, TransportState } from "../transport/types.js";
import type { ReaderLinkState, ReaderLinkStatus } from "./card-reader.js";
import type { ReaderInfo } from "./commands.js";
import { ReaderErrorCodes, readerError } from "./errors.js";
import { type ReaderOptions, reconnectDelay } from "./options.js";

export interface SupervisorCounters {
  connectAttempts: number;
  openFailures: number;
  /** Successful (re)connections after a loss. */
  reconnects: number;
  /** Transport losses while open (unplug, peer closed). */
  disconnects: number;
  /** Times the link went down because the reader stopped answering. */
  silentTrips: number;
  pings: number;
}

export interface SupervisorInit {
  transport: Transport;
  options: ReaderOptions;
  log: Logger;
  now: () => number;
  random: () => number;
  /** Ask the reader who it is (INFO), allowed while connecting. */
  probe(): Promise<ReaderInfo>;
  /** The link is lost: fail what is pending. */
  onLost(reason: string): void;
  /** A command is queued or in flight (no ping then). */
  busy(): boolean;
  /** The port was (re)opened: drop half frames. */
  onOpened(): void;
}

export class ReaderSupervisor {
  private readonly i: SupervisorInit;
  private readonly stateSubject: BehaviorSubject<ReaderLinkState>;
  readonly state$: Observable<ReaderLinkState>;
  private running = false;
  private generation = 0;
  private open = false;
  private hadLoss = false;
  private attempt = 0;
  private silent = 0;
  /** Bytes from the reader discarded during the unanswered commands of the current silent run. */
  private silentDiscards = 0;
  /** Echoes of the host's own frames during the unanswered commands of the current silent run. */
  private silentEchoes = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private sub: Subscription | undefined;
  private lastInfo: ReaderInfo | undefined;
  /** The first attempt of this run, while it lasts (a second open() meanwhile shares it). */
  private firstAttempt: Promise<ReaderInfo> | undefined;
  private readonly c: SupervisorCounters = {
    connectAttempts: 0,
    openFailures: 0,
    reconnects: 0,
    disconnects: 0,
    silentTrips: 0,
    pings: 0,
  };

  constructor(init: SupervisorInit) {
    this.i = init;
    this.stateSubject = new BehaviorSubject<ReaderLinkState>({ status: "stopped", since: init.now() });
    this.state$ = this.stateSubject.asObservable();
  }

  get state(): ReaderLinkState {
    return this.stateSubject.value;
  }

  get counters(): Readonly<SupervisorCounters> {
    return { ...this.c };
  }

  get info(): ReaderInfo | undefined {
    return this.lastInfo;
  }

  get transportOpen(): boolean {
    return this.open;
  }

  /** Starts; resolves with the reader's info after the first attempt, or rejects with its error. */
  start(): Promise<ReaderInfo> {
    if (this.running) {
      if (this.firstAttempt) return this.firstAttempt;
      if (this.state.status === "up" && this.lastInfo) return Promise.resolve(this.lastInfo);
      return Promise.reject(this.downError());
    }
    this.running = true;
    this.generation++;
    this.hadLoss = false;
    this.attempt = 0;
    this.sub = this.i.transport.state$.subscribe((s) => this.onTransportState(s));
    const first = this.attemptOpen();
    this.firstAttempt = first;
    const clear = (): void => {
      if (this.firstAttempt === first) this.firstAttempt = undefined;
    };
    first.then(clear, clear);
    return first;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.open = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.disarmPing();
    this.sub?.unsubscribe();
    this.sub = undefined;
    await this.i.transport.close().catch((e: unknown) => this.i.log.warn({ err: String(e) }, "close failed"));
    this.setState("stopped", "closed");
  }

  /** A valid frame arrived. */
  alive(): void {
    this.silent = 0;
    this.silentDiscards = 0;
    this.silentEchoes = 0;
  }

  /**
   * A command got no reply in time; `discardedBytes` from the reader were dropped as not frames while it
   * waited: then the reader may be answering, and the reason says so; `echoes` of the command's own frame
   * came back meanwhile: then the line echoes the host, and the reason says that.
   */
  silence(discardedBytes = 0, echoes = 0): void {
    if (!this.running || !this.open || this.state.status !== "up") return;
    this.silent++;
    this.silentDiscards += discardedBytes;
    this.silentEchoes += echoes;
    if (this.silent < this.i.options.silentLimit) return;
    this.c.silentTrips++;
    const echoed =
      this.silentEchoes > 0
        ? `; our own frames came back ${this.silentEchoes} time(s): the line echoes what we send (a loopback plug, RS-485 local echo?)`
        : "";
    const reason =
      (this.silentDiscards > 0
        ? `no usable reply: ${this.silent} command(s) in a row unanswered, ${this.silentDiscards} byte(s) from the reader discarded meanwhile (corrupted or too long)`
        : `reader silent: ${this.silent} command(s) in a row unanswered`) + echoed;
    this.i.log.warn({ silentLimit: this.i.options.silentLimit }, reason);
    this.open = false;
    void this.i.transport.close().catch(() => {});
    this.lost(
      reason,
      readerError(ReaderErrorCodes.LinkDown, `${this.i.transport.name}: ${reason}`, "unknown"),
    );
  }

  /** A command finished: the idle timer starts again. */
  activity(): void {
    if (this.state.status === "up") this.armPing();
  }

  downError(): EtcError {
    const s = this.state;
    return readerError(
      ReaderErrorCodes.LinkDown,
      `${this.i.transport.name}: reader link is ${s.status}${s.reason ? ` (${s.reason})` : ""}`,
      "no",
      { status: s.status },
    );
  }

  private async attemptOpen(): Promise<ReaderInfo> {
    const gen = this.generation;
    this.c.connectAttempts++;
    this.setState("connecting", this.hadLoss ? `reconnect attempt ${this.attempt}` : "opening");
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.i.transport.open(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new EtcError(
                  ErrorCodes.PortOpenFailed,
                  `${this.i.transport.name}: open did not complete within ${this.i.options.openTimeoutMs} ms`,
                ),
              ),
            this.i.options.openTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      clearTimeout(timer);
      if (!this.running || gen !== this.generation) throw this.downError();
      this.c.openFailures++;
      void this.i.transport.close().catch(() => {});
      const msg = e instanceof Error ? e.message : String(e);
      const err = readerError(
        ReaderErrorCodes.LinkDown,
        `${this.i.transport.name}: reader port did not open: ${msg}`,
        "no",
        {},
        { cause: e },
      );
      this.lost(msg, e instanceof EtcError ? e : err);
      throw err;
    }
    clearTimeout(timer);
    if (!this.running || gen !== this.generation) {
      await this.i.transport.close().catch(() => {});
      throw this.downError();
    }
    this.open = true;
    this.silent = 0;
    this.silentDiscards = 0;
    this.silentEchoes = 0;
    this.i.onOpened();
    let info: ReaderInfo;
    try {
      info = await this.i.probe();
    } catch (e) {
      if (!this.running || gen !== this.generation) throw this.downError();
      const msg = `reader did not answer INFO: ${(e as Error).message}`;
      if (this.open) {
        this.open = false;
        void this.i.transport.close().catch(() => {});
        this.lost(msg, e instanceof EtcError ? e : undefined);
      }
      throw readerError(
        ReaderErrorCodes.LinkDown,
        `${this.i.transport.name}: ${msg}`,
        "no",
        {},
        { cause: e },
      );
    }
    if (!this.running || gen !== this.generation || !this.open) throw this.downError();
    this.lastInfo = info;
    if (this.hadLoss) this.c.reconnects++;
    this.attempt = 0;
    this.i.log.info(
      { transport: this.i.transport.name, reader: `${info.vendor} ${info.model} ${info.firmware}` },
      this.hadLoss ? "reader reconnected" : "reader open",
    );
    this.setState("up", this.hadLoss ? "reconnected" : "open");
    this.armPing();
    return info;
  }

  private onTransportState(s: TransportState): void {
    if (!this.running || !this.open || s.status === "open" || s.status === "opening") return;
    this.open = false;
    this.c.disconnects++;
    const reason = s.error?.message ?? `${this.i.transport.name} ${s.status}`;
    this.i.log.warn({ status: s.status, err: s.error?.code }, `reader transport lost: ${reason}`);
    this.lost(reason, s.error);
  }

  private lost(reason: string, error?: EtcError): void {
    this.open = false;
    this.hadLoss = true;
    this.disarmPing();
    this.i.onLost(reason);
    const delay = reconnectDelay(this.i.options.reconnect, this.attempt++, this.i.random);
    this.setState("down", reason, error);
    this.i.log.info({ delayMs: delay, attempt: this.attempt }, "reader reconnect scheduled");
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.running) return;
      this.attemptOpen().catch(() => {
        // the attempt already reported itself in state$ and scheduled the next one
      });
    }, delay);
  }

  private armPing(): void {
    this.disarmPing();
    const ms = this.i.options.pingIntervalMs;
    if (ms === 0 || !this.running) return;
    this.pingTimer = setTimeout(() => this.ping(), ms);
    this.pingTimer.unref?.();
  }

  private disarmPing(): void {
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
  }

  private ping(): void {
    this.pingTimer = undefined;
    if (!this.running || this.state.status !== "up") return;
    if (this.i.busy()) {
      this.armPing();
      return;
    }
    this.c.pings++;
    this.i
      .probe()
      .then((info) => {
        this.lastInfo = info;
      })
      .catch((e: unknown) => this.i.log.info({ err: (e as Error).message }, "reader ping failed"));
  }

  private setState(status: ReaderLinkStatus, reason?: string, error?: EtcError): void {
    const prev = this.stateSubject.value;
    if (prev.status === status && prev.reason === reason && prev.error === error) return;
    this.stateSubject.next({
      status,
      since: this.i.now(),
      ...(reason ? { reason } : {}),
      ...(error ? { error } : {}),
    });
  }
}
