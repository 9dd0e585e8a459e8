/**
 * A tariff fee as written in its YAML. The unit is whole fen, and YAML reads `15.00` (a fare in yuan, as
 * fares are often published) as the number 15, which the schema alone would take as 15 fen: 1/100 of the
 * fare. So a fee must be written as a plain integer; a decimal point, an exponent or a hex or octal
 * form is refused, naming the field.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type Node } from "yaml";

export interface FeeSourceIssue {
  path: (string | number)[];
  message: string;
}

const PLAIN_INTEGER = /^[0-9]+$/;

/** An alias (`fees: *common`) stands for the node it names. */
function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/** Every `routes.N.fees.<class>` whose number is not written as a plain integer. */
export function feeSourceIssues(doc: Document): FeeSourceIssue[] {
  const issues: FeeSourceIssue[] = [];
  const routes = deref(doc, isMap(doc.contents) ? doc.contents.get("routes", true) : undefined);
  if (!isSeq(routes)) return issues; // the schema names it
  routes.items.forEach((item, i) => {
    const route = deref(doc, item);
    if (!isMap(route)) return;
    const fees = deref(doc, route.get("fees", true));
    if (!isMap(fees)) return;
    for (const pair of fees.items) {
      const value = deref(doc, pair.value as Node | null);
      if (!isScalar(value) || typeof value.value !== "number") continue; // the schema names a non-number
      const written = value.source ?? String(value.value);
      if (PLAIN_INTEGER.test(written)) continue;
      const key = deref(doc, pair.key);
      issues.push({
        path: ["routes", i, "fees", String(isScalar(key) ? key.value : key)],
        message: `expected whole fen as an integer, e.g. 1500 for 15.00 yuan; got ${written}`,
      });
    }
  });
  return issues;
}
