/**
 * The exit-station tariff: fee = table[entry network-station][vehicle class] in fen, charged after the
 * ETC discount with integer arithmetic, rounded half up to whole fen. An unknown route or class is an
 * answer ("no fee"), never a guess.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { z } from "zod";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { formatIssues } from "../config/load.js";
import { digestOf, type FileDigest } from "../file-digest.js";
import { written, type YamlIssue } from "../yaml/forms.js";
import { mergeAndAliasKeyIssues } from "../yaml/keys.js";
import { taggedIssues, type WrittenWords, warningIssues } from "../yaml/tags.js";
import { applyDiscount } from "./discount.js";
import { type IssueAbout, tariffIssues } from "./fee-source.js";
import { isVehicleClass, VEHICLE_CLASSES_TEXT } from "./vehicle-class.js";
import { type ZeroCharge, zeroCharges, zeroChargeText } from "./zero-fee.js";

export { applyDiscount } from "./discount.js";

const ROUTE_RE = /^[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}$/;
const CLASS_RE = /^[0-9]{1,3}$/;
const CLASS_KEY_EXPECTED = 'expected a vehicle class number as key, e.g. "1" or "11"';

/** The words of the YAML tag checks (src/yaml/tags.ts) for a tariff. */
const WORDS: WrittenWords = {
  where: "a tariff",
  value: "expected a plain value written out (a quoted text, a whole number, true or false)",
  noneIs: "no field of a tariff is one",
};

const fen = z
  .number({ error: "expected a fee in whole fen (integer)" })
  .int({ error: "expected a fee in whole fen (integer)" })
  .min(0, { error: "expected a fee >= 0 fen" })
  .max(100_000_000, { error: "expected a fee <= 100000000 fen" });

/**
 * The characters a version may not hold: control characters (\p{Cc}: a line break, a tab, DEL, C1), format
 * characters (\p{Cf}: a zero-width space, a soft hyphen, a BOM, a bidi mark) and the line and paragraph
 * separators U+2028/U+2029 (\p{Zl}, \p{Zp}), private-use characters (\p{Co}: U+E000-U+F8FF and planes 15-16,
 * which a font shows as it likes, or as an empty box) and lone surrogates (\p{Cs}): each breaks a line or
 * shows as nothing, or as what this terminal's font chose, so a version holding one names no table a reader
 * can tell apart.
 */
const UNSEEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}]/u;
const UNSEEN_ALL = new RegExp(UNSEEN.source, "gu");

/**
 * `text` in quotes, every character of UNSEEN escaped as \uXXXX (an astral one as its two UTF-16 units):
 * JSON.stringify leaves DEL, C1, the format characters and U+2028/U+2029 as they are.
 */
