/**
 * The trail's own alarm entries (src/audit/recovery.ts, src/audit/trail.ts; their codes in
 * src/audit/alarm-codes.ts) carry their alarm's code in their data, so `etc-lane audit search --reason
 * AUDIT_GAP` finds them (toRow in src/audit/search.ts); an entry written before they did is found by its
 * type's code.
 */
import { readFileSync, truncateSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toRow } from "../../src/audit/search.js";
import {
  entries,
  forgeAppend,
  openBoundTrail,
  runEtcLane,
  segmentPaths,
  seqsOf,
  tempDir,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

describe("audit search --reason for the trail's own alarms", () => {
  it("finds the audit.gap entry the start wrote with its AUDIT_GAP alarm, which names its code", async () => {
    const a = openBoundTrail(dir);
    for (let i = 0; i < 6; i++)
      a.trail.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await a.close();
    // the file cut back at a line boundary, behind the head copy: the next start records a gap
    const path = segmentPaths(dir)[0]!;
    const lines = readFileSync(path, "utf8").split("\n");
    truncateSync(path, Buffer.byteLength(lines.slice(0, 4).join("\n")) + 1);
    const alarms: string[] = [];
    const b = openBoundTrail(dir, { onAlarm: (c) => alarms.push(c) });
    await b.close();
    expect(alarms).toContain("AUDIT_GAP");
    const gap = entries(dir).find((e) => e.type === "audit.gap");
    expect(gap?.data).toMatchObject({ code: "AUDIT_GAP" });

    const r = await runEtcLane(["audit", "search", "--data-dir", dir, "--reason", "AUDIT_GAP", "--json"]);
    expect(r.code).toBe(0);
    expect(seqsOf(r.out)).toEqual([gap!.seq]);
  });

  it("finds an alarm entry written before these entries carried their code, by its type's code", async () => {
    const a = openBoundTrail(dir);
    a.trail.append({ type: "test.event", severity: "info", message: "event" });
    await a.close();
    // the shape an older lane wrote: no code in the data
    const old = forgeAppend(dir, {
      type: "audit.damaged",
      severity: "alarm",
      message: "the last 1 line(s) of audit-000000000001.log do not check",
      data: { file: "audit-000000000001.log", lines: 1 },
    });
    const r = await runEtcLane(["audit", "search", "--data-dir", dir, "--reason", "AUDIT_DAMAGED", "--json"]);
    expect(r.code).toBe(0);
    expect(seqsOf(r.out)).toEqual([old.seq]);
  });

  it("gives each of the trail's alarm types its code as the row's reason when the data has none", () => {
    const base = { seq: 1, time: "", utc: "", severity: "alarm" as const, message: "", prev: "", hash: "" };
    const types = [
      "audit.gap",
      "audit.journal-gap",
      "audit.rollback",
      "audit.damaged",
      "audit.head-mismatch",
      "audit.journal-behind",
    ];
    expect(types.map((type) => toRow({ ...base, type, data: {} }).reason)).toEqual([
      "AUDIT_GAP",
      "AUDIT_GAP",
      "AUDIT_ROLLBACK",
      "AUDIT_DAMAGED",
      "AUDIT_HEAD_MISMATCH",
      "AUDIT_JOURNAL_BEHIND",
    ]);
    // any other event without a code or reason has none
    expect(toRow({ ...base, type: "audit.torn-tail", data: {} }).reason).toBeNull();
  });
});
