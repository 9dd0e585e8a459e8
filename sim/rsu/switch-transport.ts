/**
 * A Transport that stands for "whichever lane is connected right now": the TCP server hands each
 * accepted connection to it, the simulated RSU keeps one identity (cards, ledger, mode) across
 * reconnects. While no lane is connected, writes fail as they would on an unplugged line. While the
 * switch itself is closed (before the RSU opens it, and during the unplug fault) it refuses connections:
 * an RSU that has lost its line hears nothing, so a lane reconnecting then must not have its frames
 * handled.
 */
import { BehaviorSubject, type Observable, Subject, type Subscription } from "rxjs";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import type { Transport, TransportState, TransportStatus } from "../../firmware-bridge/transport/types.js";

export class SwitchTransport implements Transport {
  private readonly dataSubject = new Subject<Buffer>();
  private readonly stateSubject = new BehaviorSubject<TransportState>({ status: "closed" });
  readonly data$: Observable<Buffer> = this.dataSubject.asObservable();
  readonly state$: Observable<TransportState> = this.stateSubject.asObservable();
  private readonly laneSubject = new Subject<void>();
  /**
   * A new lane connected (after the previous one's connection was dropped, before any of its bytes): a
   * receiver resets here, since a half frame the last lane left (it died mid-write) is no start of the
   * new lane's first frame.
   */
  readonly laneConnected$: Observable<void> = this.laneSubject.asObservable();
  private current: Transport | undefined;
  private subs: Subscription[] = [];

  constructor(readonly name: string) {}

  get status(): TransportStatus {
    return this.stateSubject.value.status;
  }

  /**
   * The connection the RSU now talks to; a previous one is closed (an RSU serves one lane). While the
   * switch is closed (unplugged) the connection is closed at once instead and false comes back.
   */
  attach(t: Transport): boolean {
    if (this.status !== "open") {
      void t.close().catch(() => {});
      return false;
    }
    this.detach();
    this.current = t;
    this.laneSubject.next();
    this.subs.push(t.data$.subscribe((b) => this.dataSubject.next(b)));
    this.subs.push(
      t.state$.subscribe((s) => {
        if (this.current === t && s.status !== "open" && s.status !== "opening") this.detach();
      }),
    );
    return true;
  }

  get connected(): Transport | undefined {
    return this.current;
  }

  private detach(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    const t = this.current;
    this.current = undefined;
    if (t) void t.close().catch(() => {});
  }

  async open(): Promise<void> {
    this.stateSubject.next({ status: "open" });
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.status !== "open")
      throw new EtcError(ErrorCodes.PortClosed, `${this.name}: write while ${this.status}`);
    if (!this.current) throw new EtcError(ErrorCodes.PortClosed, `${this.name}: no lane connected`);
    await this.current.write(bytes);
  }

  /**
   * Drops the connected lane (the unplug fault over TCP) and stops accepting writes and connections
   * until open().
   */
  async close(): Promise<void> {
    this.detach();
    if (this.status !== "closed") this.stateSubject.next({ status: "closed" });
  }
}
