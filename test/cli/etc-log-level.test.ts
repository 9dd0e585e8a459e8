/**
 * ETC_LOG_LEVEL (src/log.ts envLogLevel): the log level of the commands whose logger no config sets (the
 * status-list commands on a data directory, etc-sim station). A value pino does not have is refused naming
 * the variable and the levels it takes, before anything is read or applied. Review: `ETC_LOG_LEVEL=bogus
 * etc-lane status-list import ...` said "status-list bundle not applied (the lane's own failure): default
 * level:bogus must be included in custom levels", naming neither.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { expect, it, vi } from "vitest";
import { registerStation } from "../../sim/cli/commands/station.js";
import {
  buildBundle,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../../sim/status-list/bundle-builder.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { runCli } from "../../src/cli/run-cli.js";
import { envLogLevel } from "../../src/log.js";
import { inProcessEtcLane } from "../helpers/cli.js";

const cli = inProcessEtcLane("etc-log-level-", [registerStatusList]);

const REFUSED =
  'ETC_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent, got "bogus" ' +
  "(the log level in this command's environment: fix or unset it) [E401_CONFIG_INVALID]";

function bundleFile(): string {
  const f = join(cli.dir(), "full.bin");
  writeFileSync(
    f,
    buildBundle({
      kind: "full",
      version: "202507160000",
      privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
      rows: [],
    }),
  );
  return f;
}

it("status-list import, lookup and info refuse a bad ETC_LOG_LEVEL naming it, and apply nothing", async () => {
  const dataDir = join(cli.dir(), "data");
  const store = ["--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH];
  const f = bundleFile();
  vi.stubEnv("ETC_LOG_LEVEL", "bogus");
  for (const args of [
    ["status-list", "import", f, "--init", ...store],
    ["status-list", "lookup", "--card", "43010000000000000001", ...store],
    ["status-list", "info", ...store],
  ]) {
    cli.io().err = "";
    expect(await cli.run(args)).toBe(1);
    expect(cli.io().err).toBe(`etc-lane: ${REFUSED}\n`);
  }
  // the import was refused before the data directory was created
  expect(existsSync(dataDir)).toBe(false);
  // the same import with a level pino has works
  vi.stubEnv("ETC_LOG_LEVEL", "silent");
  expect(await cli.run(["status-list", "import", f, "--init", ...store])).toBe(0);
});

it("etc-sim station refuses a bad ETC_LOG_LEVEL naming it", async () => {
  vi.stubEnv("ETC_LOG_LEVEL", "bogus");
  const program = new Command("etc-sim");
  registerStation(program);
  await runCli(program, ["node", "etc-sim", "station", "--listen", "127.0.0.1:0"], { maskCards: false });
  expect(process.exitCode).toBe(1);
  expect(cli.io().err).toBe(`etc-sim: ${REFUSED}\n`);
});

it("envLogLevel: unset or empty is the fallback, a level pino has is taken", () => {
  expect(envLogLevel("error", {})).toBe("error");
  expect(envLogLevel("error", { ETC_LOG_LEVEL: "" })).toBe("error");
  expect(envLogLevel("error", { ETC_LOG_LEVEL: "warn" })).toBe("warn");
  expect(() => envLogLevel("error", { ETC_LOG_LEVEL: "WARN" })).toThrow('got "WARN"');
});
