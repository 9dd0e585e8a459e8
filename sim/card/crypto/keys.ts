/**
 * The card key model: which master keys exist and how a card's keys are derived from them
 * (docs/card-crypto.md). Two master keys matter to a lane and its simulator:
 *
 * - purchaseMasterKey (MPK): diversified to each card's purchase key DPK; the PSAM holds it and
 *   derives DPK from the divisors in the MAC1 command.
 * - tacMasterKey (MTK): diversified to each card's TAC key DTK; the issuer / clearing side holds it
 *   and verifies TACs with it.
 *
 * Key files are JSON and must carry `"marker": "TEST KEYS ONLY - never production"`; a file without
 * it is refused unless the caller passes `allowUnmarked` (and then it is flagged `testOnly: false`).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { EtcError } from "../../../firmware-bridge/errors.js";
import { CardErrorCodes } from "./errors.js";
import { algorithmFor, type DiversificationLevels, deriveCardKey, type EpurseAlgorithm } from "./pboc.js";

export const TEST_KEYS_MARKER = "TEST KEYS ONLY - never production";
export const DEFAULT_CARD_KEYS_FILE = "config/keys/card-test-keys.json";

export interface CardKeys {
  /** Where the keys came from (a path, or "inline"). */
  readonly source: string;
  /** True when the file carried the TEST KEYS ONLY marker. */
  readonly testOnly: boolean;
  /** Algorithm id as the card reports it in INIT (00 = 3DES, 04 = SM4). */
  readonly algId: number;
  /** Key index the terminal names in INITIALIZE FOR CAPP PURCHASE (usually 01). */
  readonly keyIndex: number;
  /** Key version the card reports in INIT and the PSAM receives in MAC1. */
  readonly keyVersion: number;
  /** 2 = issuer divisor, then card serial (ETC); 1 = card serial only. */
  readonly levels: DiversificationLevels;
  readonly purchaseMasterKey: Buffer;
  readonly tacMasterKey: Buffer;
}

const hex32 = z
  .string()
  .transform((s) => s.replace(/\s+/g, ""))
  .pipe(z.string().regex(/^[0-9a-fA-F]{32}$/, "expected 32 hex digits (a 16-byte double-length key)"));

const keyFileSchema = z
  .object({
    marker: z.string().optional(),
    description: z.string().optional(),
    algorithm: z.enum(["3des", "sm4"]).default("3des"),
    algId: z.number().int().min(0).max(255).optional(),
    keyIndex: z.number().int().min(0).max(255).default(1),
    keyVersion: z.number().int().min(0).max(255).default(1),
    diversificationLevels: z.union([z.literal(1), z.literal(2)]).default(2),
    purchaseMasterKey: hex32,
    tacMasterKey: hex32,
  })
  .strict();

export interface LoadKeysOptions {
  /** Accept a file without the TEST KEYS ONLY marker. Only for deliberate use with real test benches. */
  allowUnmarked?: boolean;
  source?: string;
}

function invalid(source: string, message: string, cause?: unknown): EtcError {
  return new EtcError(CardErrorCodes.KeysInvalid, `card keys ${source}: ${message}`, { source }, { cause });
}

/** Validate a parsed key file. Throws E701 (malformed) or E702 (no test marker). */
export function parseCardKeys(json: unknown, opts: LoadKeysOptions = {}): CardKeys {
  const source = opts.source ?? "inline";
  const r = keyFileSchema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.join(".")}: ` : "";
    throw invalid(source, `${where}${first?.message ?? "invalid"}`);
  }
  const f = r.data;
  const testOnly = f.marker === TEST_KEYS_MARKER;
  if (!testOnly && !opts.allowUnmarked) {
    throw new EtcError(
      CardErrorCodes.KeysUnmarked,
      `card keys ${source}: refused: no "marker": "${TEST_KEYS_MARKER}" field ` +
        "(pass allowUnmarked / --allow-unmarked-keys to use it anyway)",
      { source },
    );
  }
  const algId = f.algId ?? (f.algorithm === "sm4" ? 0x04 : 0x00);
  if ((f.algorithm === "sm4") !== (algId === 0x04)) {
    throw invalid(source, `algId ${algId} does not match algorithm "${f.algorithm}"`);
  }
  return {
    source,
    testOnly,
    algId,
    keyIndex: f.keyIndex,
    keyVersion: f.keyVersion,
    levels: f.diversificationLevels,
    purchaseMasterKey: Buffer.from(f.purchaseMasterKey, "hex"),
    tacMasterKey: Buffer.from(f.tacMasterKey, "hex"),
  };
}

/** The repository's config/keys/card-test-keys.json, found from this module's location (src or dist). */
export function defaultCardKeysPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, DEFAULT_CARD_KEYS_FILE);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return resolve(DEFAULT_CARD_KEYS_FILE);
}

/** Read and validate a key file (default: the repository's test keys). */
export function loadCardKeys(path: string = defaultCardKeysPath(), opts: LoadKeysOptions = {}): CardKeys {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw invalid(path, `cannot read: ${(e as Error).message}`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw invalid(path, `not JSON: ${(e as Error).message}`, e);
  }
  return parseCardKeys(json, { ...opts, source: opts.source ?? path });
}

/** A card's own keys. */
export interface CardKeyPair {
  /** Purchase key DPK (16 bytes). */
  dpk: Buffer;
  /** TAC key DTK (16 bytes). */
  dtk: Buffer;
}

/** The algorithm these keys are for (throws E703 for SM4). */
export function keysAlgorithm(keys: CardKeys): EpurseAlgorithm {
  return algorithmFor(keys.algId);
}

/** Derive a card's DPK and DTK from the master keys, the issuer id (16 hex) and the card serial (16 digits). */
export function deriveCardKeys(
  keys: CardKeys,
  issuerId: string | Buffer,
  cardSerial: string | Buffer,
): CardKeyPair {
  const alg = keysAlgorithm(keys);
  return {
    dpk: deriveCardKey(keys.purchaseMasterKey, issuerId, cardSerial, keys.levels, alg),
    dtk: deriveCardKey(keys.tacMasterKey, issuerId, cardSerial, keys.levels, alg),
  };
}
