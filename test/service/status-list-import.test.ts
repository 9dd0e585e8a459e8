/**
 * `etc-lane status-list import|lookup|info --config FILE`: the lane found by its config (its data
 * directory, and the station key from statusList.publicKey), the import handed to the running lane
 * through its control socket (the lane applies it and records who asked), and without a lane applied to
 * the data directory under its lock and recorded in the lane's trail with `via: "direct"`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { runCli } from "../../src/cli/run-cli.js";
import { loadLaneConfig } from "../../src/config/load.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import type { LaneFeedEvent } from "../../src/service/lane-view.js";
import { auditedOperator } from "../../src/service/operator-audit.js";
import { laneRuntimeOperator, type StatusListNotifier } from "../../src/service/runtime-operator.js";
import { serveLane } from "../../src/service/serve-lane.js";
import { buildFull } from "../../src/status-list/full-build.js";
import { openBoundTrail, verifyLane } from "../audit/helpers.js";
import { type CapturedOutput, captureOutput } from "../helpers/cli.js";
import { laneTest, ROOT } from "../integration/harness.js";
import { tempDir } from "../journal/helpers.js";
import { bundleFile } from "../status-list/helpers.js";

const CARD = "43010000000000007777"; // the one card the bundles list

let io: CapturedOutput;
beforeEach(() => {
  io = captureOutput();
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function etcLane(args: string[]): Promise<number> {
  const program = new Command("etc-lane");
  registerStatusList(program);
  process.exitCode = undefined;
  await runCli(program, ["node", "etc-lane", "status-list", ...args]);
  return Number(process.exitCode ?? 0);
}

/** The config file a lane runs with: its data directory and the station key. */
function laneConfigFile(dir: string, dataDir: string): string {
  const path = join(dir, "lane.yaml");
  writeFileSync(
    path,
    [
      'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
      "rsu: { port: in-process, protocol: legacy }",
      `statusList: { publicKey: ${TEST_PUBLIC_KEY_PATH} }`,
      `dataDir: ${dataDir}`,
      `tariff: ${join(ROOT, "config/tariff.example.yaml")}`,
      "service: { listen: 127.0.0.1:0 }",
      "",
    ].join("\n"),
  );
  return path;
}

/** `status-list import --json`: one envelope, through the lane or not; its result, the apply result */
const ENVELOPE_KEYS = ["message", "ok", "result", "via"];
const RESULT_KEYS = [
  "adds",
  "base",
  "cardNoNetworkExample",
  "cards",
  "cardsNoNetwork",
  "kind",
  "ms",
  "obus",
  "obusNotDecimal",
  "removes",
  "version",
  "versions",
];

const operatorEntries = (dataDir: string) =>
  [...readTrail(auditDir(dataDir))]
    .map((x) => x.entry)
    .filter((e) => e.type === "operator.status-list.import" || e.type.startsWith("status-list."));

/** The operator a user reaches through the socket of a running lane. */
const SOCKET_USER = { name: "op", uid: 1000, pid: 1, via: "socket" as const };

/** The lane's operator, audited as the service builds it; `page`, each [action, reason] the page is told. */
function auditedLaneOperator(lane: LaneRuntime) {
  const page: [string, string | null][] = [];
  const view: StatusListNotifier = { notifyStatusList: (a, r) => page.push([a, r]) };
  return { op: auditedOperator(laneRuntimeOperator(lane, view), lane.audit), page };
}

