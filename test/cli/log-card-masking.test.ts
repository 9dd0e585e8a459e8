/**
 * Card numbers in the lane's log (src/log.ts): masked as the CLI masks them ("4301************9001") in the
 * message, the fields and a child's bindings, unless `log.fullIds: true`; the line that keeps a record the
 * journal could not write (recordInFull) keeps them in full either way. Inside a frame's hex (the link's
 * warnings) they are masked where the bytes decode, and only the first bytes are shown where they do not
 * (src/log-frames.ts). The config's `log.fullIds` is validated like the other log fields and reaches the
 * logger (laneLogOptions, as `etc-lane run` opens it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, assert, beforeEach, expect, it } from "vitest";
import { createDeframer, encodeLegacy, encodeNational } from "../../firmware-bridge/framing/index.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { createLogger, laneLogOptions, recordInFull } from "../../src/log.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "../config/helpers.js";
import { logFileText } from "../helpers/log-file.js";
import { CARD, legacyB4, MASKED, NATIONAL_B4, NATIONAL_CARD } from "./b4-frame.js";

/** A legacy B4 cut short inside its file 0015 after the card number: no frame in it decodes. */
const HALF_B4 = legacyB4().slice(0, legacyB4().indexOf(CARD) + CARD.length + 8);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-log-mask-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

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
  const text = await logFileText(logger, file);
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
  const lines = (await logFileText(logger, file))
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
  const lines = (await logFileText(logger, file))
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

/**
 * The link's warnings with a B4's bytes: "undecodable frame" of the 182-byte national B4 on a lane with
 * `b4Ef04: true` (it decodes as the other form), and bytes discarded of a half legacy B4.
 */
function writeFrameLines(logger: Logger): void {
  logger.warn(
    { dir: "<-", hex: NATIONAL_B4, err: "the body ends inside field ..." },
    "undecodable frame: B4 is 91 byte(s) shorter than its declaration",
  );
  logger.warn({ dir: "<-", reason: "timeout", len: HALF_B4.length / 2, hex: HALF_B4 }, "bytes discarded");
}

it("masks a card number inside a frame's hex in the link's warnings; bytes that do not decode only by their head", async () => {
  expect(HALF_B4).toContain(CARD);
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", laneLogOptions({ ...configOf({}).log, file }));
  writeFrameLines(logger);
  const text = await logFileText(logger, file);
  expect(text).not.toContain(NATIONAL_CARD);
  expect(text).not.toContain(CARD);
  const [undecodable, discarded] = text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(undecodable.hex).toBe(NATIONAL_B4.replace(NATIONAL_CARD, "3701************5128"));
  expect(discarded).toMatchObject({
    len: HALF_B4.length / 2,
    hex: `${HALF_B4.slice(0, 18)}... (${HALF_B4.length / 2} bytes, not decoded: not logged past the header as it may hold a card number; log.fullIds: true logs it in full)`,
  });
});

it("masks the number in a frame's extra bytes too, and extra bytes without their frame only by their head", async () => {
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", { file });
  const extra = NATIONAL_B4.slice(NATIONAL_B4.indexOf(NATIONAL_CARD));
  logger.warn({ dir: "<-", type: "B4", extra, hex: NATIONAL_B4 }, "B4 is longer than its declaration");
  logger.warn({ dir: "<-", type: "B4", extra }, "B4 longer than its declaration");
  const lines = (await logFileText(logger, file))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const masked = "3701************5128";
  expect(lines.map((l) => [l.extra, l.hex])).toEqual([
    [extra.replace(NATIONAL_CARD, masked), NATIONAL_B4.replace(NATIONAL_CARD, masked)],
    [
      `... (${extra.length / 2} bytes, not decoded: not logged as it may hold a card number; log.fullIds: true logs it in full)`,
      undefined,
    ],
  ]);
});

it("writes a frame's hex in full with log.fullIds: true", async () => {
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", laneLogOptions({ ...configOf({ fullIds: true }).log, file }));
  writeFrameLines(logger);
  const lines = (await logFileText(logger, file))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => l.hex)).toEqual([NATIONAL_B4, HALF_B4]);
});

/** NATIONAL_B4 with `n` zero bytes inserted just before its file 0015 (a layout the lane does not know), re-framed. */
function nationalShifted(n: number): string {
  const wire = Buffer.from(NATIONAL_B4, "hex");
  const data = wire.subarray(8, wire.length - 2);
  const at = data.indexOf(Buffer.from("c9bdb6ab37010001", "hex")); // file 0015's issuer id
  return encodeNational(
    wire[3] as number,
    Buffer.concat([data.subarray(0, at), Buffer.alloc(n), data.subarray(at)]),
  ).toString("hex");
}

