/**
 * The lane config's YAML as written, checked before its values reach the schema (./schema.ts), as the
 * tariff's is (src/tariff/fee-source.ts): what the text says is what the lane runs with.
 *
 * - A merge key (`<<`) or an alias used as a key (`*k : data9` after `&k dataDir: data1`) is refused:
 *   the last of two pairs for one field would win silently (mergeAndAliasKeyIssues, src/yaml/keys.ts).
 * - A number whose text YAML reads as another number is refused, naming the field: `lane: 010` under
 *   `%YAML 1.1` is octal 8, `retentionDays: 0100` is 64, `1:20` is base 60, 80 (misreadNumber).
 * - A tag is refused (src/yaml/tags.ts: a tariff's YAML is checked so too), naming the field and the
 *   line, unless it is one of YAML's plain kinds (PLAIN_TAGS: `!!str`, `!!int`, `!!float`, `!!bool`,
 *   `!!null`, `!!map`, `!!seq`) that YAML resolved, or the non-specific `!` (`! 010`, a string): a tag
 *   YAML does not resolve (`dataDir: !env LANE_DIR`, `!!foo`, `!!int abc`: the value would be the text), and one that makes a value no setting is (`!!omap`,
 *   `!!set`, `!!pairs`: a Map, a Set or a list of pairs, which a section would read as empty, its defaults
 *   applied; `!!binary`, `!!timestamp`). So is a date `%YAML 1.1` reads without a tag
 *   (`transaction: 2001-12-14`). Keys are checked too.
 * - Any other warning of the parser (an unknown `%` directive) is refused (warningIssues, src/yaml/tags.ts).
 */
import { type Document, parseDocument, type Scalar } from "yaml";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { written, type YamlIssue } from "../yaml/forms.js";
import { mergeAndAliasKeyIssues } from "../yaml/keys.js";
import { taggedIssues, type WrittenWords, warningIssues } from "../yaml/tags.js";

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

/** The words of the shared tag checks (src/yaml/tags.ts) for the lane config. */
const WORDS: WrittenWords = {
  where: "the lane config",
  value: "expected a plain value (a path or a setting written out)",
  noneIs: "no setting of the lane config is one",
};

/**
 * Every misread number, refused tag and value not plain (src/yaml/tags.ts taggedIssues) in the document,
 * where it is written (aliases not followed; a node refused is not looked into), and every key whose text
 * is not its property.
 */
function textIssues(doc: Document, text: string): YamlSource {
  const keys = new Map<string, string>();
  const issues = taggedIssues(doc, text, WORDS, {
    key: (key, path) => {
      if (typeof key.value !== "string" && written(key) !== path[path.length - 1])
        keys.set(keyPathId(path), written(key));
    },
    // a key's number is its property, named as written (keys above); the schema checks the key
    scalar: (node, _path, isKey) => (isKey ? null : misreadNumber(node)),
  });
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
  written.issues.push(...warningIssues(doc, WORDS.where));
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
