/**
 * The lane config as written in YAML (src/config/load.ts readLaneConfig): what the text says is what the
 * schema checks, nothing slipped past it by how the YAML was written.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { readLaneConfig } from "../../src/config/load.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-cfg-yaml-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LANE = 'lane: { network: "4301", station: "0102", lane: 3, role: entry }\n';
const REST =
  "rsu: { port: /dev/ttyUSB0, protocol: legacy }\nstatusList: { publicKey: k.pem }\ndataDir: data1\n";

let n = 0;
/** The config in YAML `text`, read from a file as `run` reads it. */
function read(text: string): ReturnType<typeof readLaneConfig>["config"] {
  const file = join(dir, `lane-${++n}.yaml`);
  writeFileSync(file, text);
  return readLaneConfig(file).config;
}

/** The E401 message of a config refused; throws when it is taken. */
function refusal(text: string): string {
  try {
    read(text);
  } catch (e) {
    if (isEtcError(e, "E401_CONFIG_INVALID")) return e.message;
    throw e;
  }
  throw new Error("expected the config to be refused");
}

describe("a __proto__ key", () => {
  it("is an unknown field, not the prototype of its section: a whole config under it is refused", () => {
    const nested = `__proto__:\n${(LANE + REST)
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => `  ${l}\n`)
      .join("")}`;
    const m = refusal(nested);
    expect(m).toMatch(/\n {2}\(top level\): unknown field\(s\) "__proto__"/);
    expect(m).toMatch(/\n {2}lane: missing/);
  });

  it("inside a section is refused by name, its fields not read as the section's", () => {
    const m = refusal(`${LANE}${REST}transaction: { __proto__: { b5TimeoutMs: 5 } }\n`);
    expect(m).toMatch(/\n {2}transaction: unknown field\(s\) "__proto__"/);
    expect(m).not.toMatch(/b5TimeoutMs/);
  });
});
