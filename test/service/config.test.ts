import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { loadLaneConfig, parseLaneConfig } from "../../src/config/index.js";
import { PROJECT_ROOT } from "../helpers/cli.js";

const minimal = {
  lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
  rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
  statusList: { publicKey: "keys/station.pub" },
  dataDir: "data",
  tariff: "tariff.yaml",
};

function errorOf(service: unknown): string {
  try {
    parseLaneConfig({ ...minimal, service }, "lane.yaml", "/etc/etc-lane");
  } catch (e) {
    if (isEtcError(e, "E401_CONFIG_INVALID")) return e.message;
    throw e;
  }
  throw new Error("expected the config to be refused");
}

describe("config service.*", () => {
  it("defaults to loopback without a token, and resolves the token file against the config directory", () => {
    expect(parseLaneConfig(minimal, "lane.yaml", "/etc/etc-lane").service).toEqual({
      listen: "127.0.0.1:9641",
      historyIntervalSeconds: 10,
      historyMinutes: 60,
    });
    const c = parseLaneConfig(
      { ...minimal, service: { listen: "0.0.0.0:9641", tokenFile: "service.token" } },
      "lane.yaml",
      "/etc/etc-lane",
    );
    expect(c.service.tokenFile).toBe("/etc/etc-lane/service.token");
    expect(parseLaneConfig({ ...minimal, service: { listen: "[::1]:9641" } }).service.listen).toBe(
      "[::1]:9641",
    );
  });

  it("refuses a non-loopback listen address without service.tokenFile, naming the field", () => {
    expect(errorOf({ listen: "0.0.0.0:9641" })).toMatch(
      /service\.tokenFile: required when service\.listen is not a loopback address \(got "0\.0\.0\.0:9641"\)/,
    );
    expect(errorOf({ listen: "10.1.2.3:9641" })).toMatch(/service\.tokenFile: required/);
  });

  it("refuses a malformed listen value, naming service.listen", () => {
    expect(errorOf({ listen: "9641" })).toMatch(/service\.listen: expected host:port/);
    expect(errorOf({ listen: "localhost:70000" })).toMatch(/service\.listen: expected host:port/);
  });

  it("the example config documents the section and validates", () => {
    const c = loadLaneConfig(join(PROJECT_ROOT, "config/lane.example.yaml"));
    expect(c.service.listen).toBe("127.0.0.1:9641");
  });
});
