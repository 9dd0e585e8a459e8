/**
 * The tags and parser warnings of a YAML file read as written, checked the same way in the lane config
 * (src/config/yaml-source.ts) and in a tariff (src/tariff/tariff.ts fromYaml): what the text says is the
 * value taken, never what a tag made of it.
 *
 * - A tag is refused, naming the field and the line, unless it is one of YAML's plain kinds (PLAIN_TAGS:
 *   `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`) that YAML resolved, or the
 *   non-specific `!` (`! 010`, a string): a tag YAML does not resolve (`dataDir: !env LANE_DIR`,
 *   `version: !env TARIFF_VERSION`, `!!foo`, `!!int abc`: the value would be the text), and one that makes
 *   no plain value (`!!omap`, `!!set`, `!!pairs`: a Map, a Set or a list of pairs; `!!binary`,
 *   `!!timestamp`). So is a scalar YAML reads as no string, number, boolean or null: a date `%YAML 1.1`
 *   reads without a tag (`transaction: 2001-12-14`). Keys are checked too.
 * - Any other warning of the parser (an unknown `%` directive) is refused (warningIssues).
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type Scalar } from "yaml";
import { propertyOf, type YamlIssue } from "./forms.js";

/** The words of the messages for one kind of file. */
export interface WrittenWords {
  /** "the lane config", "a tariff" */
  where: string;
  /** what is expected in place of a scalar refused: "expected a plain value (...)" */
  value: string;
  /** why a scalar YAML read as a date is refused: "no setting of the lane config is one" */
  noneIs: string;
}

/** `!!x` expands to this. */
const YAML_TAG = "tag:yaml.org,2002:";

const scalarOf =
  (...kinds: string[]) =>
  (node: unknown): boolean =>
    isScalar(node) && kinds.includes(node.value === null ? "null" : typeof node.value);

/**
 * The tags of the plain values (a string, a number, true/false, null, a mapping, a list), each with what
 * its node is once YAML resolved it: `!!int abc`, which YAML does not resolve (a parser warning), is the
 * string `abc`, and refused as a tag not resolved.
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

/**
 * The yaml.org tags that make no plain value: what they make and what is expected instead (null: the
 * file's plain value, WrittenWords.value); any other tag not in PLAIN_TAGS is unresolved.
 */
const NOT_PLAIN: Record<string, { makes: string; expected: string | null }> = {
  omap: { makes: "an ordered map (a Map)", expected: MAPPING },
  set: { makes: "a set", expected: MAPPING },
  pairs: { makes: "a list of pairs", expected: MAPPING },
  binary: { makes: "binary data", expected: null },
  timestamp: { makes: "a date", expected: null },
  merge: { makes: "a merge marker", expected: null },
};

/** A tag as written: `!!omap` for the yaml.org tag it expands to, a local tag (`!env`) as it is. */
const tagText = (tag: string): string => (tag.startsWith(YAML_TAG) ? `!!${tag.slice(YAML_TAG.length)}` : tag);

/** What is expected in place of a node whose tag is not resolved: a mapping or list, or a value. */
const plainExpected = (node: unknown, words: WrittenWords): string =>
  isMap(node) || isSeq(node)
    ? "expected a mapping or list written plainly (`key: value` lines, `{ ... }`, `- item` lines), without a tag"
    : words.value;

/** `line L` of a node, from the document's text. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let k = 0; k < offset && k < text.length; k++) if (text.charCodeAt(k) === 10) line++;
  return line;
}

/**
 * Why a node is not taken as written for its tag or the kind of value YAML made of it, or null: a tag not
 * in PLAIN_TAGS or not resolved (the non-specific `!` is taken: it makes a string, or a mapping or list),
 * or a scalar YAML read as no string, number, boolean or null (a date, under `%YAML 1.1`).
 */
function tagProblem(node: object, text: string, words: WrittenWords): string | null {
  const tag = (node as { tag?: string }).tag;
  const range = (node as { range?: [number, number, number] }).range;
  const line = `line ${lineOf(text, range?.[0] ?? 0)}`;
  if (tag !== undefined && tag !== "!" && PLAIN_TAGS.get(tag)?.(node) !== true) {
    const known = tag.startsWith(YAML_TAG) ? NOT_PLAIN[tag.slice(YAML_TAG.length)] : undefined;
    return known !== undefined
      ? `the tag ${tagText(tag)} (${line}) makes ${known.makes}, which ${words.where} does not take: ${known.expected ?? words.value}`
      : `the tag ${tagText(tag)} (${line}) is not resolved in ${words.where}: ${plainExpected(node, words)}`;
  }
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || ["string", "number", "boolean"].includes(typeof v)) return null;
    const what = v instanceof Date ? "a date (a timestamp under %YAML 1.1)" : `a ${typeof v}`;
    return (
      `expected a plain value; got ${node.source ?? String(v)} (${line}), which this YAML reads as ${what}: ` +
      `${words.noneIs} (quote it if it is text)`
    );
  }
  return null;
}

/** What the walk of taggedIssues tells of the nodes it takes. */
export interface TagWalk {
  /** the path segment of a scalar key: the property it becomes (propertyOf) unless given */
  name?: (key: Scalar) => string;
  /** every scalar key of a map, before its tag is checked, at the path of its pair */
  key?: (key: Scalar, path: (string | number)[]) => void;
  /**
   * every scalar not refused for its tag, at its path (`isKey`: a key, or inside one): a problem of it to
   * list there, in the order written among the refused tags, or null
   */
  scalar?: (node: Scalar, path: (string | number)[], isKey: boolean) => string | null;
}

/**
 * Every node of the document refused for its tag or the kind of value YAML made of it (tagProblem), where
 * it is written, keys too (aliases not followed: the node an alias names is checked where its anchor is
 * written; a node refused is not looked into), with the problems `walk` finds in the scalars on the way.
 */
export function taggedIssues(
  doc: Document,
  text: string,
  words: WrittenWords,
  walk: TagWalk = {},
): YamlIssue[] {
  const issues: YamlIssue[] = [];
  const name = walk.name ?? propertyOf;
  const check = (node: unknown, path: (string | number)[], isKey = false): void => {
    if (isAlias(node) || node === null || typeof node !== "object") return;
    const refused = tagProblem(node, text, words);
    if (refused !== null) {
      issues.push({ path, message: refused });
      return;
    }
    if (isScalar(node)) {
      const problem = walk.scalar?.(node, path, isKey) ?? null;
      if (problem !== null) issues.push({ path, message: problem });
    } else if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key : null;
        const at = [...path, key !== null ? name(key) : "?"];
        if (key !== null) walk.key?.(key, at);
        check(pair.key, at, true);
        check(pair.value, at, isKey);
      }
    } else if (isSeq(node))
      node.items.forEach((item, i) => {
        check(item, [...path, i], isKey);
      });
  };
  check(doc.contents, []);
  return issues;
}

/**
 * The parser's warnings other than a tag it did not resolve (TAG_RESOLVE_FAILED: taggedIssues names it
 * where it is written): an unknown `%` directive, at the top level.
 */
export function warningIssues(doc: Document, where: string): YamlIssue[] {
  return doc.warnings
    .filter((w) => w.code !== "TAG_RESOLVE_FAILED")
    .map((w) => ({ path: [], message: `not taken in ${where}: ${w.message.split("\n")[0]}` }));
}
