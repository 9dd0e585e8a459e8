/**
 * Going on with a journal.db found behind the audit trail (docs/journal.md, "A journal behind the audit
 * trail"): what it keeps from the trail is resolved by an operator, not held for ever. A suspect the file
 * lacks is settled by hand (`etc-lane journal settle`) through the running lane and on the stopped lane's
 * data directory, from its record rebuilt from the trail's entry (src/journal/rebuilt-suspect.ts): the
 * settlement becomes its row at the next revision, queued for the station, bound to a `record.settle`
 * entry, and the card and OBU are no longer held. A debit intent the file held is resolved on the stopped
 * lane (`etc-lane journal resolve-intent`): deleted, or handed back to the lane's recovery.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerJournal } from "../../src/cli/commands/journal.js";
import { directDeps } from "../../src/cli/direct-session.js";
import { resolveKeptIntentDirect } from "../../src/cli/kept-intent.js";
import { runDirect } from "../../src/cli/stopped-lane-operator.js";
import { DAMAGED_FILE } from "../../src/journal/journal.js";
import type { NewLaneRecord } from "../../src/journal/types.js";
import type { OperatorSettleRequest } from "../../src/lane/operator-settlement.js";
import { captureOutput } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";
import { boothIntentPayload } from "../lane/controller-fakes.js";
import {
  copyJournal,
  entries,
  exitLaneConfig,
  openBoundTrail,
  openExitLane,
  tempDir,
  verifyLane,
} from "./helpers.js";

let dir: string;
let data: string;
let cleanup: () => void;
let backup: { dir: string; cleanup: () => void };

beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-behind-resolve-"));
  data = join(dir, "data");
  mkdirSync(data);
  backup = tempDir("etc-audit-behind-resolve-backup-");
});

afterEach(() => {
  cleanup();
  backup.cleanup();
});

const config = () => exitLaneConfig(dir, data);

/** A suspect of 15.30 yuan whose card and OBU are those of sampleRecord(i). */
const suspect = (i: number): NewLaneRecord => ({ ...sampleRecord(i, "suspect"), amount: 1530 });

/**
 * Records 1-2, a backup, then record 3 after it, the backup put back, refused once, and the operator goes
 * on with it (the note deleted). Record 3 is an unsettled suspect; or, with `intent`, a booth intent of
 * that card is written before the backup and record 3 is its paid record (`resolvedAfter`) or a record of
 * another vehicle (the intent left open).
 */
async function wentOnBehind(
  o: { intent?: string; resolvedAfter?: boolean } = {},
): Promise<{ intentId?: number }> {
  const payload = o.intent ? boothIntentPayload(o.intent, null, "a1b2c3d4") : "";
  let l = openBoundTrail(data);
  l.journal.commit(sampleRecord(1));
  l.journal.commit(sampleRecord(2));
  const intentId = o.intent ? l.journal.writeIntent(`booth:${o.intent}`, payload) : undefined;
  await l.close();
  copyJournal(data, backup.dir);
  l = openBoundTrail(data);
  if (intentId === undefined) l.journal.commit(suspect(3));
  else if (o.resolvedAfter) l.journal.commit(JSON.parse(payload).paid, { intentId });
  else l.journal.commit(sampleRecord(3));
  await l.close();
  copyJournal(backup.dir, data);
  await openBoundTrail(data).close(); // refused: the note written
  rmSync(join(data, DAMAGED_FILE));
  return intentId === undefined ? {} : { intentId };
}

const USER = { name: "wang", uid: 1000, pid: 1, via: "direct" as const };

