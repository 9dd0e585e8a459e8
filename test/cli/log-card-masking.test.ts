/**
 * Card numbers in the lane's log (src/log.ts): masked as the CLI masks them ("4301************9001") in the
 * message, the fields and a child's bindings, unless `log.fullIds: true`; the line that keeps a record the
 * journal could not write (recordInFull) keeps them in full either way. The config's `log.fullIds` is
 * validated like the other log fields and reaches the logger (laneLogOptions, as `etc-lane run` opens it).
 */
import { type EventEmitter, once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, assert, beforeEach, expect, it } from "vitest";
import type { Logger } from "../../firmware-bridge/log.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { createLogger, laneLogOptions, recordInFull } from "../../src/log.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "../config/helpers.js";

const CARD = "43010000000000009001";
const MASKED = "4301************9001";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-log-mask-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The log file's text, once the logger's destination has written it all and closed it. */
async function textOf(logger: Logger, file: string): Promise<string> {
  const dest = (logger as unknown as Record<symbol, EventEmitter & { end(): void }>)[pino.symbols.streamSym];
  assert(dest, "the logger's destination");
  const closed = once(dest, "close");
  dest.end();
  await closed;
  return readFileSync(file, "utf8");
}

/** Lines as the lane writes them: a card id in a field, in the message, and in a child's bindings. */
function writeCardLines(logger: Logger): void {
  logger.error({ err: "database is locked", cardId: CARD }, "booth journal query failed");
  logger.warn({ seq: 7 }, `uncertain debit of 14.25 yuan on card ${CARD}:\nsettle it`);
  logger.child({ card: CARD }).info("card on the reader");
}

function configOf(log: unknown) {
  return parseLaneConfig({ ...MINIMAL_LANE_CONFIG, log }, "lane.yaml", "/etc");
}

it("masks card numbers in the lane log by default: message, fields and bindings", async () => {
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", laneLogOptions({ ...configOf({}).log, file }));
  writeCardLines(logger);
  const text = await textOf(logger, file);
  expect(text).not.toContain(CARD);
  expect(
    text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l)),
  ).toEqual([
    expect.objectContaining({ cardId: MASKED, msg: "booth journal query failed" }),
    expect.objectContaining({ seq: 7, msg: `uncertain debit of 14.25 yuan on card ${MASKED}:\nsettle it` }),
    expect.objectContaining({ card: MASKED, msg: "card on the reader" }),
  ]);
});

it("writes them in full with log.fullIds: true", async () => {
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", laneLogOptions({ ...configOf({ fullIds: true }).log, file }));
  writeCardLines(logger);
  const lines = (await textOf(logger, file))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines).toEqual([
    expect.objectContaining({ cardId: CARD }),
    expect.objectContaining({ msg: `uncertain debit of 14.25 yuan on card ${CARD}:\nsettle it` }),
    expect.objectContaining({ card: CARD }),
  ]);
});

it("keeps a record the journal could not write in full, its mark writing no field; the next line is masked", async () => {
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", { file });
  logger.error(
    recordInFull({ err: "disk full", record: { cardId: CARD, tac: "1A2B3C4D" } }),
    "JOURNAL COMMIT FAILED",
  );
  logger.error({ cardId: CARD }, "after it");
  const lines = (await textOf(logger, file))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines).toEqual([
    expect.objectContaining({ record: { cardId: CARD, tac: "1A2B3C4D" }, msg: "JOURNAL COMMIT FAILED" }),
    expect.objectContaining({ cardId: MASKED, msg: "after it" }),
  ]);
  expect(Object.keys(lines[0])).toEqual(["level", "time", "pid", "name", "err", "record", "msg"]);
});

it("log.fullIds defaults to false and takes only true or false, naming the field", () => {
  expect(configOf({}).log.fullIds).toBe(false);
  expect(configErrorOf({ ...MINIMAL_LANE_CONFIG, log: { fullIds: "yes" } })).toMatch(
    /log\.fullIds: expected true or false/,
  );
});
