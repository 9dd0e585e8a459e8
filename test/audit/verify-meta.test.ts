/**
 * What `audit verify` reads of journal.db's meta (the head copy, the station's last word) is checked as
 * data, never trusted (src/audit/verify-guards.ts readSpoolMeta), and everything it prints for a terminal
 * goes through terminalSafe: someone who can write the data directory can put control sequences into
 * those values and into entries of the unsealed tail, and one (ESC[8m) would hide the FAILED line.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AuditEntry, buildLine } from "../../src/audit/entry.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { sampleRecord } from "../journal/sample-record.js";
import { openBoundTrail, runEtcLane, segmentPaths, tempDir, verifyLane } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-meta-"));
});
afterEach(() => cleanup());

const whats = (r: { problems: { what: string }[] }): string[] => r.problems.map((p) => p.what);

function sql(dataDir: string, ...stmts: [string, ...unknown[]][]): void {
  const db = new Database(join(dataDir, JOURNAL_FILE));
  try {
    for (const [s, ...params] of stmts) db.prepare(s).run(...params);
  } finally {
    db.close();
  }
}

describe("journal.db's meta values and what verify prints", () => {
  it("a witness record that is not the lane's fails, named by its key; no control character reaches the terminal", async () => {
    const lane = openBoundTrail(dir, { witness: false });
    lane.journal.commit(sampleRecord(1));
    lane.journal.commit(sampleRecord(2));
    await lane.close();
    sql(dir, ["DELETE FROM records WHERE seq = 2"]); // a change verify sees
    const n = "1\njournal: 2 row(s) checked against 2 record entries\nOK: the trail is intact\n\u001b[8m";
    const w = {
      state: "acknowledged",
      n,
      to: 1,
      head: "0".repeat(64),
      hash: "0".repeat(64),
      at: new Date().toISOString(),
    };
    sql(dir, ["INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_witness', ?)", JSON.stringify(w)]);
    expect(whats(verifyLane(dir))).toContain(
      "meta.audit_witness (the station's last word) is malformed: n is not a whole number from 1; the lane never writes it so, it was changed",
    );
    const r = await runEtcLane(["audit", "verify", "--data-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(r.out).not.toContain("OK: the trail is intact");
    expect(r.out).toMatch(/\nFAILED/);
  });

  it("a head copy that is not the lane's, or not JSON, fails named by its key", async () => {
    const lane = openBoundTrail(dir, { witness: false });
    lane.journal.commit(sampleRecord(1));
    await lane.close();
    sql(dir, ["UPDATE meta SET value = ? WHERE key = 'audit_head'", JSON.stringify({ seq: "3", hash: "x" })]);
    expect(whats(verifyLane(dir))).toContain(
      "meta.audit_head (the head copy) is malformed: seq is not a whole number; the lane never writes it so, it was changed",
    );
    sql(dir, ["UPDATE meta SET value = '{' WHERE key = 'audit_head'"]);
    expect(whats(verifyLane(dir))).toEqual([
      expect.stringMatching(/^meta\.audit_head \(the head copy\) cannot be read: .*; it was changed$/),
    ]);
  });

  it("an entry's message is printed with its control characters escaped", async () => {
    const lane = openBoundTrail(dir, { witness: false });
    lane.journal.commit(sampleRecord(1));
    await lane.trail.flush();
    // a chain-valid entry appended without the key: the lane recorded an incident, says its message
    const [file] = segmentPaths(dir);
    const lines = readFileSync(file!, "utf8").trimEnd().split("\n");
    const last = JSON.parse(lines.at(-1)!) as AuditEntry;
    const b = buildLine(
      last.seq + 1,
      last.time,
      last.utc,
      { type: "audit.damaged", severity: "alarm", message: "x\u001b[8mhidden" },
      last.hash,
    );
    writeFileSync(file!, `${lines.join("\n")}\n${b.line}`);
    sql(dir, [
      "UPDATE meta SET value = ? WHERE key = 'audit_head'",
      JSON.stringify({ seq: b.seq, hash: b.hash }),
    ]);
    const r = await runEtcLane(["audit", "verify", "--data-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `FAILED at seq ${b.seq}, audit-000000000001.log line ${b.seq}: the lane recorded: x\\x1b[8mhidden`,
    );
    expect(r.out).not.toContain("\u001b");
    await lane.close();
  });
});
