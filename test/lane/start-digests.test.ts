/**
 * The trail's `tariff.loaded` entry (src/lane/runtime.ts) records the SHA-256 of the bytes the lane parsed
 * its tariff from, not of a second read taken later in the start: a tariff replaced while the lane starts
 * (a deployment copying the new one and restarting) is not recorded next to the old table's version.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type { Logger } from "../../firmware-bridge/log.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { auditDir, readTrail } from "../../src/audit/index.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { tempDir } from "../journal/helpers.js";

let lane: LaneRuntime | undefined;
let cleanup: () => void = () => undefined;
afterEach(async () => {
  await lane?.close();
  lane = undefined;
  cleanup();
});

const tariffText = (version: string, fee: number): string =>
  `station: "4301-0102"\nversion: "${version}"\nroutes: [{ from: "4301-0101", fees: { "1": ${fee} } }]\n`;
const sha = (text: string): string => createHash("sha256").update(text).digest("hex");

// review: the digest was read from the file again after the journal and the status list had opened
it("tariff.loaded: the digest of the bytes parsed, though the file was replaced while the lane started", async () => {
  const t = tempDir("etc-start-digests-");
  cleanup = t.cleanup;
  const tariff = join(t.dir, "tariff.yaml");
  const parsed = tariffText("v1", 1500);
  const replacement = tariffText("v2", 1600);
  writeFileSync(tariff, parsed);
  const c = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "in-process", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir: join(t.dir, "data"),
      tariff,
      outputs: { sink: "log" },
    },
    "lane.yaml",
    t.dir,
  );
  // openLane logs nothing before it parses the tariff (lane.tariff.version says so below): the file is
  // replaced at its first log line, on the way to the trail's first entries
  let replaced = false;
  const replace = (): void => {
    if (replaced) return;
    replaced = true;
    writeFileSync(tariff, replacement);
  };
  const logger: Logger = {
    trace: replace,
    debug: replace,
    info: replace,
    warn: replace,
    error: replace,
    child: () => logger,
  };
  lane = await openLane(c, { transport: createTransportPair().lane, uplink: false, logger });
  expect(replaced).toBe(true);
  expect(lane.tariff?.version).toBe("v1");
  await lane.close();
  lane = undefined;
  const loaded = [...readTrail(auditDir(c.dataDir))].filter((x) => x.entry.type === "tariff.loaded");
  expect(loaded.map((x) => x.entry.data)).toEqual([
    { path: tariff, sha256: sha(parsed), bytes: Buffer.byteLength(parsed), version: "v1" },
  ]);
});
