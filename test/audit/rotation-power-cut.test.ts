/**
 * What a power cut during a rotation can leave on disk, and what `audit verify` says of it before the
 * lane starts again. A rotation (src/audit/segment-writer.ts rotate) fdatasyncs the old file through its
 * last line (the checkpoint), fsyncs the directory while the old file's name is not known durable, writes
 * the new file's anchor under a temporary name, renames it in, and leaves the new file's data and name to
 * the next sync. So a power cut leaves one of:
 * - the old file cut back to its last fdatasync, no new file (the cut came before the rotation's sync);
 * - the old file through its checkpoint, the new file under its temporary name or not at all (the rename
 *   did not reach the disk);
 * - the new file under its name but empty, or as long as it was with bytes that never reached the disk
 *   read as zeros (its data did not);
 * - the new file with its anchor, the lines after it cut back (as any newest file).
 * The lines written after the rotation are in the spool or the journal's rows until an fdatasync covers
 * them. Each state is built here from a copy of a running lane's data directory (the copy taken as the
 * power failed, its segment files then cut to what the disk held); verify reports it as an unsynced tail,
 * not as tampering, and the next start repairs it (src/audit/recovery.ts). The newest file emptied when
 * the head copy or the station's acknowledged checkpoint proves it held entries is still tampering.
 */
import { createHash } from "node:crypto";
import {
  cpSync,
  readdirSync,
  readFileSync,
  renameSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { auditDir } from "../../src/audit/segments.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { sampleRecord } from "../journal/sample-record.js";
import {
  entries,
  openBoundTrail,
  restartAlarms,
  runEtcLane,
  segmentPaths,
  tempDir,
  verifyLane,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
/** lanes to close after the test, before their directory goes */
const lanes: { close(): Promise<void> }[] = [];
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-rotation-cut-"));
});
afterEach(async () => {
  for (const l of lanes.splice(0)) await l.close();
  cleanup();
});

type Lane = ReturnType<typeof openBoundTrail>;

const ev = (i: number) => ({
  type: "test.event",
  severity: "info" as const,
  message: `event ${i}`,
  data: { i },
});

/**
 * A copy of the data directory `from` (the lane's by default) as it is now, the files as the page cache
 * has them; removed after the test.
 */
function copyOfDataDir(from = dir): string {
  const other = tempDir("etc-rotation-cut-copy-");
  onTestFinished(other.cleanup);
  const copy = join(other.dir, "data");
  cpSync(from, copy, { recursive: true });
  return copy;
}

const name = (path: string): string => path.split("/").pop()!;

/**
 * The lane as it runs, with nothing synced or batched into the spool by a timer (the test does it): a
 * checkpoint starts a new file once the current one is past `segmentMaxBytes`.
 */
function openLane(segmentMaxBytes: number): Lane {
  const lane = openBoundTrail(dir, { segmentMaxBytes, spoolBatchMs: 600_000, syncIntervalMs: 600_000 });
  lanes.push(lane);
  return lane;
}

/**
 * A record and an event, then a checkpoint that closes the first file and starts the second with its
 * copy, all of it fdatasync'ed. Returns the lane and the checkpoint's seq.
 */
async function rotatedLane(segmentMaxBytes = 1): Promise<{ lane: Lane; cpSeq: number }> {
  const lane = openLane(segmentMaxBytes);
  await lane.trail.witness.ready;
  lane.journal.commit(sampleRecord(1));
  lane.trail.append(ev(1));
  await lane.trail.checkpointNow();
  await lane.trail.flush();
  expect(segmentPaths(dir)).toHaveLength(2);
  return { lane, cpSeq: lane.trail.status().lastSeq };
}

/**
 * After the rotation: an event and a record in the new file, the event's line and the head copy in
 * journal.db (the spool batch), the record's row committed; no fdatasync of the new file yet. Returns the
 * newest seq.
 */
async function entriesAfterRotation(lane: Lane): Promise<number> {
  lane.trail.append(ev(2));
  lane.journal.commit(sampleRecord(2));
  await lane.trail.recordsWritten();
  lane.trail.flushSpool();
  return lane.trail.status().lastSeq;
}

/** `audit verify` as the operator runs it: what it prints and its exit code. */
async function verifyCli(dataDir: string): Promise<{ out: string; code: number }> {
  const r = await runEtcLane(["audit", "verify", "--data-dir", dataDir]);
  return { out: r.out, code: r.code };
}

