/**
 * The lane config's YAML as written, checked before its values reach the schema (./schema.ts), as the
 * tariff's is (src/tariff/fee-source.ts): what the text says is what the lane runs with.
 *
 * - A merge key (`<<`) or an alias used as a key (`*k : data9` after `&k dataDir: data1`) is refused:
 *   the last of two pairs for one field would win silently (mergeAndAliasKeyIssues, src/yaml/keys.ts).
 * - A number whose text YAML reads as another number is refused, naming the field: `lane: 010` under
 *   `%YAML 1.1` is octal 8, `retentionDays: 0100` is 64, `1:20` is base 60, 80 (misreadNumber).
 * - A tag YAML does not resolve (`dataDir: !env LANE_DIR`: YAML has no such tag; the value would be the
 *   text `LANE_DIR`) is refused, naming the field and the line; any other warning of the parser (an
 *   unknown `%` directive) is refused too.
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

/** Tags the YAML schema resolves (`!!str`, `!!int`, ...) expand to these; any other tag is unresolved. */
const YAML_TAG = "tag:yaml.org,2002:";

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
 * Every misread number and unresolved tag in the document, where it is written (aliases not followed), and
 * every key whose text is not its property.
 */
function textIssues(doc: Document, text: string): YamlSource {
  const issues: WrittenIssue[] = [];
  const keys = new Map<string, string>();
  const check = (node: unknown, path: (string | number)[]): void => {
    if (isAlias(node) || node === null || typeof node !== "object") return;
    const tag = (node as { tag?: string }).tag;
    const range = (node as { range?: [number, number, number] }).range;
    if (tag !== undefined && !tag.startsWith(YAML_TAG))
      issues.push({
        path,
        message:
          `the tag ${tag} (line ${lineOf(text, range?.[0] ?? 0)}) is not resolved in the lane config: ` +
          "expected a plain value (a path or a setting written out)",
      });
    if (isScalar(node)) {
      const m = misreadNumber(node);
      if (m !== null) issues.push({ path, message: m });
    } else if (isMap(node)) {
      for (const pair of node.items) {
        const name = isScalar(pair.key) ? propertyOf(pair.key) : "?";
        if (isScalar(pair.key) && typeof pair.key.value !== "string" && written(pair.key) !== name)
          keys.set(keyPathId([...path, name]), written(pair.key));
        if (isScalar(pair.key) && pair.key.tag !== undefined && !pair.key.tag.startsWith(YAML_TAG))
          check(pair.key, [...path, name]);
        check(pair.value, [...path, name]);
      }
    } else if (isSeq(node))
      node.items.forEach((item, i) => {
        check(item, [...path, i]);
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
  // a tag is named where it is written (above); any other warning (an unknown `%` directive) at the top
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