/** The legacy B4 (./b4-frame.ts) with `n` zero bytes inserted just before its file 0015, re-framed. */
function legacyShifted(n: number): string {
  const [ev] = createDeframer("legacy").push(Buffer.from(legacyB4(), "hex"), 0);
  assert(ev?.kind === "frame");
  const data = ev.frame.data;
  const at = data.indexOf(Buffer.from("bafec4cf43010001", "hex")); // file 0015's issuer id
  return encodeLegacy(
    0x18,
    Buffer.concat([data.subarray(0, at), Buffer.alloc(n), data.subarray(at)]),
  ).toString("hex");
}

const headOnly = (hex: string): string =>
  `${hex.slice(0, 18)}... (${hex.length / 2} bytes, not decoded: not logged past the header as it may hold a card number; log.fullIds: true logs it in full)`;

it("a B4 whose file 0015 is not where a layout puts it, or that is cut short, is shown only by its header", async () => {
  const shifted = [1, 4, 8, 12, 20].map(nationalShifted);
  const legacy4 = legacyShifted(4); // decodes whole, the last 4 bytes read as the reserve: a card type 0x43
  const short = legacyB4({ lastStation: false });
  expect(shifted.filter((hex) => !hex.includes(NATIONAL_CARD))).toEqual([]);
  expect(legacy4).toContain(CARD);
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", laneLogOptions({ ...configOf({}).log, file }));
  for (const hex of [...shifted, legacy4, short]) logger.warn({ dir: "<-", hex }, "undecodable frame");
  const text = await logFileText(logger, file);
  expect(text).not.toContain(NATIONAL_CARD);
  expect(text).not.toContain(CARD);
  const lines = text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => l.hex)).toEqual([...shifted, legacy4, short].map(headOnly));
});

it("the 182-byte B4 with 91 bytes before its file 0015 is the 273-byte form: its number masked where it stands", async () => {
  const hex = nationalShifted(91);
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", { file });
  logger.warn({ dir: "<-", hex }, "rx");
  const [line] = (await logFileText(logger, file))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(line.hex).toBe(hex.replace(NATIONAL_CARD, "3701************5128"));
});

const notLogged = (hex: string): string =>
  `... (${hex.length / 2} bytes, not decoded: not logged as it may hold a card number; log.fullIds: true logs it in full)`;

it("bytes discarded from inside a card number that start with 02 show no reader header; a whole reader frame's shows", async () => {
  // the national B4's tail from the 02 inside its card number, as the RSU link discards it after lost sync
  const rsuTail = NATIONAL_B4.slice(NATIONAL_B4.indexOf(NATIONAL_CARD) + 10);
  expect(rsuTail.startsWith("0211225128")).toBe(true);
  // a card number 4301 02xx xxxx xxxx xx 9001 on the reader link, the tail starting at its 02 (file 0015 in an
  // APDU response: the number, then the rest of the file and SW 9000)
  const card = "43010234567890129001";
  const readerTail = `${card.slice(4)}20201124203011240000009000`;
  // the same bytes with the ETX 03 at their end and a LEN (bytes 1-2) not their count: still no frame
  const noFrame = `${readerTail}03`;
  // a whole reader frame (an APDU reply carrying that file 0015), logged as the reader's unknown frame
  const frame = encodeReaderFrame(
    9,
    0x12,
    0,
    Buffer.from(`${card}2020112420301124000000009000`, "hex"),
  ).toString("hex");
  expect(frame).toContain(card);
  // STX, the LEN of its count and the ETX, but a CRC that is not its own: no frame either (as the deframer)
  const crc = Number.parseInt(frame.slice(-6, -2), 16);
  const badCrc = `${frame.slice(0, -6)}${(crc ^ 1).toString(16).padStart(4, "0")}03`;
  const file = join(dir, "lane.log");
  const logger = createLogger("etc-lane", laneLogOptions({ ...configOf({}).log, file }));
  for (const hex of [rsuTail, readerTail, noFrame, badCrc])
    logger.warn({ dir: "<-", hex }, "bytes discarded");
  logger.warn({ dir: "<-", hex: frame }, "unknown frame");
  const text = await logFileText(logger, file);
  expect(text).not.toContain("0211225128");
  expect(text).not.toContain(card.slice(4, 16));
  expect(text).not.toContain(card);
  const lines = text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => l.hex)).toEqual([
    notLogged(rsuTail),
    notLogged(readerTail),
    notLogged(noFrame),
    notLogged(badCrc),
    `${frame.slice(0, 12)}... (${frame.length / 2} bytes, not decoded: not logged past the header as it may hold a card number; log.fullIds: true logs it in full)`,
  ]);
  expect(frame.slice(0, 12)).toBe("02001b091200"); // STX, LEN 27, SEQ 9, CMD 12, P 0
});
