/**
 * AuditTrail.onAlarmEntry (src/audit/trail.ts): the alarm entries appended while nobody listens (the
 * lane's start, before its status service subscribes: a gap found at open among them) go to the next
 * listener first, in order, and to no later one; live alarms go to every listener; at most HELD_ALARMS_MAX
 * are held, the oldest dropped.
 */
import { readFileSync, truncateSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { type AlarmEntryNote, type AuditTrail, HELD_ALARMS_MAX } from "../../src/audit/trail.js";
import { openTrail, segmentPaths, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
let spool: MemoryAuditSpool;
let trail: AuditTrail;

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  spool = new MemoryAuditSpool();
  trail = openTrail(dir, spool);
});

afterEach(async () => {
  await trail.close();
  cleanup();
});

const alarm = (code: string) => ({
  type: "lane.alarm",
  severity: "alarm" as const,
  message: `alarm ${code}`,
  data: { code },
});

const codes = (notes: AlarmEntryNote[]): string[] => notes.map((n) => n.code);

describe("AuditTrail.onAlarmEntry", () => {
  it("hands the alarms appended before anyone listened (a gap the start found among them) to the first listener, in order, then the live ones to all", async () => {
    for (let i = 0; i < 4; i++) trail.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await trail.close();
    // the file cut back behind the head copy: the start's audit.gap entry, as the start writes it
    const path = segmentPaths(dir)[0]!;
    const lines = readFileSync(path, "utf8").split("\n");
    truncateSync(path, Buffer.byteLength(lines.slice(0, 2).join("\n")) + 1);
    trail = openTrail(dir, spool);
    trail.append(alarm("RSU_DOWN"));
    trail.append({ type: "lane.opened", severity: "info", message: "lane open" });
    const first: AlarmEntryNote[] = [];
    trail.onAlarmEntry((n) => first.push(n));
    expect(codes(first)).toEqual(["AUDIT_GAP", "RSU_DOWN"]);
    expect(first[0]).toMatchObject({ type: "audit.gap" });
    expect(first[0]!.message).toMatch(/^the trail ends at seq 2 but the head copy names seq 5/);

    const second: AlarmEntryNote[] = [];
    trail.onAlarmEntry((n) => second.push(n));
    expect(second).toEqual([]);
    trail.append(alarm("CARD_ON_STATUS_LIST"));
    expect(codes(first)).toEqual(["AUDIT_GAP", "RSU_DOWN", "CARD_ON_STATUS_LIST"]);
    expect(codes(second)).toEqual(["CARD_ON_STATUS_LIST"]);
  });

  it("holds again once every listener has gone", () => {
    const off = trail.onAlarmEntry(() => undefined);
    trail.append(alarm("A"));
    off();
    trail.append(alarm("B"));
    const next: AlarmEntryNote[] = [];
    trail.onAlarmEntry((n) => next.push(n));
    expect(codes(next)).toEqual(["B"]);
  });

  it(`holds at most ${HELD_ALARMS_MAX}, dropping the oldest`, () => {
    for (let i = 0; i < HELD_ALARMS_MAX + 2; i++) trail.append(alarm(`C${i}`));
    const got: AlarmEntryNote[] = [];
    trail.onAlarmEntry((n) => got.push(n));
    expect(got).toHaveLength(HELD_ALARMS_MAX);
    expect(got[0]!.code).toBe("C2");
    expect(got.at(-1)!.code).toBe(`C${HELD_ALARMS_MAX + 1}`);
  });
});
