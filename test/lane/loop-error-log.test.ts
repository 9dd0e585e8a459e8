/**
 * A frame whose handling throws is logged as "lane loop error" with its type and bytes
 * (src/lane/loop-errors.ts), through the lane's real logger (src/log.ts): the bytes go in `hex`, the field the
 * lane's log masks a B4's card number in (src/log-frames.ts), so the line shipped with a LANE_LOOP_ERROR
 * report does not carry the card in full.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { createLogger } from "../../src/log.js";
import type { Tariff } from "../../src/tariff/tariff.js";
import { CARD, legacyB4, MASKED } from "../cli/b4-frame.js";
import { logFileLines } from "../helpers/log-file.js";
import { rig } from "./controller-fakes.js";
import { b2, b3, b4, NOW } from "./machine-fixtures.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-loop-error-log-"));
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

it("a B4 whose handling throws: its bytes logged with the card number masked", async () => {
  vi.useFakeTimers({ now: NOW });
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", { file });
  const fee = (): never => {
    throw new Error("tariff defect");
  };
  const r = rig({ logger, tariff: { fee } as unknown as Tariff });
  await r.open();
  r.link.frame({ kind: "obu", info: b2() });
  await r.settle();
  r.link.frame({ kind: "vehicle", info: b3() });
  await r.settle();
  const raw = legacyB4();
  r.link.frame({ kind: "card", info: b4() }, { raw });
  await r.settle();
  vi.useRealTimers();
  const lines = await logFileLines(logger, file);
  const errors = lines.filter((l) => l.msg === "lane loop error");
  expect(errors).toEqual([
    expect.objectContaining({ frame: "EV", hex: raw.replace(CARD, MASKED), err: expect.anything() }),
  ]);
  expect(lines.map((l) => JSON.stringify(l)).filter((l) => l.includes(CARD))).toEqual([]);
});
