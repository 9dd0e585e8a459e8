/**
 * Merge keys (`<<`) and aliases used as keys (`*d :`) are refused anywhere in a tariff (why:
 * src/tariff/fee-source.ts), and in the lane config (src/config/yaml-source.ts).
 */
import { type Document, isAlias, isCollection, isMap, isPair, isScalar, isSeq } from "yaml";
import { deref, written, type YamlIssue } from "./forms.js";

const MERGE_KEY = "<<";

/** A key YAML 1.1 reads as a merge (yaml's merge tag resolves it to a symbol), or `<<` as a plain string. */
function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  const v = key.value;
  return v === MERGE_KEY || (typeof v === "symbol" && v.description === MERGE_KEY);
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
 * its anchor is written. An alias as a value (`fees: *common`) is taken: the checks of src/tariff/fee-source.ts
 * read the node it names.
 */
export function mergeAndAliasKeyIssues(doc: Document, where = "a tariff"): YamlIssue[] {
  const issues: YamlIssue[] = [];
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        if (isMergeKey(pair.key)) {
          issues.push({
            path: [...path, MERGE_KEY],
            message: `merge keys (${MERGE_KEY}) are not taken in ${where}; expected each field written out`,
          });
          continue;
        }
        if (isAlias(pair.key)) {
          const name = `*${pair.key.source}`;
          issues.push({
            path: [...path, name],
            message: `an alias as a key (${name}, for ${aliasTarget(doc, pair.key)}) is not taken in ${where}; expected the key written out`,
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