describe("a suspect journal.db lacks, kept from the audit trail, settled by hand", () => {
  it("on the stopped lane: --not-debited makes its row a stop at revision 2, queued for the station, and its card and OBU are no longer held", async () => {
    await wentOnBehind();
    const s3 = suspect(3);
    let l = openBoundTrail(data);
    expect(l.journal.openSuspectOf({ cardId: s3.cardId })).toBe(3);
    await l.close();

    const req: OperatorSettleRequest = { seq: 3, verdict: "not-debited", reason: "station log: no debit" };
    const r = await runDirect(directDeps(data, config()), "etc-lane journal settle", (op, user) =>
      op.settleSuspect(req, user),
    );
    expect(r).toMatchObject({ ok: true, data: { seq: 3, kind: "stop", revision: 2 } });
    expect(r.message).toMatch(/^suspect 3 \(\w{30}\) settled as stop SUSPECT_NOT_DEBITED/);

    l = openBoundTrail(data);
    try {
      expect(l.journal.openSuspectOf({ cardId: s3.cardId })).toBeNull();
      expect(l.journal.openSuspectOf({ obuSerial: s3.obuSerial })).toBeNull();
      const row = l.journal.get(3)!;
      const commit = entries(data).find(
        (e) => e.type === "record.commit" && (e.data as { rec: { jseq: number } }).rec.jseq === 3,
      )!;
      const rec = (commit.data as { rec: { tradeId: string; digest: string } }).rec;
      expect(row).toMatchObject({
        seq: 3,
        tradeId: rec.tradeId,
        kind: "stop",
        outcome: "SUSPECT_NOT_DEBITED",
        amount: 0,
        revision: 2,
        cardId: s3.cardId,
        obuSerial: s3.obuSerial,
        plate: s3.plate,
        uploadedAt: null,
        extra: {
          rebuiltFromTrail: { revision: 1, digest: rec.digest },
          settlement: {
            settledBy: "operator",
            previous: { kind: "suspect", outcome: "B5_NO_DSRC", amount: 1530, revision: 1 },
            evidence: { verdict: "not-debited", reason: "station log: no debit", via: "direct" },
          },
        },
      });
      // the station gets it: queued, the same trade id at the next revision
      expect(l.journal.pending(10).map((p) => [p.seq, p.revision])).toContainEqual([3, 2]);
      // a second settlement is refused: it is a stop now
      expect(() =>
        l.journal.settle(3, {
          kind: "stop",
          outcome: "SUSPECT_NOT_DEBITED",
          settledBy: "operator",
          fields: {},
        }),
      ).toThrow(
        /record 3 \(\w+\) is a stop \(SUSPECT_NOT_DEBITED\), not an unsettled suspect: settled by operator/,
      );
    } finally {
      await l.close();
    }
    const all = entries(data);
    expect(
      all.filter((e) => e.type === "record.settle").map((e) => (e.data as { rec: unknown }).rec),
    ).toEqual([expect.objectContaining({ jseq: 3, revision: 2 })]);
    expect(all.find((e) => e.type === "operator.journal.settle")?.data).toMatchObject({
      seq: 3,
      verdict: "not-debited",
      ok: true,
      via: "direct",
    });
    // the record is back in journal.db, bound to its settle entry: verify no longer names it deleted
    const problems = verifyLane(data).problems.map((p) => p.what);
    expect(problems).toEqual([
      expect.stringMatching(
        /^the lane recorded: journal behind the audit trail: journal\.db's last record is seq 2/,
      ),
    ]);
    expect(problems.filter((p) => /committed again|comes after|was added|digest/.test(p))).toEqual([]);
  });

  it("through the running lane: --debited needs every clearing field (the suspect's own are lost with the file), then records the transaction and releases the card", async () => {
    await wentOnBehind();
    const s3 = suspect(3);
    const lane = await openExitLane(config());
    try {
      await lane.controller.start();
      expect(lane.journal.openSuspectOf({ cardId: s3.cardId })).toBe(3);
      const bare = await lane.controller.settleSuspect(
        { seq: 3, verdict: "debited", reason: "bank statement", proof: { tac: "1a2b3c4d" } },
        USER,
      );
      expect(bare).toEqual({
        ok: false,
        message:
          "suspect 3 not settled: a debit is recorded with what clearing needs; give --icc-pay-serial, --psam-no, --psam-trans-serial, --trans-time",
      });
      expect(lane.journal.openSuspectOf({ cardId: s3.cardId })).toBe(3);
      const r = await lane.controller.settleSuspect(
        {
          seq: 3,
          verdict: "debited",
          reason: "bank statement",
          proof: {
            tac: "1a2b3c4d",
            iccPaySerial: "0003",
            psamNo: "430101000001",
            psamTransSerial: "00000103",
            transTime: "20261123185914",
          },
        },
        USER,
      );
      expect(r).toMatchObject({
        ok: true,
        data: {
          seq: 3,
          kind: "transaction",
          outcome: "EXIT_DEBIT_SETTLED",
          amount: 1530,
          revision: 2,
          stillHeld: false,
        },
      });
      expect(lane.journal.openSuspectOf({ cardId: s3.cardId })).toBeNull();
      expect(lane.journal.get(3)).toMatchObject({
        kind: "transaction",
        tac: "1a2b3c4d",
        amount: 1530,
        revision: 2,
      });
    } finally {
      await lane.close();
    }
  });
});

