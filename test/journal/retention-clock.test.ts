/**
 * Retention against steps of the wall clock (src/journal/ack-clock.ts; docs/journal.md, "Clock steps"):
 * a clock set back does not backdate acknowledgements, and a step forward, whether it corrects a clock
 * that was behind or puts a right one ahead, deletes no acknowledged record before `retention.days` of
 * real time, in the process that saw the step and after a restart. Injected wall and monotonic clocks;
 * each "process" is a journal opened with a monotonic clock of its own.
 */
import { describe, expect, it, vi } from "vitest";
import type { Journal } from "../../src/journal/journal.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { acksOf, useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir("etc-retention-clock-");
const DAY = 86_400_000;
const MIN = 60_000;

/** A lane process's clocks: the wall clock (settable, steppable) and a monotonic one that only advances. */
function clocks(wallMs: number) {
  const c = { wall: wallMs, mono: 1_000 };
  return {
    c,
    /** time passes: both clocks advance */
    pass(ms: number): void {
      c.wall += ms;
      c.mono += ms;
    },
    /** the wall clock is stepped to `ms` (NTP, an operator, a GPS receiver); the monotonic clock does not move */
    stepTo(ms: number): void {
      c.wall = ms;
    },
  };
}

function openOn(k: ReturnType<typeof clocks>): Journal {
  return jd.open({
    now: () => new Date(k.c.wall),
    monotonicNow: () => k.c.mono,
    retention: { days: 90, intervalMs: 0 },
  });
}

