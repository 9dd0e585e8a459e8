/**
 * The RSU's heartbeat: every `heartbeatMs` after C0, legacy B2 with OBUID 00000000 and ErrorCode 0x80
 * (only while no OBU is served and nothing awaits an answer), national B1 regardless. Never
 * retransmitted. The heartbeat-stop fault silences it for a while or for good.
 */
import type { SimContext } from "./context.js";

export class Heartbeat {
  private timer: unknown;
  private stoppedUntil = 0;

  constructor(
    private readonly ctx: SimContext,
    /** Sends one heartbeat if the RSU is in a state to (initialised, not busy for legacy). */
    private readonly beat: () => void,
  ) {}

  /** (Re)starts the period: C0 arms it. */
  arm(): void {
    this.ctx.cancel(this.timer);
    this.timer = this.ctx.after(this.ctx.timing.heartbeatMs, () => {
      this.arm();
      if (this.ctx.clock.now() >= this.stoppedUntil) this.beat();
    });
  }

  /** No heartbeat until the next C0 (reboot). */
  disarm(): void {
    this.ctx.cancel(this.timer);
    this.timer = undefined;
  }

  /** The heartbeat-stop fault: silent for `durationMs`, or for good without it. */
  silence(durationMs?: number): void {
    this.stoppedUntil =
      durationMs === undefined ? Number.POSITIVE_INFINITY : this.ctx.clock.now() + durationMs;
  }

  resume(): void {
    this.stoppedUntil = 0;
  }
}
