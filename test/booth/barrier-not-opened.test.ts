/**
 * The booth's paid record whose barrier device failed (src/booth/effects.ts recorded, through
 * src/outputs/outputs.ts emitChecked): its outcome has no barrier time, and the failure is said for this
 * vehicle (BARRIER_NOT_OPENED, `path: "booth"`, naming the record, the card and the OBU). Review: the
 * booth's outcome had the barrier time whether or not its barrier opened, as the lane's had. Second
 * review: an async board that never answered, and the console's barrier line whose write failed after
 * emit returned, named no vehicle.
 */
import { Subject } from "rxjs";
import { afterEach, expect, it, vi } from "vitest";
import type { BoothOutcome } from "../../src/booth/context.js";
import { BoothEffects, type BoothEffectsDeps } from "../../src/booth/effects.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { BARRIER_ANSWER_MS } from "../../src/outputs/barrier-answer.js";
import { consoleOutputs } from "../../src/outputs/console-outputs.js";
import { guardedOutputs } from "../../src/outputs/guarded-outputs.js";
import type { LaneOutputs } from "../../src/outputs/outputs.js";
import { sampleRecord } from "../journal/sample-record.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

interface Appended {
  type: string;
  message?: string;
  data?: Record<string, unknown>;
}

function effects(board: LaneOutputs): { fx: BoothEffects; outcomes: BoothOutcome[]; entries: Appended[] } {
  const lines: LogLine[] = [];
  const log = recordingLogger(lines);
  const outcomes: BoothOutcome[] = [];
  const subject = new Subject<BoothOutcome>();
  subject.subscribe((o) => outcomes.push(o));
  const entries: Appended[] = [];
  const fx = new BoothEffects({
    outputs: guardedOutputs(board, log, () => 0),
    audit: { append: (e: Appended) => entries.push(e) },
    log,
    now: () => 42,
    wallNow: () => 0,
    counters: { journalFailures: 0 },
    events: new Subject(),
    outcomes: subject,
    link: () => ({ status: "up" }),
    closed: () => false,
  } as unknown as BoothEffectsDeps);
  return { fx, outcomes, entries };
}

const paid = (): CommittedRecord =>
  ({ ...sampleRecord(7), seq: 12, tradeId: "T12", revision: 1 }) as unknown as CommittedRecord;

it("a barrier board that throws: the booth's outcome has no barrier time, the vehicle's alarm names it", () => {
  const { fx, outcomes, entries } = effects({
    emit(e) {
      if (e.type === "barrier") throw new Error("barrier board not answering");
    },
  });
  const rec = paid();
  fx.recorded(rec, true, 3);
  expect(outcomes.map((o) => [o.record.seq, o.barrierAt])).toEqual([[12, null]]);
  expect(entries.filter((e) => e.data?.code === "BARRIER_NOT_OPENED").map((e) => e.data)).toEqual([
    {
      code: "BARRIER_NOT_OPENED",
      path: "booth",
      cardId: rec.cardId,
      obuSerial: rec.obuSerial,
      obuId: rec.obuId,
      jseq: 12,
      tradeId: "T12",
      error: "barrier board not answering",
    },
  ]);
});

// second review, finding 3: the barrier settle.ts settledMeanwhile opens is on the lane's record (a suspect a
// late B5 settled as paid while the booth proved it); its alarm called it the booth's own paid record
it("a barrier board that throws on the lane's settled record (settledMeanwhile): the alarm names the lane's record and who settled it, and no outcome is emitted", () => {
  const { fx, outcomes, entries } = effects({
    emit(e) {
      if (e.type === "barrier") throw new Error("barrier board not answering");
    },
  });
  const rec = paid();
  expect(fx.openBarrier(rec, { whose: "lane", settledBy: "b5" })).toBeNull();
  expect(outcomes).toEqual([]);
  const alarms = entries.filter((e) => e.data?.code === "BARRIER_NOT_OPENED");
  // before: "the barrier did not open for paid booth record 12 (...)"
  expect(alarms.map((e) => e.message)).toEqual([
    `the barrier did not open for the lane's record 12, settled as paid by b5 while the booth proved it (trade T12, OBU A1000007): barrier board not answering; the vehicle paid: raise the barrier by hand`,
  ]);
  expect(alarms.map((e) => e.data)).toEqual([
    expect.objectContaining({ code: "BARRIER_NOT_OPENED", jseq: 12, settledBy: "b5" }),
  ]);
});

it("a barrier board that works: the booth's outcome has the barrier time, no alarm", () => {
  const { fx, outcomes, entries } = effects({ emit() {} });
  fx.recorded(paid(), true, 3);
  expect(outcomes.map((o) => o.barrierAt)).toEqual([42]);
  expect(entries).toEqual([]);
});

const alarmsOf = (entries: Appended[]) =>
  entries.filter((e) => e.data?.code === "BARRIER_NOT_OPENED").map((e) => e.data);

afterEach(() => {
  vi.useRealTimers();
});

it("an async board that never answers: the vehicle's alarm after BARRIER_ANSWER_MS", async () => {
  vi.useFakeTimers();
  const { fx, outcomes, entries } = effects({
    emit: (e) => (e.type === "barrier" ? new Promise<void>(() => {}) : undefined) as never,
  });
  fx.recorded(paid(), true, 3);
  expect(outcomes.map((o) => o.barrierAt)).toEqual([null]);
  await vi.advanceTimersByTimeAsync(BARRIER_ANSWER_MS - 1);
  expect(alarmsOf(entries)).toEqual([]);
  await vi.advanceTimersByTimeAsync(1);
  expect(alarmsOf(entries)).toEqual([
    expect.objectContaining({ jseq: 12, error: `no answer in ${BARRIER_ANSWER_MS} ms` }),
  ]);
});

it("the console's barrier line whose write fails after emit returned: the vehicle's alarm then", async () => {
  let fail: ((err: Error) => void) | undefined;
  const { fx, outcomes, entries } = effects(
    consoleOutputs((line, done) => {
      if (line.startsWith("[栏杆]")) fail = done;
      else done(null);
    }),
  );
  fx.recorded(paid(), true, 3);
  // answered at once: the outcome has the command's time
  expect(outcomes.map((o) => o.barrierAt)).toEqual([42]);
  expect(alarmsOf(entries)).toEqual([]);
  fail?.(Object.assign(new Error("write ENOSPC"), { code: "ENOSPC" }));
  await new Promise((r) => setImmediate(r));
  expect(alarmsOf(entries)).toEqual([expect.objectContaining({ jseq: 12, error: "write ENOSPC" })]);
});

it("the console's barrier line written only after BARRIER_ANSWER_MS (stdout's reader behind): no alarm", async () => {
  vi.useFakeTimers();
  let written: ((err: Error | null) => void) | undefined;
  const { fx, outcomes, entries } = effects(
    consoleOutputs((line, done) => {
      if (line.startsWith("[栏杆]")) written = done;
      else done(null);
    }),
  );
  fx.recorded(paid(), true, 3);
  expect(outcomes.map((o) => o.barrierAt)).toEqual([42]);
  await vi.advanceTimersByTimeAsync(BARRIER_ANSWER_MS + 500);
  expect(written).toBeDefined();
  written!(null);
  await vi.advanceTimersByTimeAsync(0);
  expect(alarmsOf(entries)).toEqual([]);
});
