/**
 * The service's CLI commands as an operator runs them: `etc-lane status`, `lane open|close`,
 * `journal requeue-held|retention --now`, against a lane service running in this process over a fake
 * lane (the commands run as child processes), and the direct path on a data directory without a lane.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditDir, openJournalTrail, readTrail } from "../../src/audit/index.js";
import { settleRequest } from "../../src/cli/commands/journal.js";
import { type DirectLaneDeps, directDeps } from "../../src/cli/direct-session.js";
import { locateLane } from "../../src/cli/lane-locate.js";
import { importStatusListThroughLane } from "../../src/cli/status-list-via-lane.js";
import { runDirect } from "../../src/cli/stopped-lane-operator.js";
import { displayWidth } from "../../src/cli/text-table.js";
import { acquireDataDirLock } from "../../src/datadir/lock.js";
import { Journal, JournalReader } from "../../src/journal/journal.js";
import type { LaneSnapshot } from "../../src/service/lane-view.js";
import { runCli } from "../helpers/cli.js";
import { acksOf } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { type Rig, startRig } from "./harness.js";

/** A lane config naming `dataDir` (the commands read its lane, dataDir and journal settings). */
const laneYaml = (dataDir: string, ...more: string[]): string =>
  [
    'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
    "rsu: { port: /dev/null, protocol: legacy }",
    "statusList: { publicKey: key.pem }",
    `dataDir: ${dataDir}`,
    "tariff: tariff.yaml",
    ...more,
    "",
  ].join("\n");

let rig: Rig;
let empty: string;
beforeAll(async () => {
  rig = await startRig();
  empty = mkdtempSync(join(tmpdir(), "etc-nolane-"));
});
afterAll(async () => {
  await rig.close();
  rmSync(empty, { recursive: true, force: true, maxRetries: 5 });
});

