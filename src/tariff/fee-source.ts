/**
 * The numbers of a tariff as written in its YAML. A fee's unit is whole fen, and YAML reads `15.00` (a fare
 * in yuan, as fares are often published) as the number 15, which the schema alone would take as 15 fen:
 * 1/100 of the fare. So a fee, and `etcDiscountPercent` too, must be written as a plain integer (digits, a
 * leading `+` allowed) that YAML reads as the number those digits say; a decimal point, an exponent, a hex
 * form, or a form YAML reads as another number (`01500` under `%YAML 1.1` is octal: 832; an
 * `etcDiscountPercent: 010` there is 8) is refused, naming the field.
 *
 * A class key of `routes.N.fees` must be decimal digits, quoted or not, that YAML reads as those digits: an
 * unquoted `0xB`, `1.1e1` or, under `%YAML 1.1`, `013` (octal) is read as class 11, `+1` or `1.0` as class
 * 1, so each is refused, named as written (`routes.N.fees.013`), not as the class YAML made of it.
 *
 * A class written once as a number and once as a string (`1:` and `"1":`) is refused too: YAML keeps them as
 * two keys (1 !== "1"), the parsed object as one property "1" holding whichever came last, so the schema
 * (src/tariff/tariff.ts) never sees the other fee.
 *
 * A merge key (`<<`, which `%YAML 1.1` reads as "take this map's pairs in here") and an alias used as a key
 * (`*d : 010` after `&d etcDiscountPercent: 5`) are refused anywhere in a tariff: the pairs they bring reach
 * the schema while the text they were written as is not where the checks above look (a `15.00` merged into
 * `fees` was charged as 15 fen; an alias key repeating `etcDiscountPercent` replaced its value unchecked,
 * and yaml's duplicate-key check does not compare an alias key), and merge precedence or the last of two
 * pairs silently decides which of two values wins.
 */
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Node,
  type Scalar,
} from "yaml";

export interface FeeSourceIssue {
  path: (string | number)[];
  message: string;
}

const PLAIN_INTEGER = /^\+?[0-9]+$/;

/** An alias (`fees: *common`) stands for the node it names. */
function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

const MERGE_KEY = "<<";

/** A key YAML 1.1 reads as a merge (yaml's merge tag resolves it to a symbol), or `<<` as a plain string. */
function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  const v = key.value;
  return v === MERGE_KEY || (typeof v === "symbol" && v.description === MERGE_KEY);
}

/** A scalar's text as written: a plain scalar's source, a quoted one's string. */
function written(node: Scalar): string {
  return typeof node.value === "string" ? node.value : (node.source ?? String(node.value));
}

/** What an alias used as a key stands for, for its refusal: the key it repeats, or the kind of node. */
function aliasTarget(doc: Document, node: unknown): string {
  const target = deref(doc, node);
  if (isScalar(target)) return written(target) === "" ? "an empty key" : written(target);
  if (isMap(target)) return "a map";
  if (isSeq(target)) return "a list";
  return "nothing";
}

/**
 * Every merge key (`<<`) and every alias used as a key (`*d :`) in the document, by the path of the map
 * holding it; keys are named as written. Aliases are not followed: the node an alias names is walked where
 * its anchor is written. An alias as a value (`fees: *common`) is taken: the checks below read the node it
 * names.
 */
