/**
 * The life cycle of the RSU link's transport (docs/link.md "States"): open with a time limit, back off
 * and retry after a failed open or a loss, the heartbeat watchdog, and what a silent peer means per
 * transport (`ON_SILENCE`). It knows nothing about frames:
 * the link tells it when a valid frame arrived (`alive()`), and it tells the link when the transport
 * became usable (`opened`), unusable (`lost`) or was stopped (`stopped`).
 *
 *   stopped --start--> connecting --open ok--> up --silence--> down(watchdog) --valid frame--> up
 *   connecting --open failed--> down --backoff--> connecting;  up/down(watchdog) --unplug--> down --backoff--> connecting
 *   TCP: up --silence--> down (connection closed) --backoff--> connecting
 *   any --stop--> stopped
 *
 * One watchdog timer, re-armed with `refresh()` on every valid frame: no per-frame timer or rxjs operator.
 */
import { BehaviorSubject, type Observable, type Subscription } from "rxjs";
import { ErrorCodes, EtcError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Transport, TransportKind, TransportState } from "../transport/types.js";
import { backoffDelay, type RsuLinkOptions } from "./options.js";

export type LinkStatus = "connecting" | "up" | "down" | "stopped";

export interface LinkState {
  readonly status: LinkStatus;
  /** Why we are in this state: the open error, "no valid frame for 30000 ms ...", "stopped"... */
  readonly reason?: string;
  /** The transport error behind a "down", when there is one (PortLocked, PortDisconnected...). */
  readonly error?: EtcError;
  /** Monotonic ms (the link's clock) when this state began. */
  readonly since: number;
  /**
   * Only on a "down" after a keep-open watchdog trip: the port is still open and `send()` works (an RSU
   * that waits for C0 says nothing until it gets one; the lane keeps sending it, src/lane/rsu-session.ts).
   */
  readonly portOpen?: true;
}

/**
 * What the watchdog does about a silent RSU, per transport kind (the reconnect policy per transport):
 *  - "keep-open": the link goes down (`portOpen: true`) and the port stays open; the next valid frame
 *    brings it up. A serial port or a pty: reopening one does not wake an RSU, and an RSU may wait for C0
 *    first.
 *  - "reconnect": close the connection and reconnect with backoff, as after a loss. TCP: silence on a
 *    connection the RSU heartbeats over means a half-open connection (peer rebooted or gone without a
 *    FIN), which the socket itself may not notice for many minutes.
 * A transport that does not give its kind is kept open.
 */
export type SilenceAction = "keep-open" | "reconnect";
export const ON_SILENCE: Readonly<Record<TransportKind, SilenceAction>> = {
  serial: "keep-open",
  "in-process": "keep-open",
  tcp: "reconnect",
};

export function silenceAction(kind: TransportKind | undefined): SilenceAction {
  return kind === undefined ? "keep-open" : ON_SILENCE[kind];
}

export interface SupervisorCounters {
  watchdogTrips: number;
  /** Successful opens after a loss (unplug, failed open, disconnect). */
  reconnects: number;
  connectAttempts: number;
  openFailures: number;
  /** Transport losses while open (unplug, peer closed). */
  disconnects: number;
}

export interface SupervisorHooks {
  /** The transport has just opened (first open or a reconnect). */
  opened(): void;
  /** The transport is no longer usable (failed open, unplug, peer closed). */
  lost(reason: string): void;
  /** stop() was called: runs before the transport is closed. */
  stopped(): void;
}

export interface LinkSupervisorInit {
  transport: Transport;
  options: Pick<RsuLinkOptions, "heartbeatPeriodMs" | "missedHeartbeats" | "openTimeoutMs" | "reconnect">;
  log: Logger;
  now: () => number;
  random: () => number;
  hooks: SupervisorHooks;
}

export class LinkSupervisor {
  private readonly transport: Transport;
  private readonly options: LinkSupervisorInit["options"];
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly hooks: SupervisorHooks;
  private readonly stateSubject: BehaviorSubject<LinkState>;
  /** Link state: current value first, then every change. */
  readonly state$: Observable<LinkState>;
  private readonly watchdogMs: number;
  private readonly onSilence: SilenceAction;

