/**
 * The numbers of a tariff as written in its YAML. A fee's unit is whole fen, and YAML reads `15.00` (a fare
 * in yuan, as fares are often published) as the number 15, which the schema alone would take as 15 fen:
 * 1/100 of the fare. So a fee, and `etcDiscountPercent` too, must be written as a plain integer (digits, a
 * leading `+` allowed) that YAML reads as the number those digits say; a decimal point, an exponent, a hex
 * form, or a form YAML reads as another number (`01500` under `%YAML 1.1` is octal: 832; an
 * `etcDiscountPercent: 010` there is 8) is refused, naming the field. A discount refused so is not used to
 * name a fee the discount would bring to 0 fen: that check (src/tariff/zero-fee.ts) spoke of a discount
 * never written (`077` there read as 63 %).
 *
 * A class key of `routes.N.fees` must be decimal digits, quoted or not, that YAML reads as those digits: an
 * unquoted `0xB`, `1.1e1` or, under `%YAML 1.1`, `013` (octal) is read as class 11, `+1` or `1.0` as class
 * 1, so each is refused, named as written (`routes.N.fees.013`), not as the class YAML made of it. Any key
 * whose text is not the property YAML makes of it is named as written (`01:` as `routes.N.fees.01`, a
 * 20-digit key by its digits, not as `1e+21`).
 *
 * Two keys that become one property once parsed (`1:` and `"1":`, or `0xB:` and `"11":`) are refused too:
 * YAML keeps them as two keys (1 !== "1"), the parsed object as one property holding whichever came last,
 * so the schema (src/tariff/tariff.ts) never sees the other fee; that one is checked here, and the schema's
 * issues of the property are taken as the last pair's alone.
 *
 * A merge key (`<<`, which `%YAML 1.1` reads as "take this map's pairs in here") and an alias used as a key
 * (`*d : 010` after `&d etcDiscountPercent: 5`) are refused anywhere in a tariff: the pairs they bring reach
 * the schema while the text they were written as is not where the checks above look (a `15.00` merged into
 * `fees` was charged as 15 fen; an alias key repeating `etcDiscountPercent` replaced its value unchecked,
 * and yaml's duplicate-key check does not compare an alias key), and merge precedence or the last of two
 * pairs silently decides which of two values wins (src/yaml/keys.ts). The checks of one number or key as
 * written are in ./written-forms.ts.
 */
import { type Document, isCollection, isMap, isScalar, isSeq } from "yaml";
import type { z } from "zod";
import { deref, propertyOf, written, type YamlIssue } from "../yaml/forms.js";
import {
  CLASS_DIGITS,
  classKeyProblem,
  FEE,
  type NumberProblem,
  numberProblem,
  PERCENT,
} from "./written-forms.js";

/** A problem of a tariff's text: the path of the field and what was expected. */
export type FeeSourceIssue = YamlIssue;

/**
 * What a custom issue of the tariff schema (src/tariff/tariff.ts) is about, in its `params`: the key of a
 * fee (not a vehicle class, a class listed twice), a fee's value (charged 0 fen; `discounted`: after the
 * ETC discount, so computed with `etcDiscountPercent`), or the discount itself (100 %).
 */
export type IssueAbout = { about: "key" } | { about: "fee"; discounted: boolean } | { about: "discount" };

type SchemaIssue = z.core.$ZodIssue;

function aboutOf(i: SchemaIssue): IssueAbout | undefined {
  return i.code === "custom" ? (i.params as IssueAbout | undefined) : undefined;
}

/** An issue of a fee's key: the key schema's (`invalid_key`) or one of the schema's own checks of a key. */
function isKeyIssue(i: SchemaIssue): boolean {
  return i.code === "invalid_key" || aboutOf(i)?.about === "key";
}

/** An issue computed with `etcDiscountPercent`: a discount of 100 %, a fee the discount brings to 0 fen. */
function usesDiscount(i: SchemaIssue): boolean {
  const a = aboutOf(i);
  return a?.about === "discount" || (a?.about === "fee" && a.discounted);
}

/** An issue of a number's own schema (not an integer, out of range, not a number), not a check of ours. */
function isNumberCheck(i: SchemaIssue): boolean {
  return i.code !== "custom" && i.code !== "invalid_key";
}

const pathText = (path: readonly PropertyKey[]): string => path.map(String).join(".");

/** `path` is `prefix` or under it. */
function isUnder(path: readonly PropertyKey[], prefix: readonly (string | number)[]): boolean {
  return prefix.length <= path.length && prefix.every((s, k) => String(s) === String(path[k]));
}

/** One pair of a route's `fees` with a scalar key, as written and as the converted object holds it. */
interface FeePair {
  /** the property it becomes: `routes.N.fees.11` for `0xB:` */
  parsedPath: (string | number)[];
  /** as written: `routes.N.fees.0xB` (the same as `parsedPath` when the key's text is its property) */
  path: (string | number)[];
  /** the converted object holds this pair's value (the last pair of its property in the map) */
  owner: boolean;
  keyProblem: string | null;
  fee: NumberProblem | null;
  /** its value as YAML reads it, for the checks of a fee the schema never sees (not `owner`) */
  value: unknown;
  /** an earlier pair of the same map becomes the same property: "class 1 listed twice (as 1 and "1")" */
  duplicate: string | null;
}

