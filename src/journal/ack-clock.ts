/**
 * The time acknowledgements are stamped with (`acks.at_ms`) and retention counts from: the journal's wall
 * clock, watched against a monotonic clock (docs/journal.md, "Retention and the other upkeep", "Clock
 * steps"). Retention deletes a record `retention.days` after its acknowledgement's stamp, so a stamp made
 * while the wall clock was wrong, or a wall clock that stepped forward, must not bring that day forward:
 *
 * - An acknowledgement is never stamped earlier than the newest stamp already stored (`stamp`): a clock set
 *   back does not backdate acknowledgements.
 * - A step of the wall clock against the monotonic clock since the last look (more than
 *   CLOCK_STEP_TOLERANCE_MS; `check`, at each acknowledgement, each retention run and at close) moves the
 *   retention lag, which retention's cutoff subtracts (`cutoffMs`). Forward by S: whether the clock was
 *   behind and is right now (the stamps before the step are S too early) or was right and is ahead now
 *   (the clock reads S too late), records count S later, until `retention.days` after the step, when every
 *   stamp made before it is past the cutoff anyway. Back by S: the lag shrinks by S, never below 0 (a
 *   clock put back after a step forward; a clock set back with no lag only makes the cutoff earlier). The
 *   lag is kept in meta `retention_lag` (`{"ms","untilMs"}`), so it holds across restarts.
 *
 * A step made while the lane is not running cannot be told from time that passed: the wall clock at open
 * is taken as right.
 */
import type { JournalDb } from "./db.js";

/** A change of (wall clock - monotonic clock) larger than this is a step of the wall clock. */
export const CLOCK_STEP_TOLERANCE_MS = 60_000;

/** meta key of the retention lag */
export const RETENTION_LAG_KEY = "retention_lag";

/** Retention counts records `ms` later while the wall clock is before `untilMs`. */
export interface RetentionLag {
  ms: number;
  untilMs: number;
}

export class AckClock {
  /** wall - monotonic at open, or at the last step seen */
  private offset: number;
  /** the newest stamp stored (null: none) */
  private newest: number | null;
  private lag: RetentionLag | null;
  /** the lag changed and could not be written (the journal failed): written at the next check */
  private unsaved = false;

  constructor(
    private readonly h: JournalDb,
    /** the monotonic clock, ms (performance.now in the lane) */
    private readonly mono: () => number,
    /** retention.days in ms */
    readonly retentionMs: number,
  ) {
    this.offset = h.now().getTime() - mono();
    this.newest = h.read("acks (newest)", () => {
      const row = h.db.prepare("SELECT MAX(at_ms) AS at FROM acks").get() as { at: number | null };
      return row.at;
    });
    this.lag = parseLag(h.meta(RETENTION_LAG_KEY));
    // a stored stamp ahead of the clock: the clock is behind (an RTC reset), or the stamp was made while
    // the clock ran ahead; either way acknowledgements are stamped with it until real time reaches it, so
    // retention keeps them that much longer (never deletes early): said, since it can be years
    const ahead = this.newest === null ? 0 : this.newest - this.h.now().getTime();
    if (ahead > CLOCK_STEP_TOLERANCE_MS)
      h.log.warn(
        { newestAckAt: new Date(this.newest as number).toISOString(), aheadMs: ahead },
        "the newest acknowledgement's stamp is ahead of the wall clock: new acknowledgements take that stamp, and retention keeps them until it is past",
      );
  }

  /** The lag in force (for a report), or 0. */
  lagMs(nowMs: number): number {
    return this.lag && nowMs < this.lag.untilMs ? this.lag.ms : 0;
  }

  /** The stamp for an acknowledgement the station gave at `atMs`: never earlier than the newest stored. */
  stamp(atMs: number): number {
    this.check();
    const at = this.newest === null ? atMs : Math.max(atMs, this.newest);
    this.newest = at;
    return at;
  }

  /** Retention's cutoff at wall time `nowMs`: acknowledgements stamped before it may be deleted. */
  cutoffMs(nowMs: number): number {
    this.check();
    return nowMs - this.retentionMs - this.lagMs(nowMs);
  }

  /** Looks for a step of the wall clock since the last look; a step moves the lag (class comment). */
  check(): void {
    const wall = this.h.now().getTime();
    const offset = wall - this.mono();
    const step = offset - this.offset;
    if (Math.abs(step) > CLOCK_STEP_TOLERANCE_MS) {
      this.offset = offset;
      const active = this.lagMs(wall);
      const before = this.lag;
      if (step > 0)
        this.lag = {
          ms: active + step,
          untilMs: Math.max(active > 0 ? before!.untilMs : 0, wall + this.retentionMs),
        };
      else if (active > 0) this.lag = { ms: Math.max(0, active + step), untilMs: before!.untilMs };
      this.h.log.warn(
        { stepMs: step, lagMs: this.lagMs(wall), untilMs: this.lag?.untilMs ?? null },
        "wall clock step seen against the monotonic clock: retention lag updated",
      );
      if (this.lag !== before) this.unsaved = true;
    }
    if (this.unsaved) this.save();
  }

  private save(): void {
    try {
      this.h.setMeta(RETENTION_LAG_KEY, this.lag ? JSON.stringify(this.lag) : null);
      this.unsaved = false;
    } catch (e) {
      // the journal's failure (setMeta made it unhealthy): the lag holds in this process, written later
      this.h.log.warn({ err: e instanceof Error ? e.message : String(e) }, "retention lag not written");
    }
  }
}

function parseLag(v: string | undefined): RetentionLag | null {
  if (v === undefined) return null;
  try {
    const o = JSON.parse(v) as { ms?: unknown; untilMs?: unknown };
    if (typeof o.ms === "number" && typeof o.untilMs === "number") return { ms: o.ms, untilMs: o.untilMs };
  } catch {
    // not JSON: as if none (written by this module only)
  }
  return null;
}
