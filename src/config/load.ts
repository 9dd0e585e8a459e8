/**
 * Loading and validating the lane config. Errors are EtcError(E401_CONFIG_INVALID) whose message lists
 * every bad field as `path.to.field: what was expected`, so an installer fixes the file in one pass.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { type Dialect, defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { digestOf, type FileDigest } from "../file-digest.js";
import { comparedPaths, type LaneConfig, LaneConfigSchema, messageWithoutRefused } from "./schema.js";
import { asWritten, readConfigYaml, type WrittenIssue, type YamlSource } from "./yaml-source.js";

/** Turn a zod error into "field: expected ..." lines. */
export function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((i) => {
    const path = i.path.length ? i.path.map(String).join(".") : "(top level)";
    let msg = i.message;
    if (i.code === "unrecognized_keys") msg = `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(", ")}`;
    else if (i.code === "invalid_type" && /received undefined/.test(msg)) msg = `missing; ${msg}`;
    return `  ${path}: ${msg}`;
  });
  // one value can fail several checks that share one message (a whole percent past 2^53 is neither a safe
  // integer nor at most 100): said once
  return `${source}: invalid configuration\n${[...new Set(lines)].join("\n")}`;
}

/** What withoutEmptyKeys reads of a zod schema: its kind and what it holds (zod's `_zod.def`). */
interface SchemaNode {
  _zod: {
    def: {
      type: string;
      shape?: Record<string, SchemaNode>;
      valueType?: SchemaNode;
      innerType?: SchemaNode;
      in?: SchemaNode;
      getter?: () => SchemaNode;
    };
  };
}

/** Wrappers around a schema that say nothing about its shape: a default, optional, a transform's pipe. */
const WRAPPERS = new Set(["optional", "nullable", "nonoptional", "default", "prefault", "catch", "readonly"]);

/** The schema under its wrappers (`.optional()`, `.default()`, `.prefault()`, `.transform()`'s pipe, lazy). */
function unwrapped(schema: SchemaNode): SchemaNode {
  let s = schema;
  for (;;) {
    const d = s._zod.def;
    const next = WRAPPERS.has(d.type)
      ? d.innerType
      : d.type === "pipe"
        ? d.in
        : d.type === "lazy"
          ? d.getter?.()
          : undefined;
    if (next === undefined) return s;
    s = next;
  }
}

/** A section (a map of settings: an object, a record) or a list: what a key left empty may leave out. */
function isSection(schema: SchemaNode): boolean {
  const t = unwrapped(schema)._zod.def.type;
  return t === "object" || t === "record" || t === "array";
}

/**
 * A YAML key left empty (`link:` whose children are all commented out) parses as null: where the schema
 * expects a section there (or a list), it counts as not given, so the section's defaults apply and a
 * required field is reported missing. A setting left empty (`log.file:`, `station.tokenFile:`, a
 * `resultCodes` entry `"0x22":` with no class) is kept as null, and the setting's own error names it
 * (`..., got null`): no config setting takes null, and dropping it would drop the installer's line
 * without a word. A key the schema does not have keeps its value, null too: it is refused by name.
 *
 * What the schema would not say is put in `found` (named at `path`, the path of `raw`): a value that is no
 * plain object where the schema has a section (a Map, a Set, a Date: what YAML makes of `!!omap`, `!!set`,
 * a `%YAML 1.1` date), which zod's object would read as a section with no fields, its defaults applied
 * (Object.entries of a Map is []); and a key `__proto__` in a record (`resultCodes.b5`), which zod's record
 * skips without a word (in a section the schema names it as an unknown field itself).
 */
