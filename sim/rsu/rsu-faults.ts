/**
 * RSU-level faults: a reboot (silent for `bootMs`, all state lost, then an unasked B0), the port
 * unplugged for a while (frames sent meanwhile are lost), the heartbeat stopped, noise on the line, and
 * a slow RSU (extra delay before every answer). They come from the scenario's timed events, from a
 * vehicle's fault (reboot or unplug before a frame) or from `inject()`.
 */
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { RsuEvent } from "../scenario/schema.js";
import type { SimContext } from "./context.js";
import type { Heartbeat } from "./heartbeat.js";
import type { RsuLinkSide } from "./link.js";

export interface RsuFaultHost {
  /** Power lost: the transaction, the pending frame, initialisation and antenna state are gone. */
  powerOff(reason: string): void;
  /** The RSU finished booting: it announces itself with an unasked B0. */
  announce(): void;
  updateMode(): void;
}

export class RsuFaults {
  /** Between a reboot and its B0: the RSU answers nothing. */
  rebooting = false;
  /** Extra delay before every answer (the slow fault, until set back to 0). */
  slowMs = 0;
  private unplugged = false;
  /** The boot under way (its end sends the unasked B0); a reboot during it restarts it. */
  private bootTimer: unknown;

  constructor(
    private readonly ctx: SimContext,
    private readonly link: RsuLinkSide,
    private readonly heartbeat: Heartbeat,
    private readonly transport: Transport,
    private readonly cable: { unplug(): void; replug(): void } | undefined,
    private readonly host: RsuFaultHost,
  ) {}

  /** A reboot while booting restarts the boot: one unasked B0, `bootMs` after the last reboot. */
  reboot(bootMs = this.ctx.timing.bootMs): void {
    this.ctx.log.info({ bootMs }, "RSU reboot");
    this.rebooting = true;
    this.host.powerOff("RSU reboot");
    this.heartbeat.disarm();
    this.link.reset();
    this.host.updateMode();
    this.ctx.cancel(this.bootTimer);
    this.bootTimer = this.ctx.after(bootMs, () => {
      this.bootTimer = undefined;
      this.rebooting = false;
      this.host.updateMode();
      // Legacy: B0 with RSCTL 0x98. National: B0 with SEQ 01 (the counter restarted), not asked for.
      this.host.announce();
    });
  }

  unplug(durationMs: number): void {
    if (this.unplugged) return;
    this.unplugged = true;
    this.ctx.log.info({ durationMs }, "port unplugged");
    this.ctx.logFrame({ dir: "tx", hex: "", note: `unplug ${durationMs} ms` });
    if (this.cable) this.cable.unplug();
    else void this.transport.close().catch(() => {});
    this.ctx.after(durationMs, () => {
      this.unplugged = false;
      this.cable?.replug();
      this.transport
        .open()
        .then(() => this.ctx.logFrame({ dir: "tx", hex: "", note: "replugged" }))
        .catch((e: unknown) =>
          this.ctx.log.warn({ err: (e as Error).message }, "reopen after unplug failed"),
        );
    });
  }

  heartbeatStop(durationMs?: number): void {
    this.heartbeat.silence(durationMs);
  }

  noise(bytes: number): void {
    this.link.sendNoise(bytes);
  }

  /** A timed event of the scenario (ms after the antenna first opened). */
  runEvent(ev: RsuEvent): void {
    this.ctx.event({ type: "fault", at: this.ctx.rel(), fault: ev.kind, detail: "scenario event" });
    switch (ev.kind) {
      case "reboot":
        this.reboot(ev.bootMs);
        break;
      case "unplug":
        this.unplug(ev.durationMs);
        break;
      case "heartbeat-stop":
        this.heartbeatStop(ev.durationMs);
        break;
      case "noise":
        this.noise(ev.bytes);
        break;
    }
  }
}
