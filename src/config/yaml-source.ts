/**
 * The lane config's YAML as written, checked before its values reach the schema (./schema.ts), as the
 * tariff's is (src/tariff/fee-source.ts): what the text says is what the lane runs with.
 *
 * - A merge key (`<<`) or an alias used as a key (`*k : data9` after `&k dataDir: data1`) is refused:
 *   the last of two pairs for one field would win silently (mergeAndAliasKeyIssues, src/yaml/keys.ts).
 * - A number whose text YAML reads as another number is refused, naming the field: `lane: 010` under
 *   `%YAML 1.1` is octal 8, `retentionDays: 0100` is 64, `1:20` is base 60, 80 (misreadNumber).
 * - A tag is refused, naming the field and the line, unless it is one of YAML's plain kinds (PLAIN_TAGS:
 *   `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`) that YAML resolved, or the
 *   non-specific `!` (`! 010`, a string): a tag YAML does not resolve (`dataDir: !env LANE_DIR`, `!!foo`,
 *   `!!int abc`: the value would be the text), and one that makes a value no setting is (`!!omap`,
 *   `!!set`, `!!pairs`: a Map, a Set or a list of pairs, which a section would read as empty, its defaults
 *   applied; `!!binary`, `!!timestamp`). So is a date `%YAML 1.1` reads without a tag
 *   (`transaction: 2001-12-14`). Keys are checked too.
 * - Any other warning of the parser (an unknown `%` directive) is refused.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, parseDocument, type Scalar } from "yaml";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { propertyOf, written, type YamlIssue } from "../yaml/forms.js";
import { mergeAndAliasKeyIssues } from "../yaml/keys.js";

/** A problem of the text: the field's path (the property it becomes) and what was expected. */
export type WrittenIssue = YamlIssue;

/** What the text says beyond the object it becomes: its problems, and the keys not written as their property. */
export interface YamlSource {
  issues: WrittenIssue[];
  /**
   * A key YAML read as another value than its text (`0x22:` is the number 34, property `34`), by the
   * path of its property (keyPathId): its text, to name it as written (`...b5.0x22`).
   */
  keys: Map<string, string>;
}

/** A path's id in YamlSource.keys. */
export const keyPathId = (path: readonly PropertyKey[]): string => path.map(String).join("\u0000");

/** `path` (a path of properties) with each key named as written (YamlSource.keys). */
export function asWritten(path: readonly PropertyKey[], keys: ReadonlyMap<string, string>): PropertyKey[] {
  return path.map((seg, k) => keys.get(keyPathId(path.slice(0, k + 1))) ?? seg);
}

/** `!!x` expands to this. */
const YAML_TAG = "tag:yaml.org,2002:";

const scalarOf =
  (...kinds: string[]) =>
  (node: unknown): boolean =>
    isScalar(node) && kinds.includes(node.value === null ? "null" : typeof node.value);

/**
 * The tags of the values a setting or a section is (a string, a number, true/false, null, a mapping, a
 * list), each with what its node is once YAML resolved it: `!!int abc`, which YAML does not resolve (a
 * parser warning), is the string `abc`, and refused as a tag not resolved.
 */
const PLAIN_TAGS = new Map<string, (node: unknown) => boolean>([
  [`${YAML_TAG}str`, scalarOf("string")],
  [`${YAML_TAG}int`, scalarOf("number", "bigint")],
  [`${YAML_TAG}float`, scalarOf("number")],
  [`${YAML_TAG}bool`, scalarOf("boolean")],
  [`${YAML_TAG}null`, scalarOf("null")],
  [`${YAML_TAG}map`, isMap],
  [`${YAML_TAG}seq`, isSeq],
]);

const MAPPING = "expected a mapping written plainly (`key: value` lines or `{ ... }`), without a tag";
const VALUE = "expected a plain value (a path or a setting written out)";

/**
 * The yaml.org tags that make no plain value: what they make and what is expected instead (the message's
 * words); any other tag not in PLAIN_TAGS is unresolved.
 */
const NOT_PLAIN: Record<string, { makes: string; expected: string }> = {
  omap: { makes: "an ordered map (a Map)", expected: MAPPING },
  set: { makes: "a set", expected: MAPPING },
  pairs: { makes: "a list of pairs", expected: MAPPING },
  binary: { makes: "binary data", expected: VALUE },
  timestamp: { makes: "a date", expected: VALUE },
  merge: { makes: "a merge marker", expected: VALUE },
};

/** A tag as written: `!!omap` for the yaml.org tag it expands to, a local tag (`!env`) as it is. */
const tagText = (tag: string): string => (tag.startsWith(YAML_TAG) ? `!!${tag.slice(YAML_TAG.length)}` : tag);

/** What the lane config expects in place of a node whose tag is not resolved: a section or list, or a value. */
const plainExpected = (node: unknown): string =>
  isMap(node) || isSeq(node)
    ? "expected a mapping or list written plainly (`key: value` lines, `{ ... }`, `- item` lines), without a tag"
    : VALUE;

/** `line L` of a node, from the document's text. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let k = 0; k < offset && k < text.length; k++) if (text.charCodeAt(k) === 10) line++;
  return line;
}

/**
 * Why a number is not taken as written, or null: its text must say the number YAML reads (`0x10` is 16 and
 * `1_000` 1000 in either reading); `010` under `%YAML 1.1` is octal 8, `1:20` there base 60, 80.
 */