export function withoutEmptyKeys(
  raw: unknown,
  schema: SchemaNode = LaneConfigSchema as unknown as SchemaNode,
  found: CopyIssues = { notPlain: [], protoKeys: [] },
  path: (string | number)[] = [],
): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const d = unwrapped(schema)._zod.def;
  const proto = Object.getPrototypeOf(raw);
  if (proto !== Object.prototype && proto !== null) {
    if (d.type === "object" || d.type === "record")
      found.notPlain.push({ path, message: `expected a mapping (key: value), got ${notPlainKind(raw)}` });
    return raw;
  }
  const childOf = (key: string): SchemaNode | undefined =>
    d.type === "object"
      ? d.shape !== undefined && Object.hasOwn(d.shape, key)
        ? d.shape[key]
        : undefined
      : d.type === "record"
        ? d.valueType
        : undefined;
  // each key stays an own property: `out[k] = v` with a YAML key `__proto__` would set the copy's prototype
  // instead, and the section under it would pass the schema's unknown-key check, its fields read as the
  // enclosing section's (`transaction: { __proto__: { b5TimeoutMs: 5 } }`); kept, it is refused by name
  const out: Record<string, unknown> = {};
  const put = (k: string, v: unknown): void => {
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  };
  for (const [k, v] of Object.entries(raw)) {
    if (k === "__proto__" && d.type === "record")
      found.protoKeys.push({ path, message: 'unknown field(s) "__proto__"' });
    const child = childOf(k);
    if (child === undefined) put(k, v);
    else if (v !== null) put(k, withoutEmptyKeys(v, child, found, [...path, k]));
    else if (!isSection(child)) put(k, null);
  }
  return out;
}

/** What withoutEmptyKeys finds that the schema would not say, each by its path. */
export interface CopyIssues {
  /** a value that is no plain object where the schema has a section: the schema's issues under it give way */
  notPlain: WrittenIssue[];
  /** a record holding a key `__proto__` */
  protoKeys: WrittenIssue[];
}

/** `a Map`, `a Set`, `a date`, for a message. */
function notPlainKind(v: object): string {
  if (v instanceof Date) return "a date";
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name ? `a ${name}` : "an object of another kind";
}

/** `path` is `prefix` or under it. */
const isUnder = (path: readonly PropertyKey[], prefix: readonly (string | number)[]): boolean =>
  prefix.length <= path.length && prefix.every((s, k) => String(s) === String(path[k]));

/** The config's keys that are neither optional nor defaulted (what an empty file is told to hold). */
const REQUIRED_KEYS = Object.entries(LaneConfigSchema.shape)
  .filter(([, v]) => !["optional", "default", "prefault"].includes((v as SchemaNode)._zod.def.type))
  .map(([k]) => k);

/**
 * Validate an already parsed object. `baseDir` resolves relative paths (dataDir, tariff, keys). `written`:
 * what the YAML text says (./yaml-source.ts): its problems, listed with the schema's (the schema's issues of
 * a field named there are dropped: they speak of a value not written so, `lane: 010` under `%YAML 1.1` read
 * as 8), and its keys as written, which name every issue's path.
 */