const shownEscaped = (text: string): string =>
  JSON.stringify(text).replace(UNSEEN_ALL, (c) =>
    // split(""): by UTF-16 unit
    c
      .split("")
      .map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, "0")}`)
      .join(""),
  );

const VERSION_EXPECTED = 'expected a version string in quotes, e.g. version: "2025.10"';

export const TariffSchema = z
  .strictObject({
    /** the exit station this table is for, "NNNN-SSSS": a lane refuses a tariff of another station */
    station: z
      .string({ error: 'expected "NNNN-SSSS", the exit station this tariff is for' })
      .regex(ROUTE_RE, {
        error:
          'expected "NNNN-SSSS": 4 hex digits network, dash, 4 hex digits station (this tariff\'s exit station)',
      }),
    // a string only: YAML reads `version: 2025.10` as the number 2025.1, which would be recorded as "2025.1"
    // every record names the table by it: one that is blank (once UNSEEN's characters are dropped and it is
    // trimmed), or holds a character of UNSEEN, names no table a reader can tell apart; one issue per version
    version: z.string({ error: VERSION_EXPECTED }).superRefine((v, ctx) => {
      if (v.replace(UNSEEN_ALL, "").trim() === "")
        ctx.addIssue({ code: "custom", input: v, message: `${VERSION_EXPECTED}; got a blank version` });
      else if (UNSEEN.test(v))
        ctx.addIssue({
          code: "custom",
          input: v,
          message:
            `${VERSION_EXPECTED}, without control, format or private-use characters (a line break, a tab, ` +
            `a zero-width space, U+2028, U+E000); got ${shownEscaped(v)}`,
        });
    }),
    /** ETC discount in whole percent (policy: at least 5). */
    etcDiscountPercent: z
      .number({ error: "expected a whole percent 0..100" })
      .int({ error: "expected a whole percent 0..100" })
      .min(0, { error: "expected a whole percent 0..100" })
      .max(100, { error: "expected a whole percent 0..100" })
      .default(5),
    /**
     * true: a fee charged as 0 fen (a fee of 0, or one the discount brings to 0) is free passage on purpose
     * (a holiday); without it such a fee is refused (./zero-fee.ts).
     */
    allowZeroFee: z.boolean({ error: "expected true or false" }).default(false),
    routes: z
      .array(
        z.strictObject({
          from: z.string({ error: 'expected "NNNN-SSSS" (entry network-station)' }).regex(ROUTE_RE, {
            error: 'expected "NNNN-SSSS": 4 hex digits network, dash, 4 hex digits station',
          }),
          // a route with no fee prices nothing: every vehicle from it would stop UNKNOWN_CLASS
          fees: z
            .record(
              z.string().regex(CLASS_RE, { error: CLASS_KEY_EXPECTED }),
              fen,
              // zod names a key its regex refuses "Invalid key in record": say what a key is
              { error: (iss) => (iss.code === "invalid_key" ? CLASS_KEY_EXPECTED : undefined) },
            )
            .refine((o) => Object.keys(o).length > 0, {
              error: 'expected at least one vehicle class and its fee, e.g. fees: { "1": 1500 }',
            }),
        }),
        { error: "expected a list of routes" },
      )
      // a table with no route prices nothing: every exit vehicle would stop UNKNOWN_ROUTE
      .min(1, { error: 'expected at least one route, e.g. - from: "4301-0101"' }),
  })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.routes.forEach((r, i) => {
      const k = r.from.toLowerCase();
      if (seen.has(k))
        ctx.addIssue({
          code: "custom",
          path: ["routes", i, "from"],
          message: `route ${r.from} listed twice`,
        });
      seen.add(k);
      // A fee key names a JT/T 489 vehicle class (src/tariff/vehicle-class.ts); "1" and "01" name the
      // same class, and a table holding both would charge whichever the parser kept last.
      const classes = new Map<number, string>();
      for (const key of Object.keys(r.fees)) {
        if (!CLASS_RE.test(key)) continue; // the key schema has named it
        const n = Number(key);
        if (!isVehicleClass(n)) {
          ctx.addIssue({
            code: "custom",
            path: ["routes", i, "fees", key],
            message: `expected a JT/T 489 vehicle class (${VEHICLE_CLASSES_TEXT}) as key, got "${key}"`,
            params: { about: "key" } satisfies IssueAbout,
          });
          continue;
        }
        const other = classes.get(n);
        if (other !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["routes", i, "fees", key],
            message: `class ${n} listed twice (as "${other}" and "${key}"); expected one fee per class`,
            params: { about: "key" } satisfies IssueAbout,
          });
        }
        classes.set(n, key);
      }
    });
    // a charge of 0 fen is free passage: only when the tariff says so (./zero-fee.ts)
    if (t.allowZeroFee) return;
    const opt = "or allowZeroFee: true at the top of the tariff for free passage (e.g. a holiday)";
    if (t.etcDiscountPercent === 100) {
      ctx.addIssue({
        code: "custom",
        path: ["etcDiscountPercent"],
        message: `a discount of 100 % charges every route and class 0 fen; expected less than 100, ${opt}`,
        params: { about: "discount" } satisfies IssueAbout,
      });
      return;
    }
    for (const z0 of zeroCharges(t.routes, t.etcDiscountPercent))
      ctx.addIssue({
        code: "custom",
        path: ["routes", z0.route, "fees", z0.key],
        message: `${zeroChargeText(z0.fee, t.etcDiscountPercent)}: that vehicle would pass free; expected a fee charged at least 1 fen, ${opt}`,
        params: { about: "fee", discounted: z0.fee > 0 } satisfies IssueAbout,
      });
  });

export type TariffInput = z.input<typeof TariffSchema>;

/**
 * A fee key `__proto__`: zod's record skips it without an issue, so the schema alone would drop its fee
 * silently (`fees: { "1": 1500, "__proto__": 1500 }` loaded as class 1 alone); named here as any other key
 * that is no class (the lane config names one in a record too: withoutEmptyKeys, src/config/load.ts).
 */
function protoFeeKeys(raw: unknown): z.core.$ZodIssue[] {
  const routes = raw !== null && typeof raw === "object" ? (raw as { routes?: unknown }).routes : undefined;
  if (!Array.isArray(routes)) return [];
  return routes.flatMap((route: unknown, i) => {
    const fees = route !== null && typeof route === "object" ? (route as { fees?: unknown }).fees : undefined;
    return fees !== null && typeof fees === "object" && Object.hasOwn(fees, "__proto__")
      ? [
          {
            code: "custom" as const,
            path: ["routes", i, "fees", "__proto__"],
            message: CLASS_KEY_EXPECTED,
            params: { about: "key" } satisfies IssueAbout,
            input: undefined,
          },
        ]
      : [];
  });
}

/** The tariff refused (E401) with each issue named as formatIssues names it (src/config/load.ts). */
function invalid(issues: z.core.$ZodIssue[], source: string): EtcError {
  return new EtcError(ErrorCodes.ConfigInvalid, formatIssues(new z.ZodError(issues), source));
}

/** Issues of the YAML text (src/yaml/forms.ts) as zod's custom issues, for invalid. */
function custom(issues: YamlIssue[]): z.core.$ZodIssue[] {
  return issues.map((i) => ({ code: "custom" as const, ...i, input: undefined }));
}

/** The schema's result for `raw`, with its issues and those of protoFeeKeys: `data` only when there are none. */
function checked(raw: unknown): { data: z.output<typeof TariffSchema> | null; issues: z.core.$ZodIssue[] } {
  const r = TariffSchema.safeParse(raw);
  const issues = [...(r.success ? [] : r.error.issues), ...protoFeeKeys(raw)];
  return { data: r.success && issues.length === 0 ? r.data : null, issues };
}

export type FeeResult =
  | { ok: true; fee: number; discountPercent: number; amount: number; tariffVersion: string }
  | { ok: false; reason: "UNKNOWN_ROUTE" | "UNKNOWN_CLASS"; tariffVersion: string };

/** A tariff read from a file: `file` holds the digest of the bytes it was parsed from. */
export type LoadedTariff = Tariff & { readonly file: FileDigest };

export class Tariff {
  /**
   * The file it was loaded from, with the SHA-256 of the bytes parsed (the trail's `tariff.loaded`
   * records it); null for a tariff parsed from an object or a text.
   */
  readonly file: FileDigest | null;
  /** the exit station it is for, "nnnn-ssss" (lower-case hex) */
  readonly station: string;
  readonly version: string;
  readonly etcDiscountPercent: number;
  /** the tariff lets a route and class be charged 0 fen (`allowZeroFee: true`): see freePassage() */
  readonly allowZeroFee: boolean;
  private readonly freeCharges: readonly ZeroCharge[];
  private readonly table: ReadonlyMap<string, ReadonlyMap<number, number>>;

  private constructor(input: z.output<typeof TariffSchema>, file: FileDigest | null = null) {
    this.file = file;
    this.station = input.station.toLowerCase();
    this.version = input.version;
    this.etcDiscountPercent = input.etcDiscountPercent;
    this.allowZeroFee = input.allowZeroFee;
    this.freeCharges = zeroCharges(input.routes, input.etcDiscountPercent);
    const m = new Map<string, Map<number, number>>();
    for (const r of input.routes) {
      const fees = new Map<number, number>();
      for (const [k, v] of Object.entries(r.fees)) fees.set(Number(k), v);
      m.set(r.from.toLowerCase(), fees);
    }
    this.table = m;
  }

  static parse(raw: unknown, source = "tariff"): Tariff {
    const r = checked(raw);
    if (r.data === null) throw invalid(r.issues, source);
    return new Tariff(r.data);
  }

  /**
   * The tariff in `file` for the exit lane of `lane`: refused (E401, naming the file's `station`) when it
   * is another station's table, whose fares this lane would charge.
   */
  static loadFor(file: string, lane: { network: string; station: string }): LoadedTariff {
    const t = Tariff.load(file);
    const here = `${lane.network}-${lane.station}`.toLowerCase();
    if (t.station !== here)
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `${file}: station: this tariff is for exit station ${t.station.toUpperCase()}, but the lane is ` +
          `${here.toUpperCase()} (lane.network, lane.station): it would charge another station's fares`,
      );
    return t;
  }

  /** The tariff in `file`, read once: its digest is that of the bytes parsed, never of a second read. */
  static load(file: string): LoadedTariff {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `${file}: cannot read the tariff (${(e as Error).message})`,
      );
    }
    return Tariff.fromYaml(bytes.toString("utf8"), file, digestOf(file, bytes)) as LoadedTariff;
  }

  /**
   * The tariff in YAML `text`. Beyond the schema (./fee-source.ts): a fee, and `etcDiscountPercent`, must
   * be written as a plain integer YAML reads as its digits: `15.00` is the number 15 once parsed, and would
   * be charged as 15 fen, `010` under `%YAML 1.1` is 8; a class key must be decimal digits read as those
   * digits (`0xB:` would be class 11), and is named as written; no merge key (`<<`), nor an alias as a
   * key (`*d :`), is taken, since the pairs they bring are not checked as written; and the tags and parser
   * warnings the lane config refuses are refused (src/yaml/tags.ts: `version: !env V`, `!!int abc`, an
   * unknown `%` directive), each before the schema is applied.
   */
  static fromYaml(text: string, source = "tariff", file: FileDigest | null = null): Tariff {
    const doc = parseDocument(text);
    const bad = doc.errors[0];
    if (bad)
      throw new EtcError(ErrorCodes.ConfigInvalid, `${source}: cannot read the tariff (${bad.message})`);
    // a merge key (`<<`) or an alias as a key (`*d :`) brings in pairs the checks below never see as
    // written: refused before anything is read from the converted object (./fee-source.ts); then a tag
    // YAML did not resolve or that makes no plain value (`version: !env V` would be the text "V"), and a
    // warning of the parser (an unknown `%` directive), as in the lane config (src/yaml/tags.ts)
    const keyIssues = mergeAndAliasKeyIssues(doc);
    if (keyIssues.length > 0) throw invalid(custom(keyIssues), source);
    const tagIssues = [
      ...taggedIssues(doc, text, WORDS, { name: written }),
      ...warningIssues(doc, WORDS.where),
    ];
    if (tagIssues.length > 0) throw invalid(custom(tagIssues), source);
    // the conversion can fail too (more aliases than yaml's limit): named like a parse error, with the file
    let js: unknown;
    try {
      js = doc.toJS();
    } catch (e) {
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `${source}: cannot read the tariff (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    const r = checked(js);
    // the schema's issues as they apply to what was written, with those of the text (./fee-source.ts): a
    // key or number YAML read as another number than written (`011:` under %YAML 1.1 as class 9), a fee
    // the schema never saw (a pair a later one of the same class replaced)
    const issues = tariffIssues(doc, r.issues, (value) => {
      const f = fen.safeParse(value);
      return f.success ? [] : f.error.issues.map((i) => i.message);
    });
    if (r.data === null || issues.length > 0) throw invalid(issues, source);
    return new Tariff(r.data, file);
  }

  /**
   * What this tariff charges 0 fen (only with `allowZeroFee: true`; otherwise it was refused), as
   * "NNNN-SSSS class C (a fee of 0 fen)" phrases, in table order; empty when nothing is free.
   */
  freePassage(): string[] {
    return this.freeCharges.map(
      (z0) =>
        `${z0.from.toUpperCase()} class ${Number(z0.key)} (${zeroChargeText(z0.fee, this.etcDiscountPercent)})`,
    );
  }

  /** Routes as "nnnn-ssss" keys (lower-case hex). */
  routes(): string[] {
    return [...this.table.keys()];
  }

  classesFor(network: string, station: string): number[] {
    return [...(this.table.get(`${network}-${station}`.toLowerCase())?.keys() ?? [])];
  }

  /** The charge for a vehicle of `vehicleClass` that entered at network-station (4 hex digits each). */
  fee(entryNetwork: string, entryStation: string, vehicleClass: number): FeeResult {
    const route = this.table.get(`${entryNetwork}-${entryStation}`.toLowerCase());
    if (!route) return { ok: false, reason: "UNKNOWN_ROUTE", tariffVersion: this.version };
    const fee = route.get(vehicleClass);
    if (fee === undefined) return { ok: false, reason: "UNKNOWN_CLASS", tariffVersion: this.version };
    return {
      ok: true,
      fee,
      discountPercent: this.etcDiscountPercent,
      amount: applyDiscount(fee, this.etcDiscountPercent),
      tariffVersion: this.version,
    };
  }
}
