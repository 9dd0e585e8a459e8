/**
 * The line that keeps a record the journal could not write ("JOURNAL COMMIT FAILED" from the lane's effect
 * runner, "BOOTH JOURNAL COMMIT FAILED" from the booth's effects) is that record's only copy: written by the
 * lane's real logger (src/log.ts, card numbers masked by default), it keeps the card number in full
 * (recordInFull), while the lines around it are masked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Subject } from "rxjs";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { BoothEffects, type BoothEffectsDeps } from "../../src/booth/effects.js";
import type { NewLaneRecord } from "../../src/journal/types.js";
import { createLogger } from "../../src/log.js";
import { logFileLines } from "../helpers/log-file.js";
import { rig } from "./controller-fakes.js";
import { b2, b3, b4, b5, CARD_ID, NOW } from "./machine-fixtures.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-record-in-full-"));
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

const MASKED = `${CARD_ID.slice(0, 4)}************${CARD_ID.slice(-4)}`;

it("the lane: a paid vehicle whose record the journal could not write is logged with its card in full", async () => {
  vi.useFakeTimers({ now: NOW });
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", { file });
  const r = rig({ logger });
  await r.open();
  r.link.frame({ kind: "obu", info: b2() });
  await r.settle();
  r.link.frame({ kind: "vehicle", info: b3() });
  await r.settle();
  r.link.frame({ kind: "card", info: b4() });
  await r.settle();
  r.journal.failCommits = true;
  r.link.frame({ kind: "trade", info: b5() });
  await r.settle();
  vi.useRealTimers();
  const lines = await logFileLines(logger, file);
  const failed = lines.filter((l) => l.msg === "JOURNAL COMMIT FAILED");
  expect(failed.map((l) => (l.record as { cardId: unknown }).cardId)).toEqual([CARD_ID]);
  // the other lines naming the card (its alarm) are masked
  const others = lines.filter((l) => l.msg !== "JOURNAL COMMIT FAILED").map((l) => JSON.stringify(l));
  expect(others.filter((l) => l.includes(CARD_ID))).toEqual([]);
});

it("the booth: a record its journal could not write is logged with its card in full", async () => {
  const file = join(dir, "lane.log");
  const log = createLogger("etc-lane", { file });
  const fx = new BoothEffects({
    outputs: { emit: () => {} },
    audit: undefined,
    journal: {
      commit: () => {
        throw new Error("disk I/O error");
      },
    },
    log,
    now: () => 0,
    wallNow: () => NOW,
    counters: { journalFailures: 0 },
    events: new Subject(),
    outcomes: new Subject(),
    link: () => ({ status: "up" }),
    closed: () => false,
  } as unknown as BoothEffectsDeps);
  const rec = {
    kind: "transaction",
    outcome: "paid",
    cardId: CARD_ID,
    tac: "1a2b3c4d",
  } as unknown as NewLaneRecord;
  expect(fx.tryCommit(rec)).toBeUndefined();
  log.warn({ cardId: CARD_ID }, "after it");
  const lines = await logFileLines(log, file);
  expect(lines.filter((l) => l.msg === "BOOTH JOURNAL COMMIT FAILED").map((l) => l.record)).toEqual([
    { kind: "transaction", outcome: "paid", cardId: CARD_ID, tac: "1a2b3c4d" },
  ]);
  expect(lines.filter((l) => l.msg === "after it").map((l) => l.cardId)).toEqual([MASKED]);
});