export function misreadNumber(node: Scalar): string | null {
  if (typeof node.value !== "number" || node.source === undefined) return null;
  const text = node.source;
  const said = Number(text.replaceAll("_", ""));
  if (said === node.value || (Number.isNaN(said) && !text.includes(":"))) return null;
  const form = text.includes(":")
    ? "a base-60 form under %YAML 1.1"
    : /^[-+]?[0-9]+$/.test(text)
      ? "an octal form under %YAML 1.1: write it without leading zeros"
      : "not the number written";
  return `expected a number as written; got ${text}, which this YAML reads as ${node.value} (${form})`;
}

/**
 * Why a node is not taken as written for its tag or the kind of value YAML made of it, or null: a tag not
 * in PLAIN_TAGS or not resolved (the non-specific `!` is taken: it makes a string, or a mapping or list),
 * or a scalar YAML read as no string, number, boolean or null (a date, under `%YAML 1.1`).
 */
function tagProblem(node: object, text: string): string | null {
  const tag = (node as { tag?: string }).tag;
  const range = (node as { range?: [number, number, number] }).range;
  const line = `line ${lineOf(text, range?.[0] ?? 0)}`;
  if (tag !== undefined && tag !== "!" && PLAIN_TAGS.get(tag)?.(node) !== true) {
    const known = tag.startsWith(YAML_TAG) ? NOT_PLAIN[tag.slice(YAML_TAG.length)] : undefined;
    return known !== undefined
      ? `the tag ${tagText(tag)} (${line}) makes ${known.makes}, which the lane config does not take: ${known.expected}`
      : `the tag ${tagText(tag)} (${line}) is not resolved in the lane config: ${plainExpected(node)}`;
  }
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || ["string", "number", "boolean"].includes(typeof v)) return null;
    const what = v instanceof Date ? "a date (a timestamp under %YAML 1.1)" : `a ${typeof v}`;
    return (
      `expected a plain value; got ${node.source ?? String(v)} (${line}), which this YAML reads as ${what}: ` +
      "no setting of the lane config is one (quote it if it is text)"
    );
  }
  return null;
}

/**
 * Every misread number, refused tag and value not plain (tagProblem) in the document, where it is written
 * (aliases not followed; a node refused is not looked into), and every key whose text is not its property.
 */
function textIssues(doc: Document, text: string): YamlSource {
  const issues: WrittenIssue[] = [];
  const keys = new Map<string, string>();
  const check = (node: unknown, path: (string | number)[], isKey = false): void => {
    if (isAlias(node) || node === null || typeof node !== "object") return;
    const refused = tagProblem(node, text);
    if (refused !== null) {
      issues.push({ path, message: refused });
      return;
    }
    if (isScalar(node)) {
      // a key's number is its property, named as written (keys below); the schema checks the key
      const m = isKey ? null : misreadNumber(node);
      if (m !== null) issues.push({ path, message: m });
    } else if (isMap(node)) {
      for (const pair of node.items) {
        const name = isScalar(pair.key) ? propertyOf(pair.key) : "?";
        if (isScalar(pair.key) && typeof pair.key.value !== "string" && written(pair.key) !== name)
          keys.set(keyPathId([...path, name]), written(pair.key));
        check(pair.key, [...path, name], true);
        check(pair.value, [...path, name], isKey);
      }
    } else if (isSeq(node))
      node.items.forEach((item, i) => {
        check(item, [...path, i], isKey);
      });
  };
  check(doc.contents, []);
  return { issues, keys };
}

/** `path: message` lines, as ./load.ts formatIssues writes them. */
const lines = (issues: WrittenIssue[]): string =>
  issues
    .map((i) => `  ${i.path.length ? i.path.map(String).join(".") : "(top level)"}: ${i.message}`)
    .join("\n");

/**
 * The lane config in YAML `text`, as an object for the schema, with the problems of the text the schema
 * cannot see (`written`: its issues there speak of a value not written so, and give way to these). Not
 * YAML, a merge key or an alias as a key: EtcError(E401_CONFIG_INVALID) naming `source`.
 */
export function readConfigYaml(text: string, source: string): { raw: unknown; written: YamlSource } {
  const doc = parseDocument(text);
  const bad = doc.errors[0];
  if (bad) throw new EtcError(ErrorCodes.ConfigInvalid, `${source}: not valid YAML: ${bad.message}`);
  const keys = mergeAndAliasKeyIssues(doc, "the lane config");
  if (keys.length > 0)
    throw new EtcError(ErrorCodes.ConfigInvalid, `${source}: invalid configuration\n${lines(keys)}`, {
      issues: keys.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
    });
  const written = textIssues(doc, text);
  // a tag YAML did not resolve (TAG_RESOLVE_FAILED) is named where it is written (textIssues: every node,
  // keys too, is looked at); any other warning (an unknown `%` directive) at the top
  for (const w of doc.warnings)
    if (w.code !== "TAG_RESOLVE_FAILED")
      written.issues.push({ path: [], message: `not taken in the lane config: ${w.message.split("\n")[0]}` });
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (e) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${source}: not valid YAML: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return { raw, written };
}