describe("a debit intent journal.db held when found behind the audit trail, resolved on the stopped lane", () => {
  const CARD = "43011234567890123456";

  it("--resolved deletes it: nothing recorded, its card no longer held", async () => {
    const { intentId } = await wentOnBehind({ intent: CARD, resolvedAfter: true });
    let l = openBoundTrail(data);
    const last = l.journal.lastSeq();
    expect(l.journal.openIntents()).toEqual([
      expect.objectContaining({ id: intentId, keptBehindTrail: true }),
    ]);
    await l.close();

    const r = await resolveKeptIntentDirect(directDeps(data, config()), {
      id: intentId!,
      how: "resolved",
      reason: "paid record 3 in the trail",
    });
    expect(r).toMatchObject({ ok: true, data: { id: intentId, how: "resolved" } });
    l = openBoundTrail(data);
    try {
      expect(l.journal.openIntents()).toEqual([]);
      expect(l.journal.openIntentOf({ cardId: CARD })).toBeNull();
      expect(l.journal.lastSeq()).toBe(last);
    } finally {
      await l.close();
    }
    expect(entries(data).find((e) => e.type === "operator.journal.resolve-intent")?.data).toMatchObject({
      id: intentId,
      how: "resolved",
      reason: "paid record 3 in the trail",
      ok: true,
      via: "direct",
    });
  });

  it("--recover hands it back to the lane's recovery (no longer kept); an id that is not a kept intent is refused, nothing changed", async () => {
    const { intentId } = await wentOnBehind({ intent: CARD });
    const wrong = await resolveKeptIntentDirect(directDeps(data, config()), {
      id: intentId! + 1,
      how: "resolved",
      reason: "typo",
    });
    expect(wrong.ok).toBe(false);
    expect(wrong.message).toContain(`debit intent ${intentId! + 1} not resolved: there is no open intent`);
    expect(wrong.message).toContain(`(kept: ${intentId})`);

    const r = await resolveKeptIntentDirect(directDeps(data, config()), {
      id: intentId!,
      how: "recover",
      reason: "no record of this card in the trail",
    });
    expect(r.ok).toBe(true);
    const l = openBoundTrail(data);
    const last = l.journal.lastSeq();
    try {
      expect(l.journal.openIntents()).toEqual([expect.objectContaining({ id: intentId })]);
      expect(l.journal.openIntents()[0]!.keptBehindTrail).toBeUndefined();
      // still open until the lane recovers it: its card held meanwhile
      expect(l.journal.openIntentOf({ cardId: CARD })).toBe(intentId);
    } finally {
      await l.close();
    }
    // the lane's next start (no booth) records it once, as any open booth intent: its paid record
    const lane = await openExitLane(config());
    try {
      await lane.controller.start();
      await lane.controller.idle();
      expect(lane.journal.openIntents()).toEqual([]);
      expect(lane.journal.lastSeq()).toBe(last + 1);
      expect(lane.journal.get(last + 1)).toMatchObject({
        kind: "transaction",
        cardId: CARD,
        tac: "a1b2c3d4",
      });
    } finally {
      await lane.close();
    }
  });
  // session 30 review: the result named the intent's key, booth:<card id>, in full, with no --full-ids
  it.each([
    [[], false],
    [["--json"], false],
    [["--full-ids"], true],
    [["--json", "--full-ids"], true],
  ])("the CLI's result %j names its card masked unless --full-ids", async (extra, full) => {
    const { intentId } = await wentOnBehind({ intent: CARD, resolvedAfter: true });
    const io = captureOutput();
    const program = new Command("etc-lane").exitOverride();
    registerJournal(program);
    const args = ["journal", "resolve-intent", String(intentId), "--resolved", "--reason", "paid record 3"];
    try {
      await program.parseAsync(["node", "etc-lane", ...args, "--data-dir", data, ...extra]);
    } finally {
      io.restore();
    }
    expect(io.err).toBe("");
    expect(io.out).toContain(`booth:${full ? CARD : "4301************3456"}`);
    expect(io.out.includes(CARD)).toBe(full);
  });
});