describe("retention and the wall clock", () => {
  it("a clock set back at boot, then corrected: records acknowledged meanwhile are kept 90 days from the correction", async () => {
    // a lane PC with a flat RTC battery boots at 2000-01-01 and trades and uploads until NTP steps its clock
    let k = clocks(Date.parse("2000-01-01T00:05:00Z"));
    let j = openOn(k);
    const rec = j.commit(sampleRecord(1));
    j.markUploaded(acksOf(rec), new Date(k.c.wall));
    k.pass(10 * MIN);
    const corrected = Date.parse("2026-12-05T10:00:00Z");
    k.stepTo(corrected);
    expect((await j.runRetention()).deleted).toBe(0); // acknowledged ten minutes ago
    expect(j.get(rec.seq)).not.toBeNull();
    // the lane restarts two weeks later: the step is not forgotten
    k.pass(14 * DAY);
    await j.close();
    k = clocks(k.c.wall);
    j = openOn(k);
    expect((await j.runRetention()).deleted).toBe(0);
    expect(j.get(rec.seq)).not.toBeNull();
    k.pass(76 * DAY + MIN); // 90 days and a minute after the correction: due
    expect((await j.runRetention()).deleted).toBe(1);
    expect(j.get(rec.seq)).toBeNull();
  });

  it("a clock set back does not backdate an acknowledgement: it is stamped with the newest stamp stored", () => {
    const k = clocks(Date.parse("2026-11-01T08:00:00Z"));
    const j = openOn(k);
    const a = j.commit(sampleRecord(1));
    const b = j.commit(sampleRecord(2));
    j.markUploaded(acksOf(a), new Date(k.c.wall));
    k.pass(MIN);
    k.stepTo(Date.parse("2000-01-01T00:00:00Z"));
    j.markUploaded(acksOf(b), new Date(k.c.wall));
    expect(j.get(b.seq)?.uploadedAt).toBe("2026-11-01T08:00:00.000Z");
  });

  it("a clock stepped forward: nothing acknowledged within 90 days of real time is deleted, before or after a restart", async () => {
    const t0 = Date.parse("2026-06-01T00:00:00Z");
    let k = clocks(t0);
    let j = openOn(k);
    const recs = [1, 2, 3].map((i) => j.commit(sampleRecord(i)));
    j.markUploaded(acksOf(...recs), new Date(t0));
    k.pass(MIN);
    k.stepTo(t0 + 365 * DAY); // NTP or GPS misconfigured a year ahead
    expect((await j.runRetention()).deleted).toBe(0);
    // restarted 30 days later, the clock still a year ahead
    k.pass(30 * DAY);
    await j.close();
    k = clocks(k.c.wall);
    j = openOn(k);
    expect((await j.runRetention()).deleted).toBe(0);
    k.pass(61 * DAY); // 91 days of real time after the acknowledgements
    expect((await j.runRetention()).deleted).toBe(3);
  });

  it("a clock stepped forward and put back: the lag is undone, retention keeps its 90 days", async () => {
    const t0 = Date.parse("2026-06-01T00:00:00Z");
    const k = clocks(t0);
    const j = openOn(k);
    const old = j.commit(sampleRecord(1));
    j.markUploaded(acksOf(old), new Date(t0));
    k.pass(50 * DAY);
    const recent = j.commit(sampleRecord(2));
    j.markUploaded(acksOf(recent), new Date(k.c.wall));
    k.stepTo(t0 + 400 * DAY); // a year ahead
    expect((await j.runRetention()).deleted).toBe(0);
    k.pass(MIN);
    k.stepTo(t0 + 50 * DAY + 2 * MIN); // put right again
    k.pass(41 * DAY); // day 91: the first acknowledgement is due, the second is 41 days old
    expect((await j.runRetention()).deleted).toBe(1);
    expect(j.list().map((r) => r.seq)).toEqual([recent.seq]);
  });

  it("a lag that could not be written is written at the next look, and holds after a restart", async () => {
    const t0 = Date.parse("2026-06-01T00:00:00Z");
    let k = clocks(t0);
    let j = openOn(k);
    const rec = j.commit(sampleRecord(1));
    j.markUploaded(acksOf(rec), new Date(t0));
    const h = (j as unknown as { h: { setMeta(key: string, value: string | null): void } }).h;
    const setMeta = vi.spyOn(h, "setMeta").mockImplementationOnce(() => {
      throw new Error("disk I/O error");
    });
    k.stepTo(t0 + 365 * DAY);
    expect((await j.runRetention()).deleted).toBe(0); // the lag holds in this process
    expect(setMeta).toHaveBeenCalledTimes(1);
    k.pass(MIN);
    expect((await j.runRetention()).deleted).toBe(0);
    expect(setMeta).toHaveBeenCalledTimes(2); // written now
    await j.close();
    k = clocks(k.c.wall + DAY);
    j = openOn(k);
    expect((await j.runRetention()).deleted).toBe(0);
    expect(j.get(rec.seq)).not.toBeNull();
  });
  it("a stamp made while the clock ran ahead stays the newest after the clock is put right: later acknowledgements take it, and the open says so", async () => {
    // the clock a year ahead (NTP or GPS misconfigured) when a record was acknowledged
    let k = clocks(Date.parse("2027-12-05T10:00:00Z"));
    let j = openOn(k);
    const first = j.commit(sampleRecord(1));
    j.markUploaded(acksOf(first), new Date(k.c.wall));
    await j.close();
    // restarted with the clock right: the open warns, and the next acknowledgement takes the stored stamp
    k = clocks(Date.parse("2026-12-05T10:00:00Z"));
    const log: LogLine[] = [];
    j = jd.open({
      now: () => new Date(k.c.wall),
      monotonicNow: () => k.c.mono,
      retention: { days: 90, intervalMs: 0 },
      logger: recordingLogger(log),
    });
    expect(log.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual([
      "the newest acknowledgement's stamp is ahead of the wall clock: new acknowledgements take that stamp, and retention keeps them until it is past",
    ]);
    const second = j.commit(sampleRecord(2));
    j.markUploaded(acksOf(second), new Date(k.c.wall));
    // 91 days of real time later both are kept (never deleted early; kept longer, as docs/journal.md says)
    k.pass(91 * DAY);
    expect((await j.runRetention()).deleted).toBe(0);
    expect(j.get(second.seq)).not.toBeNull();
  });
});
