/**
 * readTokenFile (src/config/token-file.ts), behind station.tokenFile and service.tokenFile: a token an
 * HTTP header cannot carry is refused when the config is read, naming the field, not at every request.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { readTokenFile } from "../../src/config/token-file.js";

const dir = mkdtempSync(join(tmpdir(), "etc-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tokenFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, 0o600);
  return path;
}

it("refuses a token with a character above U+00FF or a control character, naming the field", () => {
  const cases: [string, string][] = [
    ["s3cret-token-012345€6789\n", "U+20AC at character 20"],
    ["s3cret-token-令牌0123456789\n", "U+4EE4 at character 14"],
    ["s3cret-token-0123\u00016789\n", "U+0001 at character 18"],
  ];
  for (const [text, where] of cases) {
    const path = tokenFile(`t${where.slice(2, 6)}`, text);
    expect(() => readTokenFile(path, "station.tokenFile"), where).toThrow(
      `station.tokenFile: ${path} holds a character an HTTP header cannot carry (${where}); expected a token of visible ASCII characters`,
    );
  }
  // each character a header can carry, the token sent as is
  const good = tokenFile("good", "s3cret-token-0123456789\n");
  expect(readTokenFile(good, "service.tokenFile")).toBe("s3cret-token-0123456789");
  expect(() => new Headers({ authorization: "Bearer s3cret-token-0123456789" })).not.toThrow();
  expect(() => new Headers({ authorization: "Bearer s3cret-token-012345€6789" })).toThrow();
});
