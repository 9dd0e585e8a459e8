/**
 * The warnings a channel logs for line noise (a discarded byte run, a checksum error), capped: a floating
 * RX line or a noisy cable brings tens of them a second, for months. Shared by the RSU link's channel
 * (firmware-bridge/link/frame-channel.ts, docs/link.md "Receiving, acknowledging, deduplicating") and the
 * card reader's (firmware-bridge/reader/reader-channel.ts, docs/reader.md §2.2). An episode of noise opens a window of `intervalMs`: its first `burst`
 * events are logged at warn level, the rest at debug and counted; when the window ends with some counted,
 * one summary warning says how many, and the next window starts without a burst (one summary per interval
 * while the noise lasts). A window in which nothing was held back closes the episode: the next noise is
 * warned about again. The channel's counters are kept apart and count every event.
 */
import type { Logger } from "./log.js";

/** Noise warnings logged at warn level at the start of an episode. */
export const NOISE_WARN_BURST = 10;
/** At most one summary warning per this many ms while the noise lasts. */
export const NOISE_SUMMARY_INTERVAL_MS = 60_000;

export type NoiseKind = "discarded" | "checksum-error";

interface Window {
  timer: ReturnType<typeof setTimeout>;
  openedAt: number;
  /** warnings still allowed at warn level in this window */
  allowance: number;
  runs: number;
  bytes: number;
  checksumErrors: number;
}

export class NoiseLog {
  private window: Window | undefined;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly burst = NOISE_WARN_BURST,
    private readonly intervalMs = NOISE_SUMMARY_INTERVAL_MS,
  ) {}

  /**
   * One noise event: `fields()` and `msg` are its log line, at warn while the window allows, else at
   * debug (the fields built only when debug is on); `bytes` the bytes it dropped (discarded runs).
   */
  note(kind: NoiseKind, msg: string, fields: () => object, bytes = 0): void {
    const w = this.window ?? this.open(this.burst);
    if (w.allowance > 0) {
      w.allowance--;
      this.log.warn(fields(), msg);
      if (w.allowance === 0) {
        this.log.warn(
          { intervalMs: this.intervalMs },
          `line noise: ${this.burst} warnings in ${Math.round(this.now() - w.openedAt)} ms; further discarded runs and checksum errors are logged at debug, with one summary warning per ${this.intervalMs / 1000} s while they last`,
        );
      }
      return;
    }
    if (kind === "checksum-error") w.checksumErrors++;
    else {
      w.runs++;
      w.bytes += bytes;
    }
    if (this.log.isLevelEnabled?.("debug") ?? true) this.log.debug(fields(), msg);
  }

  /** The channel stopped: the summary of what the open window held back, now; no timer left. */
  stop(): void {
    const w = this.window;
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.window = undefined;
    this.summary(w);
  }

  private open(allowance: number): Window {
    const w: Window = {
      timer: setTimeout(() => this.end(w), this.intervalMs),
      openedAt: this.now(),
      allowance,
      runs: 0,
      bytes: 0,
      checksumErrors: 0,
    };
    w.timer.unref?.();
    this.window = w;
    return w;
  }

  private end(w: Window): void {
    this.window = undefined;
    // something held back: the noise goes on, so the next window has no burst of its own
    if (this.summary(w)) this.open(0);
  }

  /** Logs the summary of `w` if it held anything back; returns whether it did. */
  private summary(w: Window): boolean {
    if (w.runs === 0 && w.checksumErrors === 0) return false;
    this.log.warn(
      {
        discardedRuns: w.runs,
        discardedBytes: w.bytes,
        checksumErrors: w.checksumErrors,
        sinceMs: Math.round(this.now() - w.openedAt),
      },
      `line noise: ${w.runs} discarded run(s) (${w.bytes} bytes) and ${w.checksumErrors} checksum error(s) in the last ${Math.round((this.now() - w.openedAt) / 1000)} s logged at debug only`,
    );
    return true;
  }
}
