/**
 * How a number and a fee's class key must be written in a tariff's YAML to be taken as the number its
 * digits say (the reasons are in ./fee-source.ts): the checks of one scalar as written. The YAML helpers
 * the tariff shares with the lane config are in src/yaml/forms.ts.
 */
import { isScalar, type Scalar } from "yaml";
import { written } from "../yaml/forms.js";

/** A number as written: decimal digits, a leading `+` allowed. */
const PLAIN_INTEGER = /^\+?[0-9]+$/;

/** A class key: decimal digits, quoted or not (leading zeros taken: `01` is class 1). */
export const CLASS_DIGITS = /^[0-9]+$/;

const OCTAL_NOTE = "(an octal form under %YAML 1.1)";

/** A value YAML read, for a message: `11`, `the boolean true`, `null`. */
function readAs(value: unknown): string {
  if (typeof value === "number" || value === null) return String(value);
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  return `the ${typeof value} ${String(value)}`;
}

/**
 * Why a scalar fee key is not taken as the class its digits say, or null. A string key (quoted, or `!!str`)
 * is its text, which the schema checks (src/tariff/tariff.ts; `__proto__`, which zod's record skips, there
 * by protoFeeKeys); any other key must be decimal digits that
 * YAML reads as the number they say: not `0xB`, `0o13`, `1.1e1`, `+1`, `1.0`, nor `013` under `%YAML 1.1`
 * (octal: 11), nor a key YAML reads as true or null.
 */
export function classKeyProblem(key: Scalar): string | null {
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
export interface NumberField {
  /** "whole fen" */
  unit: string;
  /** e.g. "1500 for 15.00 yuan" */
  example: string;
}

export const FEE: NumberField = { unit: "whole fen", example: "1500 for 15.00 yuan" };
export const PERCENT: NumberField = { unit: "a whole percent 0..100", example: "5" };

export interface NumberProblem {
  message: string;
  /**
   * true: digits YAML read as another number (`011` under `%YAML 1.1` is 9): the schema's issues of the
   * value speak of that number and are dropped; false: a form not taken (`15.00`), dropped itself when the
   * number's schema names the value (`15.50` is named once, as not an integer).
   */
  misread: boolean;
}

/**
 * Why a number is not taken as written, or null: it must be a plain integer (digits, a leading `+`) that
 * YAML reads as the number those digits say. A value that is not a number is the schema's to name.
 */
export function numberProblem(node: unknown, field: NumberField): NumberProblem | null {
  if (!isScalar(node) || typeof node.value !== "number") return null;
  const text = node.source ?? String(node.value);
  const plain = PLAIN_INTEGER.test(text);
  if (plain && Number(text) === node.value) return null;
  return plain
    ? {
        message: `expected ${field.unit} as a decimal integer; got ${text}, which this YAML reads as ${node.value} ${OCTAL_NOTE}: write it without leading zeros`,
        misread: true,
      }
    : { message: `expected ${field.unit} as an integer, e.g. ${field.example}; got ${text}`, misread: false };
}
