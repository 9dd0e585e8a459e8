/**
 * YAML helpers shared by the files the lane reads as written (the tariff: src/tariff/fee-source.ts; the
 * lane config: src/config/yaml-source.ts): a node as written, an alias followed, an issue of the text.
 */
import { type Document, isAlias, type Scalar } from "yaml";

/** A problem of the text: the path of the field (the property it becomes) and what was expected. */
export interface YamlIssue {
  path: (string | number)[];
  message: string;
}

/** An alias (`fees: *common`) stands for the node it names. */
export function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/** A scalar's text as written: a plain scalar's source, a quoted one's string. */
export function written(node: Scalar): string {
  return typeof node.value === "string" ? node.value : (node.source ?? String(node.value));
}

/** The property a scalar key becomes once the YAML is converted (yaml stringifies a non-string key). */
export function propertyOf(key: Scalar): string {
  return key.value === null || key.value === undefined ? "" : String(key.value);
}
