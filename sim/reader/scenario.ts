/**
 * The simulated reader's scenario file (YAML, docs/reader.md §8.1): the reader's identity, its PSAM
 * slots, the cards (card-spec.ts shape) it adds to the card store, and an optional script. Validated
 * with zod; errors name the field.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { READER_SEEDS, seedSchema } from "../seed.js";
import { repeatedSlot } from "./psam-slots.js";
import {
  DEFAULT_READER_INFO_TEXT,
  DEFAULT_READER_SIM_MAX_FRAME,
  INFO_TEXT_FIELDS,
  INFO_TEXT_MAX_BYTES,
  infoReplyTooLong,
} from "./reader-info.js";
import { parseScriptStep, scriptStepSchema } from "./script.js";

/** An INFO text: sent after a 1-byte length, so at most 255 bytes of UTF-8 (reader-info.ts). */
const infoText = z.string().superRefine((s, ctx) => {
  const n = Buffer.byteLength(s, "utf8");
  if (n > INFO_TEXT_MAX_BYTES)
    ctx.addIssue({
      code: "custom",
      message: `expected at most ${INFO_TEXT_MAX_BYTES} bytes in UTF-8 (INFO sends it after a 1-byte length), got ${n}`,
    });
});

export const readerScenarioSchema = z.strictObject({
  name: z.string().optional(),
  /** Seed of the cards' INIT random numbers; READER_SEEDS (sim/seed.ts). */
  seed: seedSchema(READER_SEEDS).optional(),
  reader: z
    .strictObject({ vendor: infoText, model: infoText, firmware: infoText, serial: infoText })
    .partial()
    .superRefine((r, ctx) => {
      // `etc-sim reader` keeps the default frame limit: the INFO reply must fit it
      const text = { ...DEFAULT_READER_INFO_TEXT, ...r };
      if (INFO_TEXT_FIELDS.some((f) => Buffer.byteLength(text[f], "utf8") > INFO_TEXT_MAX_BYTES)) return;
      const tooLong = infoReplyTooLong(text, DEFAULT_READER_SIM_MAX_FRAME);
      if (tooLong) ctx.addIssue({ code: "custom", message: tooLong });
    })
    .optional(),
  psams: z
    .array(
      z.strictObject({
        slot: z.number().int().min(1).max(255),
        terminalNo: z.string().regex(/^[0-9a-fA-F]{12}$/, "expected 12 hex digits"),
        serial: z.number().int().min(0).max(0xffffffff).optional(),
        t0: z.boolean().optional(),
        absent: z.boolean().optional(),
      }),
    )
    .superRefine((psams, ctx) => {
      const repeat = repeatedSlot(psams);
      if (repeat) ctx.addIssue({ code: "custom", path: [repeat.index, "slot"], message: repeat.message });
    })
    .optional(),
  /** Cards as sim/card/card-spec.ts describes them (cardId, province, balance, record0019...). */
  cards: z.array(z.record(z.string(), z.unknown())).default([]),
  script: z.array(scriptStepSchema).default([]),
});

export type ReaderScenario = z.output<typeof readerScenarioSchema>;

export function parseReaderScenario(input: unknown, where = "scenario"): ReaderScenario {
  // Each step against the branch its key names first, so an error names the real problem (a fault's
  // `ins` written as a number...), not only that the step is no step.
  const script = (input as { script?: unknown } | null)?.script;
  if (Array.isArray(script))
    for (const [i, step] of script.entries()) parseScriptStep(step, `${where}: script.${i}`);
  const r = readerScenarioSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new EtcError(
    ErrorCodes.ConfigInvalid,
    `${where}${i && i.path.length > 0 ? `: ${i.path.join(".")}` : ""}: ${i?.message ?? "invalid"}`,
  );
}

export function loadReaderScenarioFile(path: string): ReaderScenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new EtcError(ErrorCodes.ConfigInvalid, `reader scenario ${path}: ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = parseYaml(text);
  } catch (e) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `reader scenario ${path} is not valid YAML: ${(e as Error).message}`,
    );
  }
  return parseReaderScenario(obj, path);
}