const anchorNote = (file: string, what: string, seq: number, prevFile: string): string =>
  `anchor not on the disk: ${file} ${what}: its first line, the copy of seq ${seq} (the last line of ${prevFile}), ` +
  "had not reached the disk, as a power cut during a rotation leaves it (not a failure; the lane writes it again at its next start)";

const pendingNote = (from: number, to: number, fromRows: number): string =>
  `not yet in the file: seq ${from}..${to}, ${fromRows} of them journal records built from their rows, the rest in the spool`;

describe("a power cut during a rotation: audit verify before the next start, and the next start", () => {
  it("before the rotation's fdatasync of the old file: that file cut back to its last fdatasync, no new file", async () => {
    const lane = openLane(1);
    await lane.trail.witness.ready;
    lane.journal.commit(sampleRecord(1));
    lane.trail.append(ev(1));
    await lane.trail.flush();
    const synced = readFileSync(segmentPaths(dir)[0]!).length;
    const syncedSeq = lane.trail.status().lastSeq;
    lane.journal.commit(sampleRecord(2)); // its row is durable, its line only in the page cache
    await lane.trail.recordsWritten();
    lane.trail.append(ev(2)); // in the file and in memory; its spool batch not written
    await lane.trail.checkpointNow();
    expect(segmentPaths(dir)).toHaveLength(2);
    const copy = copyOfDataDir();
    const [first, second] = segmentPaths(copy) as [string, string];
    truncateSync(first, synced);
    unlinkSync(second);
    const r = await verifyCli(copy);
    expect(r.code).toBe(0);
    expect(r.out).toContain(pendingNote(syncedSeq + 1, syncedSeq + 1, 1));
    expect(r.out).not.toContain("anchor not on the disk");
    expect(r.out).toMatch(/OK: the trail is intact\n$/);
    expect(await restartAlarms(copy)).toEqual([]);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
  });

  it("before the rename reached the disk: the old file through its checkpoint, the new one under its temporary name", async () => {
    const { lane, cpSeq } = await rotatedLane();
    const last = await entriesAfterRotation(lane);
    const copy = copyOfDataDir();
    const second = segmentPaths(copy)[1]!;
    const tmp = join(auditDir(copy), `.${name(second)}.tmp`);
    renameSync(second, tmp);
    writeFileSync(tmp, readFileSync(tmp, "utf8").split("\n")[0]!);
    const r = await verifyCli(copy);
    expect(r.code).toBe(0);
    expect(r.out).toContain("(1 file(s), ");
    expect(r.out).toContain(pendingNote(cpSeq + 1, last, 1));
    expect(r.out).toMatch(/OK: the trail is intact\n$/);
    expect(await restartAlarms(copy)).toEqual([]);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
    expect(entries(copy).map((e) => e.seq)).toContain(last);
  });

  it("the new file under its name but empty, nothing after its anchor: the anchor is not on the disk yet; not a failure", async () => {
    const { cpSeq } = await rotatedLane();
    const copy = copyOfDataDir();
    const [first, second] = segmentPaths(copy) as [string, string];
    writeFileSync(second, "");
    const r = await verifyCli(copy);
    expect(r.code).toBe(0);
    expect(r.out).toContain(anchorNote(name(second), "is empty", cpSeq, name(first)));
    expect(r.out).not.toContain("torn tail:");
    expect(r.out).toMatch(/OK: the trail is intact\n$/);
    expect(await restartAlarms(copy)).toEqual([]);
    expect(readFileSync(second, "utf8").split("\n")[0]).toBe(
      readFileSync(first, "utf8").trimEnd().split("\n").at(-1),
    );
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [], anchorMissing: null });
  });

  it("the new file under its name but empty, the entries after it in the spool and the journal's rows", async () => {
    const { lane, cpSeq } = await rotatedLane();
    const last = await entriesAfterRotation(lane);
    const copy = copyOfDataDir();
    const before = entries(copy);
    const [first, second] = segmentPaths(copy) as [string, string];
    writeFileSync(second, "");
    const r = await verifyCli(copy);
    expect(r.code).toBe(0);
    expect(r.out).toContain(anchorNote(name(second), "is empty", cpSeq, name(first)));
    expect(r.out).toContain(pendingNote(cpSeq + 1, last, 1));
    expect(r.out).toMatch(/OK: the trail is intact\n$/);
    expect(await restartAlarms(copy)).toEqual([]);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
    // the same entries, byte for byte, as the lane wrote before the power failed
    expect(entries(copy).slice(0, before.length)).toEqual(before);
  });

  it("the new file as long as it was but its data not on the disk (zeros), or only part of it: torn, the anchor not on the disk", async () => {
    const { lane, cpSeq } = await rotatedLane();
    const last = await entriesAfterRotation(lane);
    const copy = copyOfDataDir();
    const [first, second] = segmentPaths(copy) as [string, string];
    const written = readFileSync(second);
    const partly = Buffer.alloc(written.length);
    written.copy(partly, 0, 0, 512); // the first sector of the anchor reached the disk, nothing after it
    for (const content of [Buffer.alloc(written.length), partly]) {
      const state = copyOfDataDir(copy);
      const file = segmentPaths(state)[1]!;
      writeFileSync(file, content);
      const r = await verifyCli(state);
      expect(r.code).toBe(0);
      expect(r.out).toContain(
        `torn tail: ${written.length} bytes after seq ${cpSeq} in ${name(second)} (a write cut short; the lane cuts it at its next start)`,
      );
      expect(r.out).toContain(anchorNote(name(second), "holds no complete line", cpSeq, name(first)));
      expect(r.out).toContain(pendingNote(cpSeq + 1, last, 1));
      expect(r.out).toMatch(/OK: the trail is intact\n$/);
      expect(await restartAlarms(state)).toEqual([]);
      expect(verifyLane(state)).toMatchObject({ ok: true, problems: [], torn: null, tornRepaired: 1 });
    }
  });

  it("the anchor on the disk, the lines after it not: the spool and the rows give them back", async () => {
    const { lane, cpSeq } = await rotatedLane();
    const last = await entriesAfterRotation(lane);
    const copy = copyOfDataDir();
    const second = segmentPaths(copy)[1]!;
    writeFileSync(second, `${readFileSync(second, "utf8").split("\n")[0]!}\n`);
    const r = await verifyCli(copy);
    expect(r.code).toBe(0);
    expect(r.out).toContain(pendingNote(cpSeq + 1, last, 1));
    expect(r.out).not.toContain("anchor not on the disk");
    expect(await restartAlarms(copy)).toEqual([]);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
  });
});

