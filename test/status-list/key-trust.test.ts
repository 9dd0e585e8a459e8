/**
 * A listed card never passes because of how a list was loaded: a list signed by another key than the one
 * the lane trusts (imported with `--public-key OTHER`, or by a lane configured with another key) is never
 * served (src/status-list/lifecycle.ts), never blocks a list of the lane's key by its version (store.ts
 * activeVersions), never takes a delta (delta-apply.ts), and `etc-lane status-list import` refuses a key
 * that is not the lane's (src/cli/commands/status-list.ts), and without a lane never replaces a list of
 * another key than the one it was given unless the config names it (src/cli/status-list-direct-check.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { runCli } from "../../src/cli/run-cli.js";
import { controlSocketPath } from "../../src/service/control/protocol.js";
import { startControlServer } from "../../src/service/control/server.js";
import { loadPublicKey } from "../../src/status-list/bundle.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { captureOutput } from "../helpers/cli.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { FakeLane, FakeOperator } from "../service/fake-lane.js";
import { card, delta, full, otherKeyPair, stationPub, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
const LISTED = card(7);
beforeEach(() => {
  tmp = tempDir("etc-sl-keys-");
});
afterEach(() => {
  vi.restoreAllMocks();
  tmp.cleanup();
});

/** An empty full list dated far ahead, signed by a key that is not the lane's, on the lane's data dir. */
async function foreignListOnDisk(): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const other = otherKeyPair();
  const c = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: other.publicKeyPem });
  await c.applyBundle(full("202612020000", [], { key: other.privateKeyPem }));
  expect(c.versions()).toEqual({ full: "202612020000", delta: null });
  await c.close();
  return other;
}

it("a list another key signed is not served: no list (whenMissing), health names both keys", async () => {
  await foreignListOnDisk();
  const c = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    expect(c.versions()).toEqual({ full: null, delta: null });
    expect(c.lookup({ cardId: LISTED })).toMatchObject({ listed: false, noList: true });
    const h = c.health();
    expect(h.state).toBe("missing");
    expect(h.reason).toMatch(/was signed by key [0-9a-f]+, not by the station key this lane trusts/);
  } finally {
    await c.close();
  }
});

it("the lane logs a list another key signed as an error with its code; a caller that reports it itself (the CLI's lookup and info) only at debug", async () => {
  await foreignListOnDisk();
  const lane: LogLine[] = [];
  const tool: LogLine[] = [];
  const c = await StatusListCache.open({
    dataDir: tmp.dir,
    publicKeyPem: stationPub,
    logger: recordingLogger(lane),
  });
  await c.close();
  const t = await StatusListCache.open({
    dataDir: tmp.dir,
    publicKeyPem: stationPub,
    logger: recordingLogger(tool),
    cleanup: false,
    reportsNotServed: true,
  });
  await t.close();
  const refusal = /was signed by key [0-9a-f]+, not by the station key this lane trusts/;
  expect(lane.filter((l) => l.level === "error")).toEqual([
    {
      level: "error",
      msg: expect.stringMatching(refusal),
      obj: expect.objectContaining({ err: expect.objectContaining({ code: "E504_BUNDLE_BAD_SIGNATURE" }) }),
    },
  ]);
  expect(tool.filter((l) => l.level === "error")).toEqual([]);
  expect(tool.filter((l) => l.level === "debug" && refusal.test(l.msg))).toHaveLength(1);
});

it("a full list of the lane's key replaces it whatever version the other one claims; a delta never applies to it", async () => {
  const other = await foreignListOnDisk();
  const c = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    // a delta of the lane's key that chains on the foreign list's version
    await expect(
      c.applyBundle(
        delta("202612020005", "202612020000", [{ kind: "card", id: LISTED, listType: 1, reason: "x" }]),
      ),
    ).rejects.toMatchObject({ code: "E508_NO_FULL_LIST" });
    // the station's real list, far older than the version the foreign one claims
    await c.applyBundle(full("202611230000", [{ kind: "card", id: LISTED, listType: 1, reason: "挂失" }]));
    expect(c.versions()).toEqual({ full: "202611230000", delta: null });
    expect(c.lookup({ cardId: LISTED })).toMatchObject({ listed: true });
    expect(c.health().state).toBe("ok");
  } finally {
    await c.close();
  }
  // and a delta of the other key on top of the lane's list is refused by its signature, as ever
  const again = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    await expect(
      again.applyBundle(delta("202611230005", "202611230000", [], { key: other.privateKeyPem })),
    ).rejects.toMatchObject({ code: "E504_BUNDLE_BAD_SIGNATURE" });
    expect(again.lookup({ cardId: LISTED })).toMatchObject({ listed: true });
  } finally {
    await again.close();
  }
});