/** Every scalar-keyed pair of each route's `fees`, in the order written. */
function feePairs(doc: Document): FeePair[] {
  const out: FeePair[] = [];
  const top = isMap(doc.contents) ? doc.contents : undefined;
  const routes = deref(doc, top?.get("routes", true));
  if (!isSeq(routes)) return out; // the schema names it
  routes.items.forEach((item, i) => {
    const route = deref(doc, item);
    if (!isMap(route)) return;
    const fees = deref(doc, route.get("fees", true));
    if (!isMap(fees)) return;
    const first = new Map<string, string>(); // property name -> the key, as written, that first gave it
    const last = new Map<string, FeePair>();
    for (const pair of fees.items) {
      // an alias key is refused before (mergeAndAliasKeyIssues); a collection as key: the schema names it,
      // as yaml converted it
      if (!isScalar(pair.key)) continue;
      const k = pair.key;
      const name = propertyOf(k);
      const text = written(k);
      const shown = typeof k.value === "string" ? JSON.stringify(k.value) : text;
      const before = first.get(name);
      if (before === undefined) first.set(name, shown);
      const v = deref(doc, pair.value);
      const p: FeePair = {
        parsedPath: ["routes", i, "fees", name],
        path: ["routes", i, "fees", text],
        owner: false,
        keyProblem: classKeyProblem(k),
        fee: numberProblem(v, FEE),
        value: isScalar(v) ? v.value : isCollection(v) ? {} : null,
        duplicate:
          before === undefined
            ? null
            : `${CLASS_DIGITS.test(name) ? `class ${name}` : `key ${JSON.stringify(name)}`} listed twice ` +
              `(as ${before} and ${shown}); expected one fee per class`,
      };
      last.set(name, p);
      out.push(p);
    }
    for (const p of last.values()) p.owner = true;
  });
  return out;
}

/**
 * The issues of a tariff: the schema's (`schemaIssues`, of the converted object) as they apply to what
 * was written, and every number and class key not written as ./written-forms.ts takes it.
 *
 * - `etcDiscountPercent` refused for its written form: no issue computed with it (a fee the discount brings
 *   to 0 fen, a discount of 100 %); read as another number (`077` under `%YAML 1.1`, 63), none of the
 *   schema's of its value either.
 * - a fee's property holds the last pair's value: the schema's issues there are that pair's, named by its
 *   key as written; those of its key dropped when the key is refused (they speak of the class YAML made of
 *   it), those of its value when the fee is read as another number. Every other pair of that property is
 *   named `listed twice`, and its fee, which the schema never saw, checked by `checkFee`.
 */
export function tariffIssues(
  doc: Document,
  schemaIssues: readonly SchemaIssue[],
  checkFee: (value: unknown) => string[],
): SchemaIssue[] {
  const custom = (path: (string | number)[], message: string): SchemaIssue => ({
    code: "custom",
    path,
    message,
    input: undefined,
  });
  const top = isMap(doc.contents) ? doc.contents : undefined;
  const discount = numberProblem(deref(doc, top?.get("etcDiscountPercent", true)), PERCENT);
  const pairs = feePairs(doc);
  const owners = pairs.filter((p) => p.owner);
  const kept: SchemaIssue[] = [];
  for (const i of schemaIssues) {
    if (discount && usesDiscount(i)) continue;
    if (discount?.misread && isUnder(i.path, ["etcDiscountPercent"])) continue;
    const pair = owners.find((p) => isUnder(i.path, p.parsedPath));
    if (!pair) {
      kept.push(i);
      continue;
    }
    if (pair.keyProblem && isKeyIssue(i)) continue;
    if (pair.fee?.misread && !isKeyIssue(i)) continue;
    kept.push({ ...i, path: [...pair.path, ...i.path.slice(pair.parsedPath.length)] });
  }
  // a number's own schema names a value that is no integer: the form it was written in is not named too
  const numberChecked = new Set(kept.filter(isNumberCheck).map((i) => pathText(i.path)));
  const found: SchemaIssue[] = [];
  if (discount && (discount.misread || !numberChecked.has("etcDiscountPercent")))
    found.push(custom(["etcDiscountPercent"], discount.message));
  for (const p of pairs) {
    if (p.keyProblem) found.push(custom(p.path, p.keyProblem));
    if (p.duplicate) found.push(custom(p.path, p.duplicate));
    // the fee of a pair a later one replaced: the schema never saw it
    const hidden = p.owner || p.fee?.misread ? [] : checkFee(p.value);
    if (p.fee && (p.fee.misread || (p.owner ? !numberChecked.has(pathText(p.path)) : hidden.length === 0)))
      found.push(custom(p.path, p.fee.message));
    for (const m of hidden) found.push(custom(p.path, m));
  }
  return [...kept, ...found];
}
