import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { APP_VERSION } from "../../src/version.js";
import { PROJECT_ROOT } from "../helpers/cli.js";

describe("the lane software's version", () => {
  it("is package.json's (etc-lane --version, the heartbeat's appVersion, lane.start)", () => {
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string };
    expect(APP_VERSION).toBe(pkg.version);
  });
});
