/**
 * A paid vehicle whose barrier device failed (src/lane/effect-runner.ts watchBarrier, through
 * src/outputs/outputs.ts emitChecked): its record gets no barrier time (markBarrier is not called), its
 * outcome says no barrier, and the failure is said for this vehicle: an error line with its seq and OBU and
 * a BARRIER_NOT_OPENED alarm whose trail entry names the record, the card and the OBU. An async board is not
 * waited for: the record gets the command's time once the board took it, never for one it failed, nor for
 * one that did not answer within BARRIER_ANSWER_MS. The console answers at once; its line's write completes
 * after: the record gets the time once it was written, and a write that failed is the vehicle's alarm then.
 * Review: every paid vehicle of a barrier outage had a barrier time in its record, barrier_at, the
 * b5_barrier metric and outcomes$, and only the outage's first failure was an alarm (OUTPUT_FAILED, per
 * event type), with neither seq nor OBU. Second review: a board that never answered left its vehicle
 * unnamed for good, and the console's barrier line whose write failed (known only in its callback) had its
 * barrier time and no alarm.
 */
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { matches, toRow } from "../../src/audit/search.js";
import type { VehicleOutcome } from "../../src/lane/controller.js";
import { BARRIER_ANSWER_MS } from "../../src/outputs/barrier-answer.js";
import { type ConsoleWriter, consoleOutputs } from "../../src/outputs/console-outputs.js";
import { guardedOutputs } from "../../src/outputs/guarded-outputs.js";
import type { LaneOutputEvent, LaneOutputs } from "../../src/outputs/outputs.js";
import type { RsuEvent } from "../../src/rsu/driver.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { FakeJournal, type Rig, rig } from "./controller-fakes.js";
import { b2, b3, b4, b5, CARD_ID, NOW, OBU_ID, OBU_SERIAL } from "./machine-fixtures.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

/** The fake journal with the real one's markBarrier (src/journal/records.ts): the times it was given. */
class BarrierJournal extends FakeJournal {
  readonly barriers = new Map<number, number | string>();
  markBarrier(seq: number, time: number | string): boolean {
    this.barriers.set(seq, time);
    return true;
  }
}

interface Appended {
  type: string;
  severity: string;
  message: string;
  data?: Record<string, unknown>;
}

/** The controller over `board` wrapped as src/lane/runtime.ts wraps every sink (guardedOutputs). */
function barrierRig(board: LaneOutputs): {
  r: Rig;
  journal: BarrierJournal;
  entries: Appended[];
  lines: LogLine[];
  outcomes: VehicleOutcome[];
} {
  const journal = new BarrierJournal();
  const entries: Appended[] = [];
  const lines: LogLine[] = [];
  const logger = recordingLogger(lines);
  const r = rig({
    journal,
    outputs: guardedOutputs(board, logger, () => NOW),
    audit: { append: (e) => entries.push(e) },
    logger,
  });
  const outcomes: VehicleOutcome[] = [];
  r.ctl.outcomes$.subscribe((o) => outcomes.push(o));
  return { r, journal, entries, lines, outcomes };
}

/** One vehicle paid: B2, B3, B4 (C6 out), B5 00 (C1, the record, the barrier). */
async function pay(r: Rig): Promise<void> {
  await r.open();
  const frames: RsuEvent[] = [
    { kind: "obu", info: b2() },
    { kind: "vehicle", info: b3() },
    { kind: "card", info: b4() },
    { kind: "trade", info: b5() },
  ];
  for (const f of frames) {
    r.link.frame(f);
    await r.settle();
  }
  // markBarrier and the alarm run after pending I/O (setImmediate, faked here)
  await r.advance(0);
}

const barrierAlarms = (entries: Appended[]): Appended[] =>
  entries.filter((e) => e.type === "lane.alarm" && e.data?.code === "BARRIER_NOT_OPENED");

