/**
 * A maintenance command on a stopped lane acts on the journal of the data directory it was given with the
 * config it was given (src/cli/direct-session.ts): the two must name the same lane. A config of lane 3 (an
 * entry lane) with the data directory of lane 4 (an exit lane) is refused, naming the config's lane.* and
 * the journal's lane and data directory, before anything is written: no settle recorded with lane 3's role,
 * no retention with its retentionDays, no status list imported with its key.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { auditDir } from "../../src/audit/index.js";
import { directDeps } from "../../src/cli/direct-session.js";
import { importStatusListDirect } from "../../src/cli/status-list-direct.js";
import { runDirect } from "../../src/cli/stopped-lane-operator.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig } from "../../src/config/schema.js";
import { Journal, JournalReader } from "../../src/journal/journal.js";
import type { LaneIdentity } from "../../src/journal/types.js";
import type { LaneOperator, OperatorResult, OperatorUser } from "../../src/service/lane-view.js";
import { acksOf, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

const LANE_4: LaneIdentity = { network: "4301", station: "0102", lane: 4 };

let root = "";
let cleanup: () => void = () => undefined;
let dir4 = "";
beforeEach(() => {
  ({ dir: root, cleanup } = tempDir("etc-direct-identity-"));
  dir4 = join(root, "lane-04");
});
afterEach(() => cleanup());

/** The config of a lane (its dataDir under root unless given). */
function laneConfig(lane: number, role: "entry" | "exit", dataDir = join(root, `lane-0${lane}`)): LaneConfig {
  return parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane, role },
      rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
      statusList: { publicKey: "station.pub.pem" },
      dataDir,
      tariff: "tariff.yaml",
      journal: { retentionDays: 30 },
    },
    `lane${lane}.yaml`,
    root,
  );
}

/** Lane 4 (an exit lane) stopped with an unsettled suspect of 1425 fen; returns its seq. */
async function lane4WithSuspect(): Promise<number> {
  const j = Journal.open({
    dataDir: dir4,
    laneIdentity: LANE_4,
    utcOffsetMinutes: 480,
    checkpointIntervalMs: 0,
  });
  const s = j.commit({ ...sampleRecord(1, "suspect"), amount: 1425 });
  await j.close();
  return s.seq;
}

function record(seq: number): { kind: string; outcome: string } {
  const r = JournalReader.openReadOnly(dir4);
  try {
    const rec = r.get(seq);
    if (!rec) throw new Error(`no record ${seq}`);
    return { kind: rec.kind, outcome: rec.outcome };
  } finally {
    r.close();
  }
}

const settle =
  (seq: number) =>
  (op: LaneOperator, user: OperatorUser): Promise<OperatorResult> =>
    op.settleSuspect({ seq, verdict: "debited", reason: "bank ticket", proof: { tac: "12ab34cd" } }, user);

/** The E604 a call throws; fails the test when it does not throw one. */
async function identityRefusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isEtcError(e, "E604_JOURNAL_IDENTITY")).toBe(true);
  return (e as Error).message;
}

describe("a maintenance command on a stopped lane with another lane's config", () => {
  it("journal settle with lane 3's (entry) config on lane 4's (exit) data directory is refused, the suspect left as it was", async () => {
    const seq = await lane4WithSuspect();
    const message = await identityRefusal(
      runDirect(directDeps(dir4, laneConfig(3, "entry")), "etc-lane journal settle", settle(seq)),
    );
    expect(message).toContain(`--data-dir ${dir4}`);
    expect(message).toContain("lane 4301-0102-04");
    expect(message).toContain("lane.lane 3");
    expect(record(seq)).toEqual({ kind: "suspect", outcome: "B5_NO_DSRC" });
  });

  it("a config whose own dataDir holds another lane's journal is refused naming dataDir", async () => {
    const seq = await lane4WithSuspect();
    const copied = laneConfig(3, "exit", dir4);
    const message = await identityRefusal(
      runDirect(directDeps(copied.dataDir, copied), "etc-lane journal settle", settle(seq)),
    );
    expect(message).toContain(`dataDir ${dir4}`);
    expect(message).not.toContain("--data-dir");
    expect(record(seq)).toEqual({ kind: "suspect", outcome: "B5_NO_DSRC" });
  });

  it("journal retention --now with another lane's config deletes nothing", async () => {
    const j = Journal.open({
      dataDir: dir4,
      laneIdentity: LANE_4,
      utcOffsetMinutes: 480,
      checkpointIntervalMs: 0,
      now: () => new Date(Date.now() - 100 * 86_400_000),
    });
    const recs = [1, 2, 3].map((i) => j.commit(sampleRecord(i)));
    j.markUploaded(acksOf(...recs));
    await j.close();
    await identityRefusal(
      runDirect(directDeps(dir4, laneConfig(3, "exit")), "etc-lane journal retention --now", (op, u) =>
        op.runRetention(u),
      ),
    );
    const r = JournalReader.openReadOnly(dir4);
    expect(r.list().length).toBe(3);
    r.close();
  });

  it("status-list import with another lane's config is refused before the list is touched", async () => {
    await lane4WithSuspect();
    const applied: string[] = [];
    await identityRefusal(
      importStatusListDirect(dir4, laneConfig(3, "exit"), join(root, "bundle.tar"), async () => {
        applied.push("applied");
        throw new Error("not reached");
      }),
    );
    expect(applied).toEqual([]);
  });

  it("the lane's own config acts: the suspect is settled as an exit debit", async () => {
    const seq = await lane4WithSuspect();
    const own = parseLaneConfig(
      {
        lane: { network: "4301", station: "0102", lane: 4, role: "exit" },
        rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
        statusList: { publicKey: "station.pub.pem" },
        dataDir: dir4,
        tariff: "tariff.yaml",
      },
      "lane4.yaml",
      root,
    );
    const r = await runDirect(directDeps(dir4, own), "etc-lane journal settle", settle(seq));
    expect(r.ok).toBe(true);
    expect(record(seq)).toEqual({ kind: "transaction", outcome: "EXIT_DEBIT_SETTLED" });
    expect(existsSync(auditDir(dir4))).toBe(true);
  });
});