  private running = false;
  /** bumps on every start/stop so late callbacks of an old run do nothing */
  private generation = 0;
  private transportOpen = false;
  private hadLoss = false;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private sub: Subscription | undefined;
  private readonly c: SupervisorCounters = {
    watchdogTrips: 0,
    reconnects: 0,
    connectAttempts: 0,
    openFailures: 0,
    disconnects: 0,
  };

  constructor(init: LinkSupervisorInit) {
    this.transport = init.transport;
    this.options = init.options;
    this.log = init.log;
    this.now = init.now;
    this.random = init.random;
    this.hooks = init.hooks;
    this.watchdogMs = this.options.heartbeatPeriodMs * this.options.missedHeartbeats;
    this.onSilence = silenceAction(init.transport.kind);
    this.stateSubject = new BehaviorSubject<LinkState>({ status: "stopped", since: this.now() });
    this.state$ = this.stateSubject.asObservable();
  }

  get state(): LinkState {
    return this.stateSubject.value;
  }

  get counters(): Readonly<SupervisorCounters> {
    return this.c;
  }

  /** The link was started and not stopped. */
  get isRunning(): boolean {
    return this.running;
  }

  /** The transport is open (frames can be written), whatever the watchdog says. */
  get isOpen(): boolean {
    return this.transportOpen;
  }

