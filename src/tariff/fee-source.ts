/**
 * A tariff fee as written in its YAML. The unit is whole fen, and YAML reads `15.00` (a fare in yuan, as
 * fares are often published) as the number 15, which the schema alone would take as 15 fen: 1/100 of the
 * fare. So a fee must be written as a plain integer (digits, a leading `+` allowed) that YAML reads as the
 * number those digits say; a decimal point, an exponent, a hex form, or a form YAML reads as another number
 * (`01500` under `%YAML 1.1` is octal: 832) is refused, naming the field.
 *
 * A class written once as a number and once as a string (`1:` and `"1":`) is refused too: YAML keeps them as
 * two keys (1 !== "1"), the parsed object as one property "1" holding whichever came last, so the schema
 * (src/tariff/tariff.ts) never sees the other fee.
 *
 * A merge key (`<<`, which `%YAML 1.1` reads as "take this map's pairs in here") is refused anywhere in a
 * tariff: the pairs it merges reach the schema while the text they were written as is not where the checks
 * above look (a `15.00` merged into `fees` was charged as 15 fen), and merge precedence silently decides
 * which of two fees of a class wins.
 */
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type Node } from "yaml";

export interface FeeSourceIssue {
  path: (string | number)[];
  message: string;
}

const PLAIN_INTEGER = /^\+?[0-9]+$/;

/** An alias (`fees: *common`) stands for the node it names. */
function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/** A key as written: a string in quotes, a number as YAML read it. */
function keyText(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

const MERGE_KEY = "<<";

/** A key YAML 1.1 reads as a merge (yaml's merge tag resolves it to a symbol), or `<<` as a plain string. */
function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  const v = key.value;
  return v === MERGE_KEY || (typeof v === "symbol" && v.description === MERGE_KEY);
}

/**
 * Every merge key (`<<`) in the document, by the path of the map holding it. Aliases are not followed: the
 * node an alias names is walked where its anchor is written.
 */
export function mergeKeyIssues(doc: Document): FeeSourceIssue[] {
  const issues: FeeSourceIssue[] = [];
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        if (isMergeKey(pair.key)) {
          issues.push({
            path: [...path, MERGE_KEY],
            message: `merge keys (${MERGE_KEY}) are not taken in a tariff; expected each field written out`,
          });
          continue;
        }
        const name = isScalar(pair.key) ? String(pair.key.value) : "?";
        walk(pair.value, [...path, name]);
      }
    } else if (isSeq(node))
      node.items.forEach((item, i) => {
        walk(item, [...path, i]);
      });
  };
  walk(doc.contents, []);
  return issues;
}

/**
 * Every `routes.N.fees.<class>` listed twice under keys that become one property once parsed, and every one
 * whose number is not written as a plain integer, or is read as another number
 * than the decimal digits written.
 */
export function feeSourceIssues(doc: Document): FeeSourceIssue[] {
  const issues: FeeSourceIssue[] = [];
  const routes = deref(doc, isMap(doc.contents) ? doc.contents.get("routes", true) : undefined);
  if (!isSeq(routes)) return issues; // the schema names it
  routes.items.forEach((item, i) => {
    const route = deref(doc, item);
    if (!isMap(route)) return;
    const fees = deref(doc, route.get("fees", true));
    if (!isMap(fees)) return;
    const keys = new Map<string, unknown>(); // property name -> the key value that first gave it
    for (const pair of fees.items) {
      const k = deref(doc, pair.key);
      if (isScalar(k)) {
        const name = String(k.value);
        if (keys.has(name)) {
          issues.push({
            path: ["routes", i, "fees", name],
            message: `class ${name} listed twice (as ${keyText(keys.get(name))} and ${keyText(k.value)}); expected one fee per class`,
          });
        } else keys.set(name, k.value);
      }
      const value = deref(doc, pair.value as Node | null);
      if (!isScalar(value) || typeof value.value !== "number") continue; // the schema names a non-number
      const written = value.source ?? String(value.value);
      const plain = PLAIN_INTEGER.test(written);
      if (plain && Number(written) === value.value) continue;
      const key = deref(doc, pair.key);
      issues.push({
        path: ["routes", i, "fees", String(isScalar(key) ? key.value : key)],
        message: plain
          ? `expected whole fen as a decimal integer; got ${written}, which this YAML reads as ${value.value} (an octal form under %YAML 1.1): write it without leading zeros`
          : `expected whole fen as an integer, e.g. 1500 for 15.00 yuan; got ${written}`,
      });
    }
  });
  return issues;
}
