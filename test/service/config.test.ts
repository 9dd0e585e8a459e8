import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadLaneConfig, parseLaneConfig } from "../../src/config/index.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "../config/helpers.js";
import { PROJECT_ROOT } from "../helpers/cli.js";

const minimal = MINIMAL_LANE_CONFIG;

const errorOf = (service: unknown): string => configErrorOf({ ...minimal, service });

describe("config service.*", () => {
  it("defaults to loopback without a token, and resolves the token file against the config directory", () => {
    expect(parseLaneConfig(minimal, "lane.yaml", "/etc/etc-lane").service).toEqual({
      listen: "127.0.0.1:9641",
      historyIntervalSeconds: 10,
      historyMinutes: 60,
      maxConnections: 64,
      maxLiveFeeds: 16,
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

  it("refuses more live feeds than connections, naming service.maxLiveFeeds", () => {
    expect(errorOf({ maxConnections: 8, maxLiveFeeds: 8 })).toMatch(
      /service\.maxLiveFeeds: must be less than service\.maxConnections \(8\)/,
    );
    expect(
      parseLaneConfig({ ...minimal, service: { maxConnections: 8, maxLiveFeeds: 2 } }).service,
    ).toMatchObject({ maxConnections: 8, maxLiveFeeds: 2 });
  });

  it("names a live-feed or connection count out of its own range once, by that range", () => {
    const tooMany = errorOf({ maxLiveFeeds: 5000 });
    expect(tooMany).toMatch(/service\.maxLiveFeeds: expected pages in 1\.\.1024, got 5000/);
    expect(tooMany).not.toMatch(/must be less than/);
    const tooFew = errorOf({ maxConnections: 2 });
    expect(tooFew).toMatch(/service\.maxConnections: expected connections in 4\.\.4096, got 2/);
    expect(tooFew).not.toMatch(/service\.maxLiveFeeds/);
  });

  it("refuses a malformed listen value, naming service.listen", () => {
    expect(errorOf({ listen: "9641" })).toMatch(/service\.listen: expected host:port/);
    expect(errorOf({ listen: "localhost:70000" })).toMatch(/service\.listen: expected host:port/);
  });

  it("refuses a listen host that can never be bound (no IP address, no host name), naming service.listen", () => {
    const long = `${"a".repeat(63)}.`.repeat(4) + "b"; // 257 characters
    for (const listen of [
      "...:9641",
      "-:9641",
      "a..b:9641",
      "-lane.local:9641",
      "lane-.local:9641",
      `${"a".repeat(64)}:9641`,
      `${long}:9641`,
      "1.2.3:9641",
      "256.1.1.1:9641",
      "127.1:9641",
      "2130706433:9641",
      "[:]:9641",
      "[1:2:3]:9641",
    ])
      expect(errorOf({ listen, tokenFile: "service.token" }), listen).toContain(
        'service.listen: expected host:port, e.g. "127.0.0.1:9641" or "[::1]:9641", the host an IP address (IPv6 in brackets; ' +
          "an IPv4 address must be written as four dotted numbers 0..255, not 127.1 or 2130706433) or a host name " +
          "(dot-separated labels of letters, digits and hyphens, not digits and dots alone), the port 0..65535, " +
          `got ${JSON.stringify(listen).slice(0, 40)}`,
      );
    for (const listen of [
      "lane-3.station.local:9641",
      "localhost:0",
      `${"a".repeat(63)}:9641`,
      "[::ffff:127.0.0.1]:9641",
      "127.0.0.2:9641",
    ])
      expect(
        parseLaneConfig({ ...minimal, service: { listen, tokenFile: "service.token" } }).service.listen,
      ).toBe(listen);
  });

  it("the example config documents the section and validates", () => {
    const c = loadLaneConfig(join(PROJECT_ROOT, "config/lane.example.yaml"));
    expect(c.service.listen).toBe("127.0.0.1:9641");
  });
});