describe("etc-lane status", () => {
  it("prints the running lane's state for a person: aligned, local time, card numbers masked", async () => {
    rig.lane.pass({ plate: "湘A12345", cardId: "43010000000000009001", amount: 1250 });
    rig.lane.pass({
      plate: "ABC123",
      cardId: "43010000000000009002",
      kind: "stop",
      outcome: "CARD_ON_STATUS_LIST",
    });
    const r = await runCli("etc-lane", ["status", "--data-dir", rig.dataDir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Lane 4301-0102-03 (exit)");
    expect(r.stdout).toContain("OPEN 开放");
    expect(r.stdout).toContain("UTC+08:00");
    // T0 is 2026-11-26 00:00 UTC: shown as 08:00 in the lane's +08:00
    expect(r.stdout).toMatch(/etc-lane status at 2026-11-26 08:00:00/);
    expect(r.stdout).toContain("4301************9001");
    expect(r.stdout).not.toContain("43010000000000009001");
    expect(r.stdout).toContain("B5_MISSING"); // the booth queue
    // the booth at work: the collector's screen, what it did, the last transaction's time
    expect(r.stdout).toMatch(
      /Booth\s+READY 请放卡\s+7 paid, 1 refused, 1 recovered, 0 cancelled; last 51\.2\d* ms/,
    );
    // the transaction rows' columns line up although one plate is Chinese (two columns per character)
    const lines = r.stdout.split("\n");
    const a = lines.find((l) => l.includes("湘A12345") && l.includes("EXIT_DEBIT")) as string;
    const b = lines.find((l) => l.includes("ABC123")) as string;
    const col = (l: string, s: string): number => displayWidth(l.slice(0, l.indexOf(s)));
    expect(col(a, "ms")).toBe(col(b, "ms"));
    expect(col(a, "4301*")).toBe(col(b, "4301*"));
  });

  // session 30 review: --json printed every card number in full, while booth list --json masks them
  it("--json is the snapshot, card numbers masked; --full-ids shows them, in the text and in --json", async () => {
    rig.lane.pass({ plate: "湘A12345", cardId: "43010000000000009001", amount: 1250 });
    const j = await runCli("etc-lane", ["status", "--json", "--data-dir", rig.dataDir]);
    expect(j.code).toBe(0);
    const snap = JSON.parse(j.stdout) as LaneSnapshot;
    expect(snap.lane).toEqual(rig.lane.snapshot().lane);
    expect(snap.lastTransactions.map((t) => t.seq)).toEqual(
      rig.lane.snapshot().lastTransactions.map((t) => t.seq),
    );
    expect(snap.lastTransactions[0]!.cardId).toBe("4301************9001");
    expect(j.stdout).not.toContain("43010000000000009001");
    const fj = await runCli("etc-lane", ["status", "--json", "--full-ids", "--data-dir", rig.dataDir]);
    expect(fj.code).toBe(0);
    expect((JSON.parse(fj.stdout) as LaneSnapshot).lastTransactions[0]!.cardId).toBe("43010000000000009001");
    const f = await runCli("etc-lane", ["status", "--full-ids", "--data-dir", rig.dataDir]);
    expect(f.stdout).toContain("43010000000000009001");
  });

  it("finds the lane by its config file, and says so and exits 3 when no lane runs", async () => {
    const cfg = join(empty, "lane.yaml");
    writeFileSync(cfg, laneYaml(rig.dataDir));
    const viaConfig = await runCli("etc-lane", ["status", "--config", cfg]);
    expect(viaConfig.code).toBe(0);
    expect(viaConfig.stdout).toContain("Lane 4301-0102-03");
    const viaEnv = await runCli("etc-lane", ["status", "--json"], { env: { ETC_LANE_CONFIG: cfg } });
    expect(viaEnv.code).toBe(0);
    const none = await runCli("etc-lane", ["status", "--data-dir", empty]);
    expect(none.code).toBe(3);
    expect(none.stdout).toContain(`lane not running: nothing answers on ${join(empty, "control.sock")}`);
  });
});

describe("etc-lane lane open|close and journal actions through the running lane", () => {
  it("closes and opens the lane, each action recorded with the user who asked", async () => {
    const me = userInfo();
    const before = rig.audit.entries.length;
    const c = await runCli("etc-lane", [
      "lane",
      "close",
      "--reason",
      "barrier maintenance",
      "--data-dir",
      rig.dataDir,
    ]);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain("lane closed [lane]");
    expect(rig.lane.snapshot().state.status).toBe("closed");
    const o = await runCli("etc-lane", ["lane", "open", "--json", "--data-dir", rig.dataDir]);
    expect(o.code).toBe(0);
    expect(JSON.parse(o.stdout)).toMatchObject({ via: "lane", ok: true });
    const added = rig.audit.entries.slice(before);
    expect(added.map((e) => e.type)).toEqual(["operator.lane.close", "operator.lane.open"]);
    expect(added[0]?.data).toMatchObject({
      user: me.username,
      uid: me.uid,
      via: "socket",
      reason: "barrier maintenance",
    });
  });

  it("requeues held records and runs retention through the lane", async () => {
    const q = await runCli("etc-lane", ["journal", "requeue-held", "--data-dir", rig.dataDir]);
    expect(q.code).toBe(0);
    expect(q.stdout).toContain("2 held records requeued [lane]");
    const r = await runCli("etc-lane", ["journal", "retention", "--now", "--data-dir", rig.dataDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("retention: 0 records deleted [lane]");
    const n = await runCli("etc-lane", ["journal", "retention", "--data-dir", rig.dataDir]);
    expect(n.code).toBe(1);
    expect(n.stderr).toContain("give --now");
  });

  it("settles a suspect by hand through the lane; a malformed request is refused before it is sent", async () => {
    const args = ["journal", "settle", "7", "--debited", "--tac", "12AB34CD", "--reason", "ticket 4711"];
    const r = await runCli("etc-lane", [...args, "--data-dir", rig.dataDir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("suspect 7 settled [lane]");
    expect(rig.operator.calls.at(-1)).toMatchObject({
      action: "journal.settle",
      args: { seq: 7, verdict: "debited", reason: "ticket 4711", proof: { tac: "12AB34CD" } },
    });
    // what is wrong with the arguments is said before anything is sent (settleRequest, in process)
    const calls = rig.operator.calls.length;
    const b = await runCli("etc-lane", [
      "journal",
      "settle",
      "7",
      "--reason",
      "x",
      "--data-dir",
      rig.dataDir,
    ]);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain("give exactly one of --debited");
    expect(rig.operator.calls.length).toBe(calls);
    const refusal = (seq: string, o: Parameters<typeof settleRequest>[1]): string => {
      try {
        settleRequest(seq, o);
        return "accepted";
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(refusal("7", { debited: true, notDebited: true, reason: "x" })).toContain(
      "give exactly one of --debited",
    );
    expect(refusal("7", { notDebited: true })).toContain("give --reason TEXT");
    expect(refusal("7x", { notDebited: true, reason: "x" })).toContain(
      'SEQ must be the suspect\'s journal sequence number (a whole number >= 1), got "7x"',
    );
    expect(settleRequest("7", { notDebited: true, reason: "x", tac: "1" })).toEqual({
      seq: 7,
      verdict: "not-debited",
      reason: "x",
      proof: { tac: "1" }, // the lane refuses proof with --not-debited (src/lane/operator-settlement.ts)
    });
  });

  it("a close needs a reason; open/close where no lane runs nor has run say so and exit 1", async () => {
    const noReason = await runCli("etc-lane", ["lane", "close", "--data-dir", rig.dataDir]);
    expect(noReason.code).not.toBe(0);
    expect(noReason.stderr).toContain("--reason");
    const off = await runCli("etc-lane", ["lane", "close", "--reason", "x", "--data-dir", empty]);
    expect(off.code).toBe(1);
    expect(off.stderr).toContain(`no lane is running on ${empty}, and none has run there (no journal.db)`);
  });

  it("imports a status-list bundle through the lane, with progress, and reports when no lane runs", async () => {
    const seen: string[] = [];
    const out = await importStatusListThroughLane(locateLane({ dataDir: rig.dataDir }), "delta.bundle", {
      onProgress: (p) => seen.push(p.phase),
    });
    expect(out).toMatchObject({ via: "lane", result: { ok: true, data: { version: "202611260800" } } });
    expect(seen).toEqual(["verify", "apply"]);
    const call = rig.operator.calls.at(-1);
    expect(call?.action).toBe("status-list.import");
    expect(call?.args.file).toBe(join(process.cwd(), "delta.bundle"));
    expect(await importStatusListThroughLane(locateLane({ dataDir: empty }), "x.bundle")).toBeNull();
  });
});

describe("operator actions without a running lane (the data directory, under its lock)", () => {
  function journalWithHeld(dir: string, held: number): void {
    const j = Journal.open({
      dataDir: dir,
      laneIdentity: { network: "4301", station: "0102", lane: 3 },
      checkpointIntervalMs: 0,
      utcOffsetMinutes: 480,
    });
    const recs = [0, 1, 2].map((i) => j.commit(sampleRecord(i)));
    j.hold(
      recs.slice(0, held).map((r) => ({ tradeId: r.tradeId, code: "E_REFUSED", message: "bad record" })),
    );
    j.close();
  }

  it("requeues held records under the lock and records the action (via direct)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-direct-"));
    journalWithHeld(dir, 2);
    const events: string[] = [];
    const deps: DirectLaneDeps = {
      dataDir: dir,
      config: null,
      lock: async (command) => {
        events.push(`lock ${command}`);
        return { release: () => events.push("release") };
      },
      open: () => {
        events.push("journal and trail");
        const session = directDeps(dir).open();
        return {
          ...session,
          close: async () => {
            await session.close();
            events.push("closed");
          },
        };
      },
    };
    const r = await runDirect(deps, "etc-lane journal requeue-held", (op, user) => op.requeueHeld(user));
    expect(r).toMatchObject({ ok: true, data: { requeued: 2 } });
    expect(events).toEqual(["lock etc-lane journal requeue-held", "journal and trail", "closed", "release"]);
    const lines = [...readTrail(auditDir(dir))].map((x) => x.entry);
    const rec = lines.find((e) => e.type === "operator.journal.requeue-held");
    expect(rec?.data).toMatchObject({
      user: userInfo().username,
      via: "direct",
      ok: true,
      details: { requeued: 2 },
    });
    const j = Journal.open({
      dataDir: dir,
      laneIdentity: { network: "4301", station: "0102", lane: 3 },
      checkpointIntervalMs: 0,
      utcOffsetMinutes: 480,
    });
    expect(j.heldCount()).toBe(0);
    j.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("journal retention --now end to end: the CLI takes the real lock, deletes what is due, records it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-direct-retention-"));
    try {
      const dataDir = join(dir, "data");
      const t = new Date(Date.UTC(2020, 0, 1)); // years before any retention period
      const j = Journal.open({
        dataDir,
        laneIdentity: { network: "4301", station: "0102", lane: 3 },
        checkpointIntervalMs: 0,
        utcOffsetMinutes: 480,
        now: () => t,
      });
      const acked = [1, 2].map((i) => j.commit(sampleRecord(i)));
      j.markUploaded(acksOf(...acked), t);
      j.commit(sampleRecord(3)); // as old, but the station never acknowledged it: kept
      j.close();
      const cfg = join(dir, "lane.yaml");
      writeFileSync(cfg, laneYaml(dataDir, "journal: { retentionDays: 30 }"));
      const args = ["journal", "retention", "--now", "--config", cfg];
      // while another holder has the data directory: refused, naming it, nothing deleted
      const held = acquireDataDirLock(dataDir, { role: "cli", command: "a test holding the lock" });
      const busy = await runCli("etc-lane", args).finally(() => held.release());
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/in use by .*a test holding the lock/);
      const r = await runCli("etc-lane", args);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        /^journal retention: 2 acknowledged record\(s\) older than \S+ deleted; audit retention not run: without a running lane only the journal's runs \(the lane runs the trail's every hour\) \[data directory \(no lane running\)\]\n$/,
      );
      const reader = JournalReader.openReadOnly(dataDir);
      expect(reader.list().map((x) => x.seq)).toEqual([3]);
      reader.close();
      const trail = [...readTrail(auditDir(dataDir))].map((x) => x.entry);
      expect(trail.filter((e) => e.type === "operator.journal.retention").map((e) => e.data)).toEqual([
        expect.objectContaining({
          user: userInfo().username,
          via: "direct",
          ok: true,
          details: expect.objectContaining({ deleted: 2 }),
        }),
      ]);
      expect(trail.filter((e) => e.type === "journal.retention")).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  it("journal settle end to end without a lane: needs the lane's config, settles, records the action", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-direct-settle-"));
    try {
      const dataDir = join(dir, "data");
      const lane = { network: "4301", station: "0102", lane: 3 };
      const j = Journal.open({ dataDir, laneIdentity: lane, checkpointIntervalMs: 0, utcOffsetMinutes: 480 });
      const trail = openJournalTrail(j, {
        dataDir,
        lane,
        utcOffsetMinutes: 480,
        retentionCheckMs: 0,
        witness: false,
      });
      const s = j.commit({ ...sampleRecord(1, "suspect"), outcome: "B5_MISSING", psamTransSerial: null });
      await trail.close();
      j.close();
      const cfg = join(dir, "lane.yaml");
      writeFileSync(cfg, laneYaml(dataDir));
      const args = ["journal", "settle", String(s.seq), "--not-debited", "--reason", "bank: no debit"];
      // without the config the role (entry write or exit debit) is unknown: refused, nothing changed
      const noCfg = await runCli("etc-lane", [...args, "--data-dir", dataDir]);
      expect(noCfg.code).toBe(1);
      expect(noCfg.stderr).toContain("give --config FILE");
      const r = await runCli("etc-lane", [...args, "--config", cfg, "--json"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        via: "direct",
        ok: true,
        data: { seq: s.seq, kind: "stop", outcome: "SUSPECT_NOT_DEBITED", amount: 0, revision: 2 },
      });
      const reader = JournalReader.openReadOnly(dataDir);
      expect(reader.list().map((x) => [x.kind, x.outcome, x.revision])).toEqual([
        ["stop", "SUSPECT_NOT_DEBITED", 2],
      ]);
      reader.close();
      const ops = [...readTrail(auditDir(dataDir))]
        .map((x) => x.entry)
        .filter((e) => e.type === "operator.journal.settle");
      expect(ops.map((e) => [e.severity, e.data?.ok, e.data?.via, e.data?.verdict])).toEqual([
        ["warn", false, "direct", "not-debited"],
        ["warn", true, "direct", "not-debited"],
      ]);
      // the trail, with the settlement's record entry and the actions, verifies
      const v = await runCli("etc-lane", ["audit", "verify", "--data-dir", dataDir]);
      expect(v.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  it("does nothing when the data directory is locked (a lane starting, another command)", async () => {
    const events: string[] = [];
    const busy: DirectLaneDeps = {
      dataDir: empty,
      config: null,
      lock: async () => {
        throw Object.assign(new Error("the data directory is in use by etc-lane (pid 1234)"), {
          code: "E410_DATA_DIR_IN_USE",
        });
      },
      open: () => {
        events.push("journal and trail");
        throw new Error("must not open");
      },
    };
    await expect(
      runDirect(busy, "etc-lane journal retention --now", (op, u) => op.runRetention(u)),
    ).rejects.toThrow(/in use by etc-lane/);
    expect(events).toEqual([]);
  });
});