describe("the newest file emptied or rewritten, where a power cut cannot explain it: tampering", () => {
  it("emptied when the head copy names entries it held that the spool no longer has (fdatasync'ed)", async () => {
    const { lane, cpSeq } = await rotatedLane();
    const last = await entriesAfterRotation(lane);
    await lane.trail.flush(); // the new file is on the disk: its lines leave the spool
    const copy = copyOfDataDir();
    const second = segmentPaths(copy)[1]!;
    writeFileSync(second, "");
    const r = await verifyCli(copy);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `FAILED at seq ${cpSeq}, ${name(second)}: the trail ends at seq ${cpSeq} but the head copy names seq ${last}: ` +
        `entries ${cpSeq + 1}..${last} are missing and not in the spool (the file was truncated)`,
    );
  });

  it("emptied with the head copy set back too: the checkpoint the station acknowledged, which the file held, proves it", async () => {
    // the first checkpoint starts a new file (a record's line takes the first past 2,000 bytes), the
    // second does not (an anchor, an event and a checkpoint are about 1,700)
    const { lane, cpSeq } = await rotatedLane(2000);
    lane.trail.append(ev(2));
    await lane.trail.checkpointNow();
    await lane.trail.flush();
    expect(segmentPaths(dir)).toHaveLength(2);
    lane.trail.witness.acknowledged(2);
    lane.trail.append(ev(3));
    await lane.trail.flush();
    const copy = copyOfDataDir();
    const [first, second] = segmentPaths(copy) as [string, string];
    writeFileSync(second, "");
    const cp = JSON.parse(readFileSync(first, "utf8").trimEnd().split("\n").at(-1)!) as AuditEntry;
    expect(cp.seq).toBe(cpSeq);
    const db = new Database(join(copy, JOURNAL_FILE));
    db.prepare("UPDATE meta SET value = ? WHERE key = 'audit_head'").run(
      JSON.stringify({ seq: cp.seq, hash: cp.hash }),
    );
    db.close();
    const r = await verifyCli(copy);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "FAILED: the station acknowledged checkpoint #2 but this trail's checkpoints end at #1: it was rolled back or truncated",
    );
  });

  it("cut shorter than its anchor or holding another byte: the next start does not cut the bytes as a torn tail but keeps them, with AUDIT_DAMAGED; verify fails for ever", async () => {
    const { cpSeq } = await rotatedLane();
    const before = copyOfDataDir();
    const anchor = readFileSync(segmentPaths(before)[1]!);
    const changed = Buffer.from(anchor);
    changed[anchor.length - 1] = 0; // its newline never reached the disk...
    changed[10] = changed[10]! ^ 0x01; // ...and a byte that no disk gave back
    for (const content of [anchor.subarray(0, anchor.length >> 1), changed]) {
      const state = copyOfDataDir(before);
      const [first, second] = segmentPaths(state) as [string, string];
      writeFileSync(second, content);
      expect(await restartAlarms(state)).toEqual(["AUDIT_DAMAGED"]);
      const sha = createHash("sha256").update(content).digest("hex");
      const keptAs = `${name(second)}.damaged-${sha.slice(0, 16)}`;
      expect(readdirSync(auditDir(state)).filter((n) => n.startsWith(`${name(second)}.`))).toEqual([keptAs]);
      expect(readFileSync(join(auditDir(state), keptAs))).toEqual(content);
      const after = entries(state);
      expect(after.map((e) => e.type)).not.toContain("audit.torn-tail");
      const damaged = after.find((e) => e.type === "audit.damaged")!;
      expect(damaged).toMatchObject({
        seq: cpSeq + 1,
        severity: "alarm",
        data: { file: name(second), bytes: content.length, sha256: sha, keptAs },
      });
      // the chain goes on from the anchor, written again
      expect(readFileSync(second, "utf8").split("\n")[0]).toBe(
        readFileSync(first, "utf8").trimEnd().split("\n").at(-1),
      );
      expect(verifyLane(state)).toMatchObject({
        ok: false,
        problems: [{ seq: damaged.seq, what: `the lane recorded: ${damaged.message}` }],
      });
    }
  });

  it("cut shorter than its anchor, holding another byte, or named after an entry that is not a checkpoint", async () => {
    const { lane, cpSeq } = await rotatedLane();
    const copy = copyOfDataDir();
    const [first, second] = segmentPaths(copy) as [string, string];
    const anchor = readFileSync(second);
    const notACopy = `FAILED at seq ${cpSeq}, ${name(second)} line 1: the first line of ${name(second)} is not a copy of the last line of ${name(first)}`;
    const changed = Buffer.from(anchor);
    changed[anchor.length - 1] = 0; // its newline never reached the disk...
    changed[10] = changed[10]! ^ 0x01; // ...and a byte that no disk gave back
    for (const content of [
      anchor.subarray(0, anchor.length >> 1),
      anchor.subarray(0, anchor.length - 1),
      changed,
    ]) {
      writeFileSync(second, content);
      const r = await verifyCli(copy);
      expect(r.code).toBe(1);
      expect(r.out).toContain(notACopy);
    }
    // an empty newest file after an entry that is not a checkpoint: no rotation starts a file there
    const last = await entriesAfterRotation(lane);
    await lane.trail.flush();
    const other = copyOfDataDir();
    const newest = segmentPaths(other)[1]!;
    const empty = join(auditDir(other), `audit-${String(last + 1).padStart(12, "0")}.log`);
    writeFileSync(empty, "");
    const r = await verifyCli(other);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `FAILED at seq ${last}, ${name(empty)} line 1: the first line of ${name(empty)} is not a copy of the last line of ${name(newest)}`,
    );
    // the next start removes the empty file and records it: verify goes on failing, on that entry
    expect(await restartAlarms(other)).toEqual(["AUDIT_DAMAGED"]);
    expect(readdirSync(auditDir(other))).not.toContain(name(empty));
    const damaged = entries(other).find((e) => e.type === "audit.damaged")!;
    // after the open's seal of what the lane left (seq last + 1)
    expect(damaged).toMatchObject({
      seq: last + 2,
      severity: "alarm",
      data: { file: name(empty), bytes: 0, after: name(newest), removed: true },
    });
    expect(damaged.message).toContain(
      `${name(empty)} was empty after ${name(newest)}, which ends with entry ${last} (`,
    );
    expect(verifyLane(other)).toMatchObject({
      ok: false,
      problems: [{ seq: damaged.seq, what: `the lane recorded: ${damaged.message}` }],
    });
  });
});