export function mergeAndAliasKeyIssues(doc: Document): FeeSourceIssue[] {
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
        if (isAlias(pair.key)) {
          const name = `*${pair.key.source}`;
          issues.push({
            path: [...path, name],
            message: `an alias as a key (${name}, for ${aliasTarget(doc, pair.key)}) is not taken in a tariff; expected the key written out`,
          });
          walk(pair.value, [...path, name]);
          continue;
        }
        const name = isScalar(pair.key) ? written(pair.key) : "?";
        if (isCollection(pair.key)) walk(pair.key, [...path, name]);
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

/** Where a number was written, and how a key or fee of `routes.N.fees` was written against how it was read. */
export interface SourceIssue {
  /** the field as written in the YAML: a key by its text (`0xB`, `013`), not the number YAML read */
  path: (string | number)[];
  /** the same field as the schema names it, reading the converted object (`0xB:` is property "11") */
  parsedPath: (string | number)[];
  message: string;
  /**
   * true: the schema's issues at or under `parsedPath` are dropped for this one, as they speak of a number
   * that was not written (`011:` under `%YAML 1.1` is class 9); false: this one is dropped when the schema
   * names `parsedPath` itself (`15.50` is named once, as not an integer).
   */
  overridesSchema: boolean;
}

/** A class key: decimal digits, quoted or not (leading zeros taken: `01` is class 1). */
const CLASS_DIGITS = /^[0-9]+$/;

const OCTAL_NOTE = "(an octal form under %YAML 1.1)";

/** The property a scalar key becomes once the YAML is converted (yaml stringifies a non-string key). */
function propertyOf(key: Scalar): string {
  return key.value === null || key.value === undefined ? "" : String(key.value);
}

/** A value YAML read, for a message: `11`, `the boolean true`, `null`. */
function readAs(value: unknown): string {
  if (typeof value === "number" || value === null) return String(value);
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  return `the ${typeof value} ${String(value)}`;
}

/**
 * Why a scalar fee key is not taken as the class its digits say, or null. A string key (quoted, or `!!str`)
 * is its text, which the schema checks (src/tariff/tariff.ts); any other key must be decimal digits that
 * YAML reads as the number they say: not `0xB`, `0o13`, `1.1e1`, `+1`, `1.0`, nor `013` under `%YAML 1.1`
 * (octal: 11), nor a key YAML reads as true or null.
 */
function classKeyProblem(key: Scalar): string | null {
  if (typeof key.value === "string") return null;
  const text = written(key);
  const digits = CLASS_DIGITS.test(text);
  if (typeof key.value === "number" && digits && Number(text) === key.value) return null;
  return (
    `expected a vehicle class written as decimal digits, e.g. 1 or "11"; got ${text === "" ? "an empty key" : text}, ` +
    `which this YAML reads as ${readAs(key.value)}${digits ? ` ${OCTAL_NOTE}` : ""}`
  );
}

/** A number as the schema takes it: what a field holds, what it is named in a message. */
interface NumberField {
  /** "whole fen" */
  unit: string;
  /** e.g. "1500 for 15.00 yuan" */
  example: string;
}

const FEE: NumberField = { unit: "whole fen", example: "1500 for 15.00 yuan" };
const PERCENT: NumberField = { unit: "a whole percent 0..100", example: "5" };

/**
 * Why a number is not taken as written, or null: it must be a plain integer (digits, a leading `+`) that
 * YAML reads as the number those digits say. A value that is not a number is the schema's to name.
 */
function numberProblem(
  node: unknown,
  field: NumberField,
): { message: string; overridesSchema: boolean } | null {
  if (!isScalar(node) || typeof node.value !== "number") return null;
  const text = node.source ?? String(node.value);
  const plain = PLAIN_INTEGER.test(text);
  if (plain && Number(text) === node.value) return null;
  return plain
    ? {
        message: `expected ${field.unit} as a decimal integer; got ${text}, which this YAML reads as ${node.value} ${OCTAL_NOTE}: write it without leading zeros`,
        overridesSchema: true,
      }
    : {
        message: `expected ${field.unit} as an integer, e.g. ${field.example}; got ${text}`,
        overridesSchema: false,
      };
}

/**
 * Every number of the tariff not written as a plain integer, or read as another number than the decimal
 * digits written: `etcDiscountPercent` and each fee of `routes.N.fees`; every class key of `routes.N.fees`
 * not written as decimal digits read as those digits; every class listed twice under keys that become one
 * property once parsed.
 */
export function tariffSourceIssues(doc: Document): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const top = isMap(doc.contents) ? doc.contents : undefined;
  const discount = numberProblem(deref(doc, top?.get("etcDiscountPercent", true)), PERCENT);
  if (discount)
    issues.push({ path: ["etcDiscountPercent"], parsedPath: ["etcDiscountPercent"], ...discount });
  const routes = deref(doc, top?.get("routes", true));
  if (!isSeq(routes)) return issues; // the schema names it
  routes.items.forEach((item, i) => {
    const route = deref(doc, item);
    if (!isMap(route)) return;
    const fees = deref(doc, route.get("fees", true));
    if (!isMap(fees)) return;
    const keys = new Map<string, string>(); // property name -> the key, as written, that first gave it
    for (const pair of fees.items) {
      // an alias key is refused before (mergeAndAliasKeyIssues); a collection as key: the schema names it,
      // as yaml converted it
      const k = pair.key;
      if (!isScalar(k)) continue;
      const name = propertyOf(k);
      const text = written(k);
      const parsedPath = ["routes", i, "fees", name];
      const bad = classKeyProblem(k);
      // a refused key is named as written; a class taken, as the schema names it (`01:` is class "1")
      const path = bad ? ["routes", i, "fees", text] : parsedPath;
      if (bad) issues.push({ path, parsedPath, message: bad, overridesSchema: true });
      else {
        const shown = typeof k.value === "string" ? JSON.stringify(k.value) : text;
        const first = keys.get(name);
        if (first !== undefined)
          issues.push({
            path,
            parsedPath,
            message: `class ${name} listed twice (as ${first} and ${shown}); expected one fee per class`,
            overridesSchema: false,
          });
        else keys.set(name, shown);
      }
      const fee = numberProblem(deref(doc, pair.value as Node | null), FEE);
      if (fee) issues.push({ path, parsedPath, ...fee });
    }
  });
  return issues;
}