it("etc-lane status-list import refuses a --public-key that is not the key the lane's config trusts", async () => {
  const other = otherKeyPair();
  const otherPub = join(tmp.dir, "other.pub.pem");
  writeFileSync(otherPub, other.publicKeyPem);
  const bundle = join(tmp.dir, "forged.bundle");
  writeFileSync(bundle, full("202612020000", [], { key: other.privateKeyPem }));
  const config = join(tmp.dir, "lane.yaml");
  writeFileSync(
    config,
    [
      "lane: { network: '4301', station: '0102', lane: 3, role: entry }",
      "tariff: /dev/null",
      "rsu: { port: /dev/null, protocol: legacy }",
      `statusList: { publicKey: ${TEST_PUBLIC_KEY_PATH} }`,
      `dataDir: ${join(tmp.dir, "data")}`,
      "",
    ].join("\n"),
  );
  captureOutput(); // the command's lines, not looked at here
  const program = new Command("etc-lane").exitOverride();
  registerStatusList(program);
  await expect(
    program.parseAsync(["status-list", "import", bundle, "--config", config, "--public-key", otherPub], {
      from: "user",
    }),
  ).rejects.toThrow(/--public-key .*other\.pub\.pem is not the key this lane trusts \(statusList\.publicKey/);
  // nothing was imported
  const c = await StatusListCache.open({ dataDir: join(tmp.dir, "data"), publicKeyPem: stationPub });
  try {
    expect(c.versions()).toEqual({ full: null, delta: null });
  } finally {
    await c.close();
  }
  // the lane's own key, named explicitly, is accepted
  const own = join(tmp.dir, "own.bundle");
  writeFileSync(own, full("202611230000", []));
  await program.parseAsync(
    ["status-list", "import", own, "--init", "--config", config, "--public-key", TEST_PUBLIC_KEY_PATH],
    { from: "user" },
  );
});

/** `etc-lane status-list import|lookup ...` in this process: its exit status (errors become status 1). */
async function etcLane(args: string[]): Promise<number> {
  const program = new Command("etc-lane");
  registerStatusList(program);
  process.exitCode = undefined;
  await runCli(program, ["node", "etc-lane", "status-list", ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return code;
}

/** A data directory whose list (full 202612060000, listing LISTED) the key `lane` signed; its key file. */
async function laneListOnDisk(dataDir: string, lane: { privateKeyPem: string; publicKeyPem: string }) {
  const laneKey = join(tmp.dir, "lane.pub.pem");
  writeFileSync(laneKey, lane.publicKeyPem);
  const f = join(tmp.dir, "lane-full.bundle");
  writeFileSync(
    f,
    full("202612060000", [{ kind: "card", id: LISTED, listType: 1, reason: "lost" }], {
      key: lane.privateKeyPem,
    }),
  );
  expect(await etcLane(["import", f, "--init", "--data-dir", dataDir, "--public-key", laneKey])).toBe(0);
  return laneKey;
}

/** Whether LISTED is listed in `dataDir`'s list, opened with `publicKeyPem` (as the lane opens it). */
async function listedWith(dataDir: string, publicKeyPem: string | Buffer): Promise<unknown> {
  const c = await StatusListCache.open({ dataDir, publicKeyPem });
  try {
    return { versions: c.versions(), listed: c.lookup({ cardId: LISTED }).listed };
  } finally {
    await c.close();
  }
}

it("an import without the lane's config never replaces the list of another key than the one it was given: refused, naming both keys", async () => {
  const io = captureOutput();
  const dataDir = join(tmp.dir, "data");
  const lane = otherKeyPair();
  await laneListOnDisk(dataDir, lane);
  // an older full list, signed by the test key, not listing the card; imported with --data-dir alone
  const old = join(tmp.dir, "old.bundle");
  writeFileSync(old, full("202601010000", [{ kind: "card", id: card(8), listType: 1, reason: "x" }]));
  io.err = "";
  expect(
    await etcLane(["import", old, "--init", "--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH]),
  ).toBe(1);
  const laneId = loadPublicKey(lane.publicKeyPem).keyId.toString("hex");
  const testId = loadPublicKey(stationPub).keyId.toString("hex");
  expect(io.err).toMatch(
    new RegExp(
      `status-list bundle refused: the list in .* \\(full 202612060000\\) was signed by key ${laneId}; ` +
        `this import was given key ${testId} .*give --config FILE .*\\[E504_BUNDLE_BAD_SIGNATURE\\]`,
    ),
  );
  // a newer one of that key is refused the same way
  const newer = join(tmp.dir, "newer.bundle");
  writeFileSync(newer, full("202612060100", []));
  expect(
    await etcLane(["import", newer, "--init", "--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH]),
  ).toBe(1);
  // the lane's list is there, whole, for the lane's key
  expect(await listedWith(dataDir, lane.publicKeyPem)).toEqual({
    versions: { full: "202612060000", delta: null },
    listed: true,
  });
});

// review (session 27): with the config, E506 refused the lane's own full list when another key's list on disk
// claimed the same or a newer version, though the lane itself replaces such a list by any full list of its
// key: the lane had to start with no list
it("with the lane's config naming the key, any full list of that key replaces another key's list whatever its version, as the lane does", async () => {
  const io = captureOutput();
  const dataDir = join(tmp.dir, "data");
  const other = otherKeyPair();
  await laneListOnDisk(dataDir, other); // full 202612060000 of a key the config does not name
  const config = join(tmp.dir, "lane.yaml");
  writeFileSync(
    config,
    [
      "lane: { network: '4301', station: '0102', lane: 3, role: entry }",
      "tariff: /dev/null",
      "rsu: { port: /dev/null, protocol: legacy }",
      `statusList: { publicKey: ${TEST_PUBLIC_KEY_PATH} }`,
      `dataDir: ${dataDir}`,
      "",
    ].join("\n"),
  );
  // a delta of the config's key has no list of that key to apply to: refused, the list kept
  const d = join(tmp.dir, "delta.bundle");
  writeFileSync(d, delta("202612060005", "202612060000", []));
  io.err = "";
  expect(await etcLane(["import", d, "--init", "--config", config])).toBe(1);
  expect(io.err).toMatch(/\[E508_NO_FULL_LIST\]/);
  expect(await listedWith(dataDir, other.publicKeyPem)).toMatchObject({ listed: true });
  // the config's key's full list, older than the one on disk claims: applied
  const old = join(tmp.dir, "old.bundle");
  writeFileSync(old, full("202601010000", [{ kind: "card", id: LISTED, listType: 1, reason: "挂失" }]));
  expect(await etcLane(["import", old, "--init", "--config", config])).toBe(0);
  expect(await listedWith(dataDir, stationPub)).toEqual({
    versions: { full: "202601010000", delta: null },
    listed: true,
  });
});

it("a --public-key that is not the config's is refused before a running lane is asked (the lane would use its own)", async () => {
  captureOutput();
  const dataDir = join(tmp.dir, "data");
  mkdirSync(dataDir);
  const laneView = new FakeLane();
  const operator = new FakeOperator(laneView);
  const server = await startControlServer({ path: controlSocketPath(dataDir), view: laneView, operator });
  try {
    const other = otherKeyPair();
    const otherPub = join(tmp.dir, "other.pub.pem");
    writeFileSync(otherPub, other.publicKeyPem);
    const config = join(tmp.dir, "lane.yaml");
    writeFileSync(
      config,
      [
        "lane: { network: '4301', station: '0102', lane: 3, role: entry }",
        "tariff: /dev/null",
        "rsu: { port: /dev/null, protocol: legacy }",
        `statusList: { publicKey: ${TEST_PUBLIC_KEY_PATH} }`,
        `dataDir: ${dataDir}`,
        "",
      ].join("\n"),
    );
    const program = new Command("etc-lane").exitOverride();
    registerStatusList(program);
    await expect(
      program.parseAsync(
        ["status-list", "import", "x.bundle", "--config", config, "--public-key", otherPub],
        {
          from: "user",
        },
      ),
    ).rejects.toThrow(/--public-key .*other\.pub\.pem is not the key this lane trusts/);
    expect(operator.calls).toEqual([]);
  } finally {
    await server.close();
  }
});