  /** First open attempt; resolves once it ended, either way. Never rejects. */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    this.generation++;
    this.hadLoss = false;
    this.attempt = 0;
    this.sub = this.transport.state$.subscribe((s) => this.onTransportState(s));
    return this.attemptOpen();
  }

  /** Stops retrying, disarms the timers, runs `hooks.stopped`, closes the transport. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.transportOpen = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.disarmWatchdog();
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.hooks.stopped();
    await this.transport.close().catch((e: unknown) => this.log.warn({ err: String(e) }, "close failed"));
    this.setState("stopped", "stopped");
  }

  /** Resolves when the link is up; rejects with LinkTimeout (naming the last reason) or LinkAborted. */
  waitUp(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (this.state.status === "up") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let sub: Subscription | undefined;
      const onAbort = (): void =>
        done(new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: waitUp aborted`));
      const done = (err?: EtcError): void => {
        clearTimeout(timer);
        sub?.unsubscribe();
        opts.signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      timer = setTimeout(() => {
        const s = this.state;
        done(
          new EtcError(
            ErrorCodes.LinkTimeout,
            `${this.transport.name}: RSU link not up after ${opts.timeoutMs} ms (${s.status}${s.reason ? `: ${s.reason}` : ""})`,
          ),
        );
      }, opts.timeoutMs);
      sub = this.state$.subscribe((s) => {
        if (s.status === "up") queueMicrotask(() => done());
        else if (s.status === "stopped" && this.running === false && sub) {
          queueMicrotask(() =>
            done(new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: RSU link stopped`)),
          );
        }
      });
    });
  }

  /** A valid frame arrived: re-arm the watchdog and come back up after a silence. */
  alive(): void {
    if (!this.transportOpen) return;
    if (this.watchdog) this.watchdog.refresh();
    else this.armWatchdog();
    this.attempt = 0;
    if (this.stateSubject.value.status === "down") {
      this.log.info({}, "RSU talking again: link up");
      this.setState("up", "frame received");
    }
  }

  private armWatchdog(): void {
    this.watchdog = setTimeout(() => this.onWatchdog(), this.watchdogMs);
    this.watchdog.unref?.();
  }

  private disarmWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private onWatchdog(): void {
    this.watchdog = undefined;
    if (!this.transportOpen || this.stateSubject.value.status !== "up") return;
    this.c.watchdogTrips++;
    const reason =
      `no valid frame for ${this.watchdogMs} ms (${this.options.missedHeartbeats} x ` +
      `${this.options.heartbeatPeriodMs} ms heartbeat period)`;
    if (this.onSilence === "reconnect") {
      this.log.warn({ silenceMs: this.watchdogMs }, `RSU silent: ${reason}; closing the connection`);
      this.closeAndReconnect(`${reason}; connection closed to reconnect`);
      return;
    }
    this.log.warn({ silenceMs: this.watchdogMs }, `RSU silent: link down, ${reason}; the port stays open`);
    this.setState("down", reason, undefined, true);
  }

  /** The watchdog's "reconnect": treat the silence as a loss, close, and reconnect once closed. */
  private closeAndReconnect(reason: string): void {
    const gen = this.generation;
    this.markLost(reason);
    void this.transport
      .close()
      .catch((e: unknown) => this.log.warn({ err: String(e) }, "close failed"))
      .then(() => {
        if (this.running && gen === this.generation) this.scheduleReconnect();
      });
  }

  /** One open attempt; always ends in "up" or in "down" with a retry scheduled. Never rejects. */
  private async attemptOpen(): Promise<void> {
    if (!this.running) return;
    const gen = this.generation;
    this.c.connectAttempts++;
    this.setState("connecting", this.hadLoss ? `reconnect attempt ${this.attempt}` : "opening");
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.transport.open(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new EtcError(
                  ErrorCodes.PortOpenFailed,
                  `${this.transport.name}: open did not complete within ${this.options.openTimeoutMs} ms`,
                ),
              ),
            this.options.openTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      if (!this.running || gen !== this.generation) return;
      const err =
        e instanceof EtcError
          ? e
          : new EtcError(
              ErrorCodes.PortOpenFailed,
              `${this.transport.name}: open failed: ${String(e)}`,
              {},
              { cause: e },
            );
      this.c.openFailures++;
      void this.transport.close().catch(() => {});
      this.lost(err.message, err);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (!this.running || gen !== this.generation) {
      await this.transport.close().catch(() => {});
      return;
    }
    this.transportOpen = true;
    if (this.hadLoss) this.c.reconnects++;
    this.hooks.opened();
    this.log.info({ transport: this.transport.name }, this.hadLoss ? "reconnected" : "open");
    this.setState("up", this.hadLoss ? "reconnected" : "open");
    this.disarmWatchdog();
    this.armWatchdog();
  }

  private onTransportState(s: TransportState): void {
    if (!this.running || !this.transportOpen || s.status === "open" || s.status === "opening") return;
    this.transportOpen = false;
    this.c.disconnects++;
    const reason = s.error?.message ?? `${this.transport.name} ${s.status}`;
    this.log.warn({ status: s.status, err: s.error?.code }, `transport lost: ${reason}`);
    this.lost(reason, s.error);
  }

  /** The transport is not usable: down, tell the link, retry after a backoff delay. */
  private lost(reason: string, error?: EtcError): void {
    this.markLost(reason, error);
    this.scheduleReconnect();
  }

  private markLost(reason: string, error?: EtcError): void {
    this.transportOpen = false;
    this.hadLoss = true;
    this.disarmWatchdog();
    this.hooks.lost(reason);
    this.setState("down", reason, error);
  }

  private scheduleReconnect(): void {
    const delay = backoffDelay(this.options.reconnect, this.attempt++, this.random);
    this.log.info({ delayMs: delay, attempt: this.attempt }, "reconnect scheduled");
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.attemptOpen();
    }, delay);
  }

  private setState(status: LinkStatus, reason?: string, error?: EtcError, portOpen = false): void {
    const prev = this.stateSubject.value;
    if (
      prev.status === status &&
      prev.reason === reason &&
      prev.error === error &&
      (prev.portOpen === true) === portOpen
    )
      return;
    const next: LinkState = {
      status,
      since: this.now(),
      ...(reason ? { reason } : {}),
      ...(error ? { error } : {}),
      ...(portOpen ? { portOpen: true as const } : {}),
    };
    this.stateSubject.next(next);
  }
}
