/**
 * A card's answer the booth cannot use is told by its length and SW, never its bytes (src/booth/apdus.ts):
 * a READ BINARY 0015 answered with SW 6281 (a worn card: "part of the data may be corrupted") or with the
 * wrong length carries the card's file 0015, and the error's text is shown and logged at info as the
 * collector's prompt (card-loop.ts, effects.ts), where the lane's logger (src/log.ts) would not find a card
 * number inside a run of hex to mask.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Subject } from "rxjs";
import { afterEach, beforeEach, expect, it } from "vitest";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import { readCard } from "../../src/booth/card-probe.js";
import { errText } from "../../src/booth/context.js";
import { BoothEffects, type BoothEffectsDeps } from "../../src/booth/effects.js";
import { PROMPTS } from "../../src/booth/prompts.js";
import { createLogger } from "../../src/log.js";
import { logFileLines } from "../helpers/log-file.js";

const CARD = "43010000000000009001";
/** A card's file 0015 (43 bytes): issuer id, type 0x16, version 0x40, the card number, dates, plate, 3 bytes. */
const FILE_0015 = Buffer.from(
  `c9bdb6ab43010001 16 40 ${CARD} 20200101 20300101 ${"41".repeat(12)} 000001`.replace(/ /g, ""),
  "hex",
);
const h = (s: string): Buffer => Buffer.from(s, "hex");

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-card-read-error-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A reader whose card answers SELECT and GET BALANCE, and READ BINARY 0015 with `answer15`. */
function readerAnswering(answer15: Buffer): CardReader {
  return {
    activate: async () => ({ uid: "01020304", cardType: "cpu", ats: "" }),
    cardApduList: async () => [h("9000"), answer15, h("000027109000")],
  } as unknown as CardReader;
}

it("READ BINARY 0015 answered with 6281 or the wrong length: the prompt and its log line name the length and SW, not the card", async () => {
  expect(FILE_0015).toHaveLength(43);
  const answers = [Buffer.concat([FILE_0015, h("6281")]), Buffer.concat([FILE_0015, h("00"), h("9000")])];
  const errors = await Promise.all(
    answers.map((a) => readCard(readerAnswering(a), DEFAULT_NATIONAL_DIALECT).then(() => undefined, errText)),
  );
  expect(errors).toEqual([
    expect.stringContaining("READ BINARY 0015: expected 43 bytes and 9000, got 43 byte(s) and 6281"),
    expect.stringContaining("READ BINARY 0015: expected 43 bytes and 9000, got 44 byte(s) and 9000"),
  ]);
  const file = join(dir, "lane.log");
  const log = createLogger("etc-lane", { file });
  const fx = new BoothEffects({
    outputs: { emit: () => {} },
    log,
    now: () => 0,
    wallNow: () => 0,
    events: new Subject(),
  } as unknown as BoothEffectsDeps);
  for (const e of errors) fx.show(PROMPTS.cardError(String(e)), null); // as the card loop shows it
  const lines = await logFileLines(log, file);
  expect(lines.map((l) => l.msg)).toEqual(errors.map((e) => expect.stringContaining(String(e))));
  expect(lines.map((l) => JSON.stringify(l)).filter((l) => l.includes(CARD))).toEqual([]);
});
