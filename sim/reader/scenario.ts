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
import { parseScriptStep, scriptStepSchema } from "./script.js";

export const readerScenarioSchema = z.strictObject({
  name: z.string().optional(),
  /** Seed of the cards' INIT random numbers; READER_SEEDS (sim/seed.ts). */
  seed: seedSchema(READER_SEEDS).optional(),
  reader: z
    .strictObject({ vendor: z.string(), model: z.string(), firmware: z.string(), serial: z.string() })
    .partial()
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