export function parseLaneConfig(
  raw: unknown,
  source = "config",
  baseDir = process.cwd(),
  written: YamlSource = { issues: [], keys: new Map() },
): LaneConfig {
  // a file with no document (empty, or only comments): said so, not "expected a mapping ..., got null"
  if ((raw === null || raw === undefined) && written.issues.length === 0)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${source}: invalid configuration\n  (top level): the file holds no config (it is empty, or only comments): ` +
        `expected the lane config, a mapping (key: value) with at least ${REQUIRED_KEYS.join(", ")} ` +
        "(and tariff on an exit lane): see config/lane.example.yaml",
      { issues: [{ path: "", message: "the file holds no config" }] },
    );
  const found: CopyIssues = { notPlain: [], protoKeys: [] };
  const r = LaneConfigSchema.safeParse(withoutEmptyKeys(raw, undefined, found));
  // a value refused as no plain mapping: the schema's issues under it speak of what zod made of it
  const givesWay = [...written.issues.filter((w) => w.path.length > 0), ...found.notPlain];
  // a cross-field issue comparing with such a value too (`backoffMaxMs: ... (at least backoffInitialMs)`
  // beside a backoffInitialMs YAML misread): comparedPaths, ./schema.ts
  const gaveWay = (p: readonly PropertyKey[]): boolean => givesWay.some((w) => isUnder(p, w.path));
  // one whose message only states such a value (its condition does not depend on it) stands, without it
  const schemaIssues = (r.success ? [] : r.error.issues)
    .filter((i) => !gaveWay(i.path) && !comparedPaths(i).some(gaveWay))
    .map((i) => ({ ...i, message: messageWithoutRefused(i, gaveWay) }));
  // a Map the text names already (`!!omap`, ./yaml-source.ts) is named once, as written
  const notPlain = found.notPlain.filter((n) => !written.issues.some((w) => isUnder(n.path, w.path)));
  // each key named as written (`b5.0x22`, not the `b5.34` YAML made of an unquoted 0x22)
  const issues: z.core.$ZodIssue[] = [
    ...schemaIssues,
    ...[...written.issues, ...notPlain, ...found.protoKeys].map((w) => ({
      code: "custom" as const,
      path: w.path,
      message: w.message,
      input: undefined,
    })),
  ].map((i) => ({ ...i, path: asWritten(i.path, written.keys) }));
  if (!r.success || issues.length > 0) {
    throw new EtcError(ErrorCodes.ConfigInvalid, formatIssues(new z.ZodError(issues), source), {
      issues: issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
    });
  }
  const c = r.data;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...c,
    dataDir: abs(c.dataDir),
    ...(c.tariff !== undefined ? { tariff: abs(c.tariff) } : {}),
    statusList: { ...c.statusList, publicKey: abs(c.statusList.publicKey) },
    log: c.log.file ? { ...c.log, file: abs(c.log.file) } : c.log,
    service: c.service.tokenFile ? { ...c.service, tokenFile: abs(c.service.tokenFile) } : c.service,
    ...(c.station
      ? { station: c.station.tokenFile ? { ...c.station, tokenFile: abs(c.station.tokenFile) } : c.station }
      : {}),
    capture: c.capture.dir ? { ...c.capture, dir: abs(c.capture.dir) } : c.capture,
  };
}

export function loadLaneConfig(file: string): LaneConfig {
  return readLaneConfig(file).config;
}

/**
 * The config in `file`, with the digest of the bytes it was parsed from (the lane's `lane.start` entry
 * records it: a file replaced after this read is not the one the lane runs with).
 */
export function readLaneConfig(file: string): { config: LaneConfig; file: FileDigest } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${file}: cannot read the config file (${(e as Error).message})`,
    );
  }
  // the text's own checks (./yaml-source.ts): an alias key, a number YAML read as another, a tag not resolved
  const { raw, written } = readConfigYaml(bytes.toString("utf8"), file);
  return { config: parseLaneConfig(raw, file, dirname(resolve(file)), written), file: digestOf(file, bytes) };
}

/** The wire dialect the config selects: the variant's defaults with the configured overrides. */
export function dialectFromConfig(c: LaneConfig): Dialect {
  const base = defaultDialect(c.rsu.protocol);
  const o = c.rsu.dialect;
  return {
    ...base,
    ...(o.stationLength !== undefined ? { stationLength: o.stationLength } : {}),
    ...(o.lastStationLength !== undefined ? { lastStationLength: o.lastStationLength } : {}),
    ...(o.timeBase !== undefined ? { timeBase: o.timeBase } : {}),
    ...(o.cardTimeBase !== undefined ? { cardTimeBase: o.cardTimeBase } : {}),
    ...(o.utcOffsetMinutes !== undefined ? { utcOffsetMinutes: o.utcOffsetMinutes } : {}),
    ...(o.b4Ef04 !== undefined ? { b4Ef04: o.b4Ef04 } : {}),
    ...(o.b2AntennaId !== undefined ? { b2AntennaId: o.b2AntennaId } : {}),
  };
}
