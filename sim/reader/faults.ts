/**
 * Faults the simulated reader injects (docs/reader.md §8), as plain data so scripts, the CLI and tests
 * share them. Each is validated with zod; errors name the field.
 */
import { z } from "zod";

/**
 * An INS as a user writes it (a script step, a reader scenario, a `{...}` stdin line): 2 hex digits, a
 * string. A number is refused: YAML reads `ins: 54` as decimal 54, which as a byte is INS 0x36, not DEBIT.
 */
const insText = z
  .string({
    error: (iss) =>
      typeof iss.input === "number"
        ? `expected 2 hex digits in quotes, e.g. "54" (DEBIT): a number is not taken, quote it (YAML reads ins: ${iss.input} as decimal ${iss.input})`
        : undefined,
  })
  .regex(/^[0-9a-fA-F]{2}$/, 'expected 2 hex digits, e.g. "54"')
  .transform((s) => Number.parseInt(s, 16));
/** An INS of an already parsed fault (`ReaderFault`, the byte as a number), or as a user writes it. */
const insParsedOrText = z.union([z.number().int().min(0).max(255), insText]);
const times = z.number().int().min(1).max(1_000_000).default(1);

/**
 * The faults, their `ins` read by `ins`: the user's text form only (`readerFaultSchema`), or that and the
 * parsed form too (`parseReaderFault`, which `inject` runs on a fault a script step parsed already).
 */
function faultSchemaWith<I extends z.ZodType<number, unknown>>(ins: I) {
  /** Which APDUs a fault applies to: by target and INS (e.g. DEBIT is card INS 54, MAC1 is PSAM INS 70). */
  const apduMatchSchema = z
    .strictObject({
      target: z.enum(["card", "psam"]).optional(),
      ins: ins.optional(),
    })
    .default({});
  return z.discriminatedUnion("kind", [
    /**
     * The card leaves during a matching card APDU. commit false: before the card got it (nothing ran);
     * commit true: the card ran it (a DEBIT commits) and its answer is lost. Reply CARD_REMOVED, then a
     * CARD_EVENT removed.
     */
    z.strictObject({
      kind: z.literal("remove-card"),
      when: apduMatchSchema,
      commit: z.boolean().default(false),
    }),
    /** Shorthands of remove-card at DEBIT (card INS 54). */
    z.strictObject({ kind: z.literal("card-removed-before-debit") }),
    z.strictObject({ kind: z.literal("card-removed-after-debit") }),
    /** The card does not answer matching APDUs: reply CARD_MUTE (with commit, after the card ran it). */
    z.strictObject({
      kind: z.literal("card-mute"),
      when: apduMatchSchema,
      commit: z.boolean().default(false),
      times,
    }),
    /**
     * The card runs the next DEBIT (card INS 54) or GET TRANSACTION PROVE (INS 5A) as usual (a DEBIT
     * commits; the ledger has its real TAC), and its answer carries a TAC of all zeros, MAC2 as computed: a
     * card or reader that left the field unfilled (docs/protocol.md §6: such a TAC proves nothing). `on`:
     * DEBIT only, PROVE only, or either (absent). Only an answer that carries a TAC (9000) is changed and
     * counted.
     */
    z.strictObject({
      kind: z.literal("card-zero-tac"),
      on: z.enum(["debit", "prove"]).optional(),
      times,
    }),
    /** The PSAM answers matching APDUs with this status word instead of running them. */
    z.strictObject({
      kind: z.literal("psam-error"),
      when: apduMatchSchema,
      sw: z.string().regex(/^[0-9a-fA-F]{4}$/, 'expected 4 hex digits, e.g. "6581"'),
      times,
    }),
    /** The PSAM in `slot` is gone (PSAM_ABSENT) / back (it needs a reset again). */
    z.strictObject({ kind: z.literal("psam-absent"), slot: z.number().int().min(1).max(255).default(1) }),
    z.strictObject({ kind: z.literal("psam-present"), slot: z.number().int().min(1).max(255).default(1) }),
    /** The PSAM does not answer the next commands to it: PSAM_MUTE. */
    z.strictObject({ kind: z.literal("psam-mute"), times }),
    /** The next replies go out with a wrong CRC. */
    z.strictObject({ kind: z.literal("bad-checksum"), times }),
    /** The next replies are garbled: bytes overwritten, or junk bytes before them. */
    z.strictObject({ kind: z.literal("garble"), mode: z.enum(["bytes", "noise"]).default("bytes"), times }),
    /** Junk bytes on the line now. */
    z.strictObject({ kind: z.literal("noise"), bytes: z.number().int().min(1).max(4096).default(16) }),
    /**
     * The next commands take `delayMs` before their reply, with a WAIT frame every `waitEveryMs`
     * (0: none, so the reply comes late). Commands arriving meanwhile get BUSY.
     */
    z.strictObject({
      kind: z.literal("slow"),
      delayMs: z.number().int().min(1).max(600_000),
      waitEveryMs: z.number().int().min(0).max(60_000).default(300),
      times,
    }),
    /** The next commands get no reply at all. */
    z.strictObject({ kind: z.literal("silent"), times }),
    /**
     * The reader runs the next command carrying a matching APDU (a DEBIT commits on the card, ledger
     * `torn-after-debit`) and from then on answers nothing, neither that command nor any after it, until
     * `release()` (the script step `release`), which drops the replies held back. For a test that kills
     * the host while its command has run and its answer has not arrived.
     */
    z.strictObject({ kind: z.literal("hold"), when: apduMatchSchema }),
    /** The next commands are answered BAD_CHECKSUM, as if they arrived corrupted (nothing runs). */
    z.strictObject({ kind: z.literal("reader-nak"), times }),
    /** The cable is pulled for `durationMs` (the card stays in the field). */
    z.strictObject({
      kind: z.literal("unplug"),
      durationMs: z.number().int().min(1).max(600_000).default(2000),
    }),
  ]);
}

/** A fault as a user writes it: `ins` as 2 hex digits in quotes, a number refused (`insText`). */
export const readerFaultSchema = faultSchemaWith(insText);
const parsedOrTextSchema = faultSchemaWith(insParsedOrText);

export type ReaderFaultInput = z.input<typeof readerFaultSchema>;
export type ReaderFault = z.output<typeof readerFaultSchema>;
export type ApduMatch = Extract<ReaderFault, { kind: "remove-card" }>["when"];

/**
 * A fault as `inject` takes it: the user's form, or a fault parsed already (its `ins` the byte as a
 * number, as a script step carries it), which parses to itself.
 */
export function parseReaderFault(input: ReaderFaultInput | ReaderFault): ReaderFault {
  return parsedOrTextSchema.parse(input);
}

export function matches(m: ApduMatch, target: "card" | "psam", apdu: Buffer): boolean {
  if (m.target !== undefined && m.target !== target) return false;
  if (m.ins !== undefined && apdu[1] !== m.ins) return false;
  return true;
}
