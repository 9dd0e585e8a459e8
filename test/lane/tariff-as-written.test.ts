/**
 * A tariff's YAML taken as the lane config's is (src/tariff/tariff.ts fromYaml, src/yaml/tags.ts): what
 * the text says is the table charged and the version every record names.
 */
import { describe, expect, it } from "vitest";
import { Tariff } from "../../src/tariff/tariff.js";

const tariff = (version: string, fees = '{ "1": 1500 }', head = "", from = '"4301-0101"'): string =>
  `${head}station: "4301-0102"\nversion: ${version}\nroutes:\n  - from: ${from}\n    fees: ${fees}\n`;

/** The E401 message of a tariff refused; throws when it is taken. */
function refusal(text: string): string {
  try {
    Tariff.fromYaml(text, "t.yaml");
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected the tariff to be refused");
}

// session 41 review: the lane config refused these, the tariff took the text (`!env V` as version "V")
describe("tags and directives, as in the lane config", () => {
  it("a tag YAML does not resolve is refused, naming the field and its line, not taken as the text", () => {
    expect(refusal(tariff("!env TARIFF_VERSION"))).toBe(
      "t.yaml: invalid configuration\n  version: the tag !env (line 2) is not resolved in a tariff: " +
        "expected a plain value written out (a quoted text, a whole number, true or false)",
    );
    expect(refusal(tariff('"v"', undefined, "", '!foo "4301-0101"'))).toMatch(
      /\n {2}routes\.0\.from: the tag !foo \(line 4\) is not resolved in a tariff/,
    );
  });

  it("a yaml.org tag YAML cannot resolve for its value (!!int abc) is refused, not taken as the text", () => {
    expect(refusal(tariff("!!int abc"))).toMatch(
      /^t\.yaml: invalid configuration\n {2}version: the tag !!int \(line 2\) is not resolved in a tariff/,
    );
    // a fee: the tag on a key or a value, named as written
    expect(refusal(tariff('"v"', '{ "1": !!int 15.00 }'))).toMatch(
      /\n {2}routes\.0\.fees\.1: the tag !!int \(line 5\) is not resolved in a tariff/,
    );
    expect(refusal(tariff('"v"', "{ !foo 0xB: 1500 }"))).toMatch(
      /\n {2}routes\.0\.fees\.0xB: the tag !foo \(line 5\) is not resolved in a tariff/,
    );
  });

  it("a tag that makes no plain value (!!omap, !!binary) is refused where written", () => {
    expect(refusal(tariff('"v"', '!!omap [ "1": 1500 ]'))).toMatch(
      /\n {2}routes\.0\.fees: the tag !!omap \(line 5\) makes an ordered map \(a Map\), which a tariff does not take/,
    );
    expect(refusal(tariff("!!binary aGVsbG8="))).toMatch(
      /\n {2}version: the tag !!binary \(line 2\) makes binary data, which a tariff does not take/,
    );
  });

  it("an unknown % directive is refused at the top level", () => {
    expect(refusal(tariff('"v"', undefined, "%FOO bar\n---\n"))).toMatch(
      /^t\.yaml: invalid configuration\n {2}\(top level\): not taken in a tariff: Unknown directive %FOO/,
    );
  });

  it("the non-specific tag ! and the plain yaml.org tags YAML resolved are taken", () => {
    const t = Tariff.fromYaml(tariff("! 2025.10", "!!map { !!str 1: !!int 1500 }"), "t.yaml");
    expect([t.version, t.fee("4301", "0101", 1)]).toEqual([
      "2025.10",
      { ok: true, fee: 1500, discountPercent: 5, amount: 1425, tariffVersion: "2025.10" },
    ]);
  });
});

// session 41 review: zod's record skips a key `__proto__` without an issue: its fee was dropped silently
describe("a fee key __proto__", () => {
  const expected = 'expected a vehicle class number as key, e.g. "1" or "11"';

  it("is refused naming routes.N.fees.__proto__, as another key that is no class, not dropped", () => {
    expect(refusal(tariff('"v"', '{ "1": 1500, "__proto__": 1500 }'))).toBe(
      `t.yaml: invalid configuration\n  routes.0.fees.__proto__: ${expected}`,
    );
    // unquoted, holding a map (whose pairs are no fees of this route either), and hiding no other issue
    expect(refusal(tariff('"v"', '{ "1": 15.00, __proto__: { "2": 1500 } }'))).toBe(
      "t.yaml: invalid configuration\n" +
        `  routes.0.fees.__proto__: ${expected}\n` +
        "  routes.0.fees.1: expected whole fen as an integer, e.g. 1500 for 15.00 yuan; got 15.00",
    );
  });

  it("is refused in a table given as an object too (Tariff.parse)", () => {
    const fees = JSON.parse('{ "1": 1500, "__proto__": 1500 }') as Record<string, number>;
    expect(() =>
      Tariff.parse({ station: "4301-0102", version: "v", routes: [{ from: "4301-0101", fees }] }, "t"),
    ).toThrow(`t: invalid configuration\n  routes.0.fees.__proto__: ${expected}`);
  });
});

// session 41 review: `version: " "` and `version: "a\nb"` loaded, and every record named the table by them
describe("a version", () => {
  it("blank (empty after trimming) is refused, naming version", () => {
    for (const v of ['" "', '"\\u3000"', '""'])
      expect(refusal(tariff(v))).toBe(
        't.yaml: invalid configuration\n  version: expected a version string in quotes, e.g. version: "2025.10"; got a blank version',
      );
  });

  // second review: a version of a zero-width space alone (not removed by trim()) loaded, and one only a tab
  // or a line break was named twice (blank, and a control character)
  it("blank once its control and format characters are dropped is refused once, as blank", () => {
    for (const v of ['"\\u200b"', '"\\t"', '"\\n"', '" \\ufeff\\u2028 "', '"\\u00ad\\u2029"'])
      expect(refusal(tariff(v))).toBe(
        't.yaml: invalid configuration\n  version: expected a version string in quotes, e.g. version: "2025.10"; got a blank version',
      );
  });

  it("holding a control, format or private-use character, a lone surrogate or a line separator is refused, naming version and showing it", () => {
    const cases: [string, string][] = [
      ['"a\\nb"', '"a\\nb"'],
      ['"2025\\t10"', '"2025\\t10"'],
      ['"v\\x7f"', '"v\\u007f"'],
      // second review: U+2028/U+2029 break a line but are no \p{Cc}; a zero-width space or a bidi mark shows
      // as nothing: each loaded
      ['"2025\\u202810"', '"2025\\u202810"'],
      ['"2025\\u2029"', '"2025\\u2029"'],
      ['"2025\\u200b.10"', '"2025\\u200b.10"'],
      ['"v\\u202e1"', '"v\\u202e1"'],
      ['"v\\U000E0041"', '"v\\udb40\\udc41"'],
      // a private-use character shows as the font likes (an empty box), a lone surrogate as U+FFFD: each loaded
      ['"2025\\uE000"', '"2025\\ue000"'],
      ['"v\\U000F0001"', '"v\\udb80\\udc01"'],
      ['"v\\uD800"', '"v\\ud800"'],
    ];
    for (const [v, shown] of cases)
      expect(refusal(tariff(v))).toBe(
        't.yaml: invalid configuration\n  version: expected a version string in quotes, e.g. version: "2025.10", ' +
          `without control, format or private-use characters (a line break, a tab, a zero-width space, U+2028, U+E000); got ${shown}`,
      );
  });

  it("with spaces inside is taken as written", () => {
    expect(Tariff.fromYaml(tariff('"2025 autumn"'), "t.yaml").version).toBe("2025 autumn");
  });
});