it("a barrier board that throws: no barrier time, outcome without barrier, the vehicle's alarm and log line", async () => {
  const emitted: LaneOutputEvent[] = [];
  const { r, journal, entries, lines, outcomes } = barrierRig({
    emit(e) {
      if (e.type === "barrier") throw new Error("barrier board not answering");
      emitted.push(e);
    },
  });
  await pay(r);
  const paid = journal.records.find((x) => x.kind === "transaction");
  expect(paid).toBeDefined();
  const seq = paid!.seq;
  expect(journal.barriers.size).toBe(0);
  expect(outcomes.map((o) => [o.record.seq, o.barrierAt])).toEqual([[seq, null]]);
  const alarms = barrierAlarms(entries);
  expect(alarms.map((e) => e.data)).toEqual([
    {
      code: "BARRIER_NOT_OPENED",
      cardId: CARD_ID,
      obuSerial: OBU_SERIAL,
      obuId: OBU_ID,
      jseq: seq,
      tradeId: paid!.tradeId,
      error: "barrier board not answering",
    },
  ]);
  // `etc-lane audit search --card / --obu` finds it from its data
  const entry = {
    ...alarms[0]!,
    seq: 1,
    time: "2026-11-26T08:00:00.000+08:00",
    utc: "2026-11-26T00:00:00.000Z",
    prev: "0".repeat(64),
    hash: "0".repeat(64),
  } as Parameters<typeof toRow>[0];
  for (const f of [{ card: CARD_ID }, { obu: OBU_SERIAL }, { reason: "BARRIER_NOT_OPENED" }])
    expect(matches(entry, toRow(entry), f)).toBe(true);
  expect(lines.filter((l) => l.level === "error").map((l) => l.obj)).toContainEqual(
    expect.objectContaining({ code: "BARRIER_NOT_OPENED", seq, obuId: OBU_ID }),
  );
  // the lane trades on: the light still turns green for the paid vehicle, the lane stays open
  expect(emitted.some((e) => e.type === "light" && e.color === "green")).toBe(true);
  expect(r.ctl.status.status).toBe("open");
});

it("a barrier board that works: the record's barrier time is the outcome's, no alarm", async () => {
  const { r, journal, entries, outcomes } = barrierRig({ emit() {} });
  await pay(r);
  const seq = journal.records.find((x) => x.kind === "transaction")!.seq;
  expect(outcomes).toHaveLength(1);
  expect(outcomes[0]!.barrierAt).not.toBeNull();
  expect([...journal.barriers]).toEqual([[seq, outcomes[0]!.barrierAt]]);
  expect(barrierAlarms(entries)).toEqual([]);
});

/** A board whose emit returns a promise the test settles (an IO board writing to its port). */
function asyncBoard(): { outputs: LaneOutputs; answer(fail?: Error): void; at(): number | undefined } {
  let settle: { resolve(): void; reject(e: Error): void } | undefined;
  let at: number | undefined;
  return {
    outputs: {
      async emit(e) {
        if (e.type !== "barrier") return;
        at = e.at;
        await new Promise<void>((resolve, reject) => {
          settle = { resolve, reject };
        });
      },
    },
    answer(fail) {
      if (fail) settle?.reject(fail);
      else settle?.resolve();
    },
    at: () => at,
  };
}

it("an async board is not waited for: the record gets the command's time once the board took it", async () => {
  const board = asyncBoard();
  const { r, journal, entries, outcomes } = barrierRig(board.outputs);
  await pay(r);
  const seq = journal.records.find((x) => x.kind === "transaction")!.seq;
  // the vehicle finished (its outcome out, the lane free) while the board had not answered
  expect(outcomes.map((o) => [o.record.seq, o.barrierAt])).toEqual([[seq, null]]);
  expect(r.ctl.inFlight()).toEqual([]);
  expect(journal.barriers.size).toBe(0);
  board.answer();
  await r.advance(0);
  expect([...journal.barriers]).toEqual([[seq, board.at()]]);
  expect(barrierAlarms(entries)).toEqual([]);
});

it("an async board that rejects: no barrier time ever, the vehicle's alarm", async () => {
  const board = asyncBoard();
  const { r, journal, entries, outcomes } = barrierRig(board.outputs);
  await pay(r);
  const paid = journal.records.find((x) => x.kind === "transaction")!;
  board.answer(new Error("barrier board write failed"));
  await r.advance(0);
  expect(journal.barriers.size).toBe(0);
  expect(outcomes.map((o) => o.barrierAt)).toEqual([null]);
  expect(barrierAlarms(entries).map((e) => e.data)).toEqual([
    expect.objectContaining({ jseq: paid.seq, obuId: OBU_ID, error: "barrier board write failed" }),
  ]);
});

