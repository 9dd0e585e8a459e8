/**
 * A config file the maintenance commands read without being given it (ETC_LANE_CONFIG, the default
 * /etc/etc-lane/lane.yaml; src/cli/lane-locate.ts) that does not load is refused saying where its path
 * came from: an operator who set the variable long ago, or meant --data-dir, sees why this file was read.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { locateLane } from "../../src/cli/lane-locate.js";
import { UsageError } from "../../src/cli/run-cli.js";
import { tempDir } from "../audit/helpers.js";

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir("etc-lane-locate-");
});
afterEach(() => t.cleanup());

/** The error locateLane throws; fails the test when it throws none. */
function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("locateLane did not throw");
}

describe("a config that does not load", () => {
  // review: "ETC_LANE_CONFIG=/nonexistent.yaml etc-lane status" said only "/nonexistent.yaml: cannot read"
  it("from ETC_LANE_CONFIG: the error names the variable, keeping its code and what is wrong", () => {
    const missing = join(t.dir, "missing.yaml");
    const e = errorOf(() => locateLane({}, { ETC_LANE_CONFIG: missing }));
    expect(isEtcError(e) && e.code).toBe("E401_CONFIG_INVALID");
    expect(e.message).toMatch(new RegExp(`^${missing}: cannot read the config file \\(ENOENT`));
    expect(e.message).toContain("named by ETC_LANE_CONFIG in the environment");
    expect(e.message).toContain("give --config FILE or --data-dir DIR");
  });

  it("the default /etc/etc-lane/lane.yaml: the error says it is the default and how to name another", () => {
    const bad = join(t.dir, "lane.yaml");
    writeFileSync(bad, "lane: { network: 43 }\n");
    const e = errorOf(() => locateLane({}, {}, bad));
    expect(e.message).toMatch(new RegExp(`^${bad}: invalid configuration`));
    expect(e.message).toContain(
      "this is the default config file (none of --config, --data-dir, ETC_LANE_CONFIG",
    );
  });

  // session 43 review: the sentence was appended to the last field's line, and read as part of its error
  it("the sentence saying where the path came from is a line of its own, after every field's", () => {
    const bad = join(t.dir, "lane.yaml");
    writeFileSync(bad, "lane: { network: 43 }\n");
    const lines = errorOf(() => locateLane({}, { ETC_LANE_CONFIG: bad })).message.split("\n");
    expect(lines.at(-2)).toMatch(/^ {2}dataDir: expected a directory path$/);
    expect(lines.at(-1)).toMatch(/^this config file is named by ETC_LANE_CONFIG in the environment/);
  });

  it("given with --config: the error is the config's own", () => {
    const missing = join(t.dir, "missing.yaml");
    const e = errorOf(() => locateLane({ config: missing }, { ETC_LANE_CONFIG: "/elsewhere.yaml" }));
    expect(e.message).toMatch(/cannot read the config file \(ENOENT[^)]*\)$/);
  });
});

// session 39 review: `--data-dir ""` (an unset shell variable) meant the current directory, while an empty
// ETC_LANE_DATA_DIR counts as unset
describe("an empty option", () => {
  it.each([
    [{ dataDir: "" }, "--data-dir"],
    [{ config: "" }, "--config"],
    [{ config: "", dataDir: "/var/lib/etc-lane" }, "--config"],
  ])("%o is a usage error naming %s", (o, option) => {
    const e = errorOf(() => locateLane(o, {}, join(t.dir, "none.yaml")));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toMatch(new RegExp(`^${option} is empty`));
  });
});