describe("status-list import, lookup and info by the lane's config", () => {
  it("without a running lane: under the lock, the key from the config, recorded in the lane's trail", async () => {
    const t = tempDir("etc-sl-direct-");
    try {
      const dataDir = join(t.dir, "data");
      const lane = openBoundTrail(dataDir); // a lane has run here: it has a journal and a trail
      await lane.close();
      const cfg = laneConfigFile(t.dir, dataDir);
      const full = bundleFile(t.dir, CARD, "full", "202507160000");
      // the line the running lane's import prints, with where it was applied
      expect(await etcLane(["import", full, "--config", cfg])).toBe(0);
      expect(io.out).toBe(
        "status-list full 202507160000 applied (1 added, 0 removed) [data directory (no lane running)]\n",
      );
      io.out = "";
      expect(await etcLane(["lookup", "--card", "43010000000000007777", "--config", cfg])).toBe(0);
      expect(JSON.parse(io.out)).toMatchObject({ listed: true, versions: { full: "202507160000" } });
      // the same bundle again: refused by the list, the refusal recorded too; with --json the envelope
      io.out = "";
      expect(await etcLane(["import", full, "--config", cfg, "--json"])).toBe(1);
      expect(JSON.parse(io.out)).toEqual({
        via: "direct",
        ok: false,
        message: expect.stringMatching(
          /^status-list bundle refused: .*not newer than the version.* \[E\d+_[A-Z_]+\]$/,
        ),
        result: null,
      });
      // and without --json the same words on stderr
      io.out = "";
      io.err = "";
      expect(await etcLane(["import", full, "--config", cfg])).toBe(1);
      expect(io.out).toBe("");
      expect(io.err).toMatch(
        /^etc-lane: status-list bundle refused: .*not newer than the version.* \[data directory \(no lane running\)\]\n$/,
      );
      const es = operatorEntries(dataDir);
      expect(es.map((e) => [e.type, (e.data as { ok?: boolean; via?: string }).via ?? null])).toEqual([
        ["status-list.applied", null],
        ["operator.status-list.import", "direct"],
        ["status-list.refused", null],
        ["operator.status-list.import", "direct"],
        ["status-list.refused", null],
        ["operator.status-list.import", "direct"],
      ]);
      expect(es[0]!.data).toMatchObject({ source: "operator", version: "202507160000" });
      expect(es[1]!.data).toMatchObject({ ok: true, details: { kind: "full", cards: 1 } });
      expect(es[3]!.data).toMatchObject({ ok: false });
      // with --json, a list the import applies: the envelope, result the whole apply result
      io.out = "";
      const next = bundleFile(t.dir, CARD, "full", "202507160100");
      expect(await etcLane(["import", next, "--config", cfg, "--json"])).toBe(0);
      const env = JSON.parse(io.out);
      expect(env).toMatchObject({
        via: "direct",
        ok: true,
        message: "status-list full 202507160100 applied (1 added, 0 removed)",
        result: { kind: "full", version: "202507160100", cards: 1, obus: 0 },
      });
      expect(Object.keys(env).sort()).toEqual(ENVELOPE_KEYS);
      expect(Object.keys(env.result).sort()).toEqual(RESULT_KEYS);
      expect(verifyLane(dataDir).problems).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  // review (session 38): a mistyped FILE or --public-key was "not applied (the lane's own failure)", and an
  // E511 / E514 alarm in the trail; a directory as FILE gave a raw [EISDIR]
  it("without a running lane, a mistyped FILE or --public-key is a usage error: one line on stderr, exit 1, nothing in the trail", async () => {
    const t = tempDir("etc-sl-typo-");
    try {
      const dataDir = join(t.dir, "data");
      const lane = openBoundTrail(dataDir); // a lane has run here
      await lane.close();
      const full = bundleFile(t.dir, CARD, "full", "202507160000");
      const key = ["--public-key", TEST_PUBLIC_KEY_PATH];
      const cases: [string[], string][] = [
        [
          ["import", join(t.dir, "nosuch.bundle"), "--data-dir", dataDir, ...key],
          `etc-lane: FILE ${join(t.dir, "nosuch.bundle")}: no such file (ENOENT); give the bundle file (etc-sim status-list build --out)\n`,
        ],
        [
          ["import", t.dir, "--data-dir", dataDir, ...key],
          `etc-lane: FILE ${t.dir}: not a file (a directory?); give the bundle file (etc-sim status-list build --out)\n`,
        ],
        [
          ["import", full, "--data-dir", dataDir, "--public-key", join(t.dir, "nosuch.pem")],
          `etc-lane: --public-key ${join(t.dir, "nosuch.pem")}: no such file (ENOENT); give the station's Ed25519 public key (PEM)\n`,
        ],
        [
          ["import", full, "--data-dir", dataDir, "--public-key", full],
          `etc-lane: --public-key ${full}: status-list public key is not a valid PEM public key: `,
        ],
      ];
      for (const [args, err] of cases) {
        io.err = "";
        expect(await etcLane(args)).toBe(1);
        expect(io.err.slice(0, err.length)).toBe(err);
        expect(io.err.split("\n")).toHaveLength(2); // one line
      }
      expect(operatorEntries(dataDir)).toEqual([]);
      // put right, it applies
      expect(await etcLane(["import", full, "--data-dir", dataDir, ...key])).toBe(0);
      expect(operatorEntries(dataDir).map((e) => e.type)).toEqual([
        "status-list.applied",
        "operator.status-list.import",
      ]);
    } finally {
      t.cleanup();
    }
  });

  it("without --public-key or a config it says which key it needs", async () => {
    const t = tempDir("etc-sl-nokey-");
    try {
      expect(await etcLane(["info", "--data-dir", t.dir])).toBe(1);
      expect(io.err).toMatch(/give --public-key FILE, or --config FILE \(its statusList.publicKey\)/);
    } finally {
      t.cleanup();
    }
  });

  it("with a running lane: handed to the lane through its control socket, which applies it and records who asked", async () => {
    await laneTest({ protocol: "legacy", scenario: { traffic: { vehicles: [] } } }, async (t) => {
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      const cfg = laneConfigFile(t.dir, dataDir);
      const served = await serveLane(t.lane, loadLaneConfig(cfg), { processMetrics: false });
      try {
        const listed = "43010000000000007777"; // the one card the delta lists
        expect(t.lane.statusList.lookup({ cardId: listed })).toMatchObject({ listed: false, entries: [] });
        const delta = bundleFile(t.dir, CARD, "delta", "202507160005", "202507160000");
        expect(await etcLane(["import", delta, "--config", cfg])).toBe(0);
        expect(io.out).toMatch(/^status-list delta 202507160005 applied .* \[lane\]\n$/);
        expect(t.lane.statusList.versions()).toEqual({ full: "202507160000", delta: "202507160005" });
        // the running lane's own lookup now refuses it, judged against the imported delta
        expect(t.lane.statusList.lookup({ cardId: listed })).toMatchObject({
          listed: true,
          entry: { kind: "card", id: listed, reason: "lost" },
          versions: { full: "202507160000", delta: "202507160005" },
        });
        const es = operatorEntries(dataDir).filter((e) => e.type !== "status-list.loaded");
        // the harness's own list (applied at start), then the operator's delta and who asked for it
        expect(es.map((e) => [e.type, (e.data as { source?: string }).source ?? null])).toEqual([
          ["status-list.applied", "test"],
          ["status-list.applied", "operator"],
          ["operator.status-list.import", null],
        ]);
        expect(es[1]!.data).toMatchObject({ kind: "delta", version: "202507160005" });
        expect(es[2]!.data).toMatchObject({ via: "socket", ok: true, file: delta });
        // --json: the same envelope as without a lane, also for a refusal (result null)
        io.out = "";
        expect(await etcLane(["import", delta, "--config", cfg, "--json"])).toBe(1);
        expect(JSON.parse(io.out)).toEqual({
          via: "lane",
          ok: false,
          message: expect.stringMatching(/^status-list bundle refused: /),
          result: null,
        });
        io.out = "";
        const next = bundleFile(t.dir, CARD, "delta", "202507160010", "202507160005");
        expect(await etcLane(["import", next, "--config", cfg, "--json"])).toBe(0);
        const env = JSON.parse(io.out);
        expect(env).toMatchObject({
          via: "lane",
          ok: true,
          message: "status-list delta 202507160010 applied (1 added, 0 removed)",
          result: { kind: "delta", version: "202507160010", base: "202507160005" },
        });
        expect(Object.keys(env).sort()).toEqual(ENVELOPE_KEYS);
        expect(Object.keys(env.result).sort()).toEqual(RESULT_KEYS);
      } finally {
        await served.close();
      }
    });
  });

  // review: an import that changed the list was fed as applied twice, by the operator
  // (src/service/runtime-operator.ts) and by the list's health (src/service/runtime-tracker.ts
  // trackStatusListVersions)
  it("an import through the running lane's service, applied or failed but changing the list: one status-list applied event on its feed, from the list's health", async () => {
    await laneTest({ protocol: "legacy", scenario: { traffic: { vehicles: [] } } }, async (t) => {
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      const served = await serveLane(t.lane, loadLaneConfig(laneConfigFile(t.dir, dataDir)), {
        processMetrics: false,
      });
      const fed: LaneFeedEvent[] = [];
      const sub = served.view.events$.subscribe((e) => {
        if (e.type === "status-list") fed.push(e);
      });
      try {
        const op = laneRuntimeOperator(t.lane, served.view);
        const delta = bundleFile(t.dir, CARD, "delta", "202507160005", "202507160000");
        expect(await op.importStatusList(delta, SOCKET_USER)).toMatchObject({ ok: true });
        expect(fed).toEqual([
          {
            type: "status-list",
            at: expect.any(Number),
            action: "applied",
            versions: { full: "202507160000", delta: "202507160005" },
            reason: null,
          },
        ]);
        // a full job whose worker switched `current` and died before its answer, then imported: refused as
        // held (E506), and the lane now serves it (as in the test below)
        fed.length = 0;
        const full = bundleFile(t.dir, CARD, "full", "202507170000");
        const before = t.lane.statusList.versions();
        buildFull(
          dataDir,
          { path: full },
          readFileSync(TEST_PUBLIC_KEY_PATH, "utf8"),
          before,
          () => {},
          Date.now(),
        );
        expect(await op.importStatusList(full, SOCKET_USER)).toMatchObject({ ok: false });
        expect(fed).toEqual([
          {
            type: "status-list",
            at: expect.any(Number),
            action: "applied",
            versions: { full: "202507170000", delta: null },
            reason: null,
          },
        ]);
      } finally {
        sub.unsubscribe();
        await served.close();
      }
    });
  });

  it("through a running lane, a file the lane cannot read is said plainly: nothing applied, no status-list entry in the trail", async () => {
    await laneTest({ protocol: "legacy", scenario: { traffic: { vehicles: [] } } }, async (t) => {
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      const before = t.lane.statusList.versions();
      const entries = operatorEntries(dataDir).length;
      const { op, page } = auditedLaneOperator(t.lane);
      // a path the CLI did not check (another host's, or removed since), and a directory (as root, the
      // lane reads any file: the mode's case is the same answer, "this user may not read it (EACCES)")
      const missing = join(t.dir, "nosuch.bundle");
      for (const [file, why] of [
        [missing, "no such file \\(ENOENT\\)"],
        [t.dir, "not a file \\(a directory\\?\\)"],
      ] as const) {
        expect(await op.importStatusList(file, SOCKET_USER)).toEqual({
          ok: false,
          message: expect.stringMatching(
            new RegExp(
              `^the lane cannot read ${file} as its user \\(.+\\): ${why}; nothing applied: make the file readable to the lane's user`,
            ),
          ),
        });
      }
      expect(t.lane.statusList.versions()).toEqual(before);
      expect(page).toEqual([]);
      // who asked is recorded, as for every operator action; no status-list refusal, no alarm
      expect(
        operatorEntries(dataDir)
          .slice(entries)
          .map((e) => [e.type, e.severity]),
      ).toEqual([
        ["operator.status-list.import", "warn"],
        ["operator.status-list.import", "warn"],
      ]);
    });
  });

  it("a failed import that changed the list served all the same: the trail says applied (the failure named), the operator is told the change (the page by the list's health, above)", async () => {
    await laneTest({ protocol: "legacy", scenario: { traffic: { vehicles: [] } } }, async (t) => {
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      const before = t.lane.statusList.versions();
      const file = bundleFile(t.dir, CARD, "full", "202507170000");
      // a full job whose worker switched `current` to the new list and died before its answer
      // (src/status-list/full-build.ts): the lane still serves the old list
      buildFull(
        dataDir,
        { path: file },
        readFileSync(TEST_PUBLIC_KEY_PATH, "utf8"),
        before,
        () => {},
        Date.now(),
      );
      expect(t.lane.statusList.versions()).toEqual(before);
      // the operator imports that same list: refused as held (E506), and the lane now serves it
      const { op, page } = auditedLaneOperator(t.lane);
      const r = await op.importStatusList(file, SOCKET_USER);
      const change = {
        kind: "full",
        version: "202507170000",
        before,
        versions: { full: "202507170000", delta: null },
      };
      expect(r).toEqual({
        ok: false,
        message: expect.stringMatching(
          new RegExp(
            `^status-list import failed, but the list served changed to full 202507170000 \\(was full ${before.full}\\): ` +
              "full list 202507170000 is not newer .* \\[E506_BUNDLE_NOT_NEWER\\]$",
          ),
        ),
      });
      expect(t.lane.statusList.versions()).toEqual(change.versions);
      expect(page).toEqual([]);
      const es = operatorEntries(dataDir).filter((e) => e.type !== "status-list.loaded");
      expect(es.map((e) => [e.type, e.severity])).toEqual([
        ["status-list.applied", "info"], // the harness's own list
        ["status-list.applied", "warn"],
        ["operator.status-list.import", "warn"],
      ]);
      expect(es[1]!.data).toEqual({
        kind: "full",
        version: "202507170000",
        bundle: file,
        source: "operator",
        versions: change.versions,
        before,
        failure: {
          code: "E506_BUNDLE_NOT_NEWER",
          reason: expect.stringMatching(/^full list 202507170000 is not newer/),
        },
      });
      expect(es[1]!.message).toMatch(
        /^status-list full 202507170000 applied, though its job failed: full list/,
      );
    });
  });

  it("an import the lane fails for its own reason (a list it built but cannot open): not called a refusal, the page told it failed, the trail's refusal local; imported again, it is built anew and applied", async () => {
    await laneTest({ protocol: "legacy", scenario: { traffic: { vehicles: [] } } }, async (t) => {
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      const before = t.lane.statusList.versions();
      const file = bundleFile(t.dir, CARD, "full", "202507170000");
      // a full job whose worker switched `current` to the new list and died before its answer, the new
      // database then damaged before the lane opened it (src/status-list/full-build.ts)
      const built = buildFull(
        dataDir,
        { path: file },
        readFileSync(TEST_PUBLIC_KEY_PATH, "utf8"),
        before,
        () => {},
        Date.now(),
      );
      writeFileSync(join(dataDir, "status-list", built.db), Buffer.alloc(8192, 0x41));
      const { op, page } = auditedLaneOperator(t.lane);
      const r = await op.importStatusList(file, SOCKET_USER);
      expect(r).toEqual({
        ok: false,
        message: expect.stringMatching(
          new RegExp(
            "^status-list bundle not applied \\(the lane's own failure\\): full list 202507170000: the list `current` " +
              `named \\(${built.db}, full 202507170000\\) cannot be served \\(file is not a database\\); the lane ` +
              `serves full ${before.full}, \`current\` names it again and that database is deleted: the full list offered ` +
              "again \\(the uplink's next try, or an import of it again\\) is built anew \\[E511_STORE\\]$",
          ),
        ),
      });
      expect(t.lane.statusList.versions()).toEqual(before);
      expect(page).toEqual([["failed", r.message]]);
      const refused = operatorEntries(dataDir).filter((e) => e.type === "status-list.refused");
      expect(refused.map((e) => [e.severity, e.data])).toEqual([
        [
          "alarm",
          {
            bundle: file,
            source: "operator",
            code: "E511_STORE",
            reason: expect.stringMatching(/^full list 202507170000: the list `current` named/),
            local: true,
          },
        ],
      ]);
      expect(refused[0]!.message).toMatch(
        new RegExp(
          `^status-list bundle ${file} not applied \\(the lane's own failure\\): full list 202507170000`,
        ),
      );
      // imported again: built anew, applied
      const again = await op.importStatusList(file, SOCKET_USER);
      expect(again).toMatchObject({
        ok: true,
        message: expect.stringMatching(/^status-list full 202507170000 applied/),
      });
      expect(t.lane.statusList.versions()).toEqual({ full: "202507170000", delta: null });
      expect(page).toHaveLength(1); // the list applied is fed by its health, not by the import
    });
  });
});