it("an async board that never answers: after BARRIER_ANSWER_MS the vehicle's alarm, no barrier time, and a late answer changes nothing", async () => {
  const board = asyncBoard();
  const { r, journal, entries, lines, outcomes } = barrierRig(board.outputs);
  await pay(r);
  const paid = journal.records.find((x) => x.kind === "transaction")!;
  await r.advance(BARRIER_ANSWER_MS - 1);
  expect(barrierAlarms(entries)).toEqual([]);
  await r.advance(1);
  // the alarm comes after pending I/O: a setImmediate, which fake timers run 1 ms later when it is queued
  // inside a tick
  await r.advance(1);
  expect(barrierAlarms(entries).map((e) => e.data)).toEqual([
    expect.objectContaining({ jseq: paid.seq, obuId: OBU_ID, error: `no answer in ${BARRIER_ANSWER_MS} ms` }),
  ]);
  board.answer();
  await r.advance(0);
  expect(journal.barriers.size).toBe(0);
  expect(outcomes.map((o) => o.barrierAt)).toEqual([null]);
  expect(barrierAlarms(entries)).toHaveLength(1);
  expect(lines.filter((l) => l.level === "warn").map((l) => l.obj)).toContainEqual(
    expect.objectContaining({ seq: paid.seq, taken: true, boundMs: BARRIER_ANSWER_MS }),
  );
});

/** A console writer whose barrier line's write completes when the test says, with `err` if given. */
function heldConsole(): { outputs: LaneOutputs; complete(err?: Error): void; lines: string[] } {
  const lines: string[] = [];
  let barrierDone: ((err?: Error | null) => void) | undefined;
  const out: ConsoleWriter = (line, done) => {
    lines.push(line);
    if (line.startsWith("[栏杆]")) barrierDone = done;
    else queueMicrotask(() => done(null));
  };
  return { outputs: consoleOutputs(out), complete: (err) => barrierDone?.(err ?? null), lines };
}

it("the console's barrier line whose write fails after emit returned: the outcome keeps its time, the record gets none, the vehicle's alarm", async () => {
  const screen = heldConsole();
  const { r, journal, entries, outcomes } = barrierRig(screen.outputs);
  await pay(r);
  const paid = journal.records.find((x) => x.kind === "transaction")!;
  expect(screen.lines).toContain(`[栏杆] 抬杆 OBU ${OBU_ID}`);
  // answered at once: the outcome (b5_barrier) has the command's time
  expect(outcomes).toHaveLength(1);
  expect(outcomes[0]!.barrierAt).not.toBeNull();
  screen.complete(Object.assign(new Error("write ENOSPC"), { code: "ENOSPC" }));
  await r.advance(0);
  expect(journal.barriers.size).toBe(0);
  expect(barrierAlarms(entries).map((e) => e.data)).toEqual([
    expect.objectContaining({ jseq: paid.seq, obuId: OBU_ID, error: "write ENOSPC" }),
  ]);
});

it("the console's barrier line: the record gets the barrier time once the line was written", async () => {
  const screen = heldConsole();
  const { r, journal, entries, outcomes } = barrierRig(screen.outputs);
  await pay(r);
  const seq = journal.records.find((x) => x.kind === "transaction")!.seq;
  expect(journal.barriers.size).toBe(0);
  screen.complete();
  await r.advance(0);
  expect([...journal.barriers]).toEqual([[seq, outcomes[0]!.barrierAt]]);
  expect(barrierAlarms(entries)).toEqual([]);
});

// third review: the console's line waited for at most BARRIER_ANSWER_MS, so a stdout whose reader was only
// behind (a pipe, journald under load) made every paid vehicle of the stall BARRIER_NOT_OPENED
it("the console's barrier line written only after BARRIER_ANSWER_MS (stdout's reader behind): no alarm, and the record gets the barrier time then", async () => {
  const screen = heldConsole();
  const { r, journal, entries, outcomes } = barrierRig(screen.outputs);
  await pay(r);
  const seq = journal.records.find((x) => x.kind === "transaction")!.seq;
  await r.advance(BARRIER_ANSWER_MS + 500);
  expect(journal.barriers.size).toBe(0);
  expect(barrierAlarms(entries)).toEqual([]);
  screen.complete();
  await r.advance(0);
  expect([...journal.barriers]).toEqual([[seq, outcomes[0]!.barrierAt]]);
  expect(barrierAlarms(entries)).toEqual([]);
});
