/**
 * entriesNotInFiles (src/audit/trail-not-in-files.ts): the trail's newest entries not yet in its files, for
 * `etc-lane audit search|export|tail`, and why none are shown when the next start would not append them.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { entriesNotInFiles } from "../../src/audit/trail-not-in-files.js";
import { entries, openBoundTrail, segmentPaths, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-not-in-files-"));
});
afterEach(() => cleanup());

describe("entriesNotInFiles beside a running lane", () => {
  // review (session 32, second round): the files were read up to seq L; meanwhile the lane wrote and
  // fsynced L+1..L+2 (which left the spool), then spooled L+3 (the head copy), whose line is not in the
  // file yet. The journal's snapshot then held nothing that follows on from L, and the files' last line
  // (L+2) did not reach the head copy: "the trail's files end at seq L ... does not reach its head copy"
  // was printed, though the files already went past L and nothing was wrong
  it("says nothing when the files grew past the entry they were read up to", async () => {
    const data = join(dir, "data");
    const lane = openBoundTrail(data, { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
    try {
      lane.trail.events.alarm("STATUS_LIST_STALE", "first");
      await lane.trail.flush();
      const last = entries(data).at(-1)!; // the files as the command read them: up to L
      lane.trail.events.alarm("STATUS_LIST_STALE", "second"); // L+1
      lane.trail.events.alarm("STATUS_LIST_STALE", "third"); // L+2
      await lane.trail.flush(); // in the files, fsynced: no longer in the spool
      lane.trail.events.alarm("STATUS_LIST_STALE", "fourth"); // L+3
      lane.trail.flushSpool(); // spooled, and the head copy, not fsynced
      // a kill after the spool's transaction, before the line reached the file
      const killed = join(dir, "killed");
      cpSync(data, killed, { recursive: true });
      const newest = segmentPaths(killed).at(-1)!;
      const lines = readFileSync(newest, "utf8").split("\n");
      expect(JSON.parse(lines.at(-2)!)).toMatchObject({ seq: last.seq + 3, message: "fourth" });
      writeFileSync(newest, `${lines.slice(0, -2).join("\n")}\n`);
      // the files as the command finds them now: at L+2, past the L it read them up to
      expect(entries(killed).at(-1)!.seq).toBe(last.seq + 2);

      const r = entriesNotInFiles(killed, last);
      expect(r.leftOut).toBeNull();
      expect(r.lines).toEqual([]);
    } finally {
      await lane.close();
    }
  });
});
