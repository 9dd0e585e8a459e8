/**
 * `etc-lane run` gives the lane the digest of the config bytes it parsed (src/config/load.ts
 * readLaneConfig) for the trail's `lane.start`, not of a second read taken later in the start: a config
 * replaced while run starts is not recorded as the one the lane runs with. The lane and the process tuning
 * are stubs; the tuning step replaces the file.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { ROOT } from "../../sim/harness/procs.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { registerRun } from "../../src/cli/commands/run.js";
import type { LaneRuntimeDeps } from "../../src/lane/runtime.js";

const h = vi.hoisted(() => ({
  replace: (): void => {},
  deps: [] as unknown[],
}));

vi.mock("../../src/lane/process-tuning.js", () => ({
  tuneLaneProcess: async () => {
    h.replace();
    return {};
  },
}));
vi.mock("../../src/lane/runtime.js", () => ({
  openLane: async (_c: unknown, deps: unknown) => {
    h.deps.push(deps);
    throw new Error("no lane in this test");
  },
}));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-digests-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// review: run read the config again for its digest, after the checks, the log and the tuning
it("lane.start's config digest: of the bytes parsed, though the file was replaced while run started", async () => {
  const config = join(dir, "lane.yaml");
  const lane = (n: number): string =>
    stringify({
      lane: { network: "4301", station: "0102", lane: n, role: "exit" },
      rsu: { port: "/dev/ttyUSB9", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir: join(dir, "data"),
      tariff: join(ROOT, "config/tariff.example.yaml"),
      log: { file: join(dir, "lane.log") },
    });
  const parsed = lane(3);
  writeFileSync(config, parsed);
  h.replace = () => writeFileSync(config, lane(4));
  const program = new Command("etc-lane").exitOverride();
  registerRun(program);
  await expect(program.parseAsync(["node", "etc-lane", "run", "--init", "--config", config])).rejects.toThrow(
    "no lane in this test",
  );
  expect(h.deps).toEqual([
    expect.objectContaining({
      configFile: {
        path: config,
        sha256: createHash("sha256").update(parsed).digest("hex"),
        bytes: Buffer.byteLength(parsed),
      },
    } satisfies Partial<LaneRuntimeDeps>),
  ]);
});
