/**
 * kill -9 while a process writes the lane's journal and its trail in a loop (test/audit/append-child.ts),
 * twice: the trail and the journal rows verify, a partial last line is reported as a torn tail (exactly
 * the bytes after the last newline), every entry and record whose write had returned is in them, and the
 * next open cuts the torn part, records it and goes on. And a kill between a record's commit and the
 * write of its line to the file: the record and its entry are both kept (the line waits in the journal's
 * spool and reaches the file at the next open).
 *
 * The trail writes each line with one write(2), which a SIGKILL on Linux practically never splits (in
 * many runs it did not happen once); a write cut short is what a power cut or a full disk leaves. So the
 * first round adds what such a write leaves, the start of the next line, after the kill; the second
 * round checks the files exactly as the kill left them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, expect, it } from "vitest";
import { auditDir, listSegments } from "../../src/audit/segments.js";
import { JournalReader } from "../../src/journal/journal.js";
import { PROJECT_ROOT } from "../helpers/cli.js";
import { allLines, openBoundTrail, tempDir, verifyLane } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-crash-"));
});
afterEach(() => cleanup());

interface Acked {
  /** the last audit seq whose write returned */
  seq: number;
  /** journal seqs whose commit returned */
  records: number[];
}

/** Starts the child, waits until it reported `count` more writes (or dies), kills it with SIGKILL. */
async function runChild(count: number, mode = "loop"): Promise<Acked & { signal: string | null }> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "test/audit/append-child.ts", dir, mode],
    {
      cwd: PROJECT_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const acked: Acked = { seq: 0, records: [] };
  let seen = 0;
  let buf = "";
  const exited = new Promise<string | null>((resolve) => child.once("exit", (_c, sig) => resolve(sig)));
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) {
      const [a, j] = l.split(" ").map(Number);
      acked.seq = a!;
      if (j) acked.records.push(j);
      seen++;
    }
    if (seen >= count) child.kill("SIGKILL");
  });
  const signal = await exited;
  return { ...acked, signal };
}

const journalSeqs = (): number[] => {
  const r = JournalReader.openReadOnly(dir);
  try {
    return r.list().map((x) => x.seq);
  } finally {
    r.close();
  }
};

/** Opens the journal and the trail as the lane's next start does, and closes them. */
async function restart(): Promise<string[]> {
  const alarms: string[] = [];
  const lane = openBoundTrail(dir, { onAlarm: (c) => alarms.push(c) });
  await lane.close();
  return alarms;
}

/** Bytes after the newest file's last newline. */
function fragmentBytes(): number {
  const segs = listSegments(auditDir(dir));
  const b = readFileSync(segs[segs.length - 1]!.path);
  return b.length - (b.lastIndexOf(10) + 1);
}

it("leaves a trail and a journal that verify, with a torn tail reported as torn, twice", async () => {
  const fragments: number[] = [];
  for (const round of [1, 2]) {
    const acked = await runChild(300);
    expect(acked.signal).toBe("SIGKILL");
    if (round === 1) {
      const segs = listSegments(auditDir(dir));
      appendFileSync(segs[segs.length - 1]!.path, `{"seq":${acked.seq + 1},"time":"2026-11-26T08:15:0`);
    }
    const frag = fragmentBytes();
    const r = verifyLane(dir);
    expect(r.problems, `round ${round}`).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.torn?.bytes ?? 0).toBe(frag);
    expect(r.journal?.checkedRows).toBe(journalSeqs().length);
    // every write that returned is in the file or waits in the spool for the next open
    expect(Math.max(r.verified!.to, r.pendingFromSpool?.to ?? 0)).toBeGreaterThanOrEqual(acked.seq);
    expect(journalSeqs()).toEqual(expect.arrayContaining(acked.records));
    fragments.push(frag);

    // the next start cuts the fragment, records it, and the trail verifies with nothing torn
    expect(await restart()).toEqual([]);
    const after = verifyLane(dir);
    expect(after.problems).toEqual([]);
    const torn = fragments.filter((f) => f > 0);
    expect(after).toMatchObject({ ok: true, torn: null, tornRepaired: torn.length, pendingFromSpool: null });
    const notes = allLines(dir)
      .map((l) => JSON.parse(l.text) as { type: string; data: { bytes: number } })
      .filter((e) => e.type === "audit.torn-tail");
    expect(notes.map((n) => n.data.bytes)).toEqual(torn);
  }
  expect(fragments[0]).toBeGreaterThan(0); // round 1 had a torn write to report
});

it("a kill between a record's commit and the write of its line loses nothing: the line is in the journal's spool and reaches the file at the next start", async () => {
  const r = await runChild(Number.POSITIVE_INFINITY, "kill-after-commit");
  expect(r.signal).toBe("SIGKILL");
  expect(r.records).toHaveLength(21);
  const last = r.seq; // the killed record's entry
  expect(journalSeqs()).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  const fileEnd = (): number => {
    const ls = allLines(dir);
    return (JSON.parse(ls[ls.length - 1]!.text) as { seq: number }).seq;
  };
  expect(fileEnd()).toBe(last - 1);

  // as the kill left it: the entry waits in the spool and its row is judged against it like any other
  const before = verifyLane(dir);
  expect(before.problems).toEqual([]);
  expect(before).toMatchObject({
    ok: true,
    pendingFromSpool: { from: last, to: last },
    journal: { bound: 21, checkedRows: 21 },
  });

  expect(await restart()).toEqual([]);
  const entries = allLines(dir).map(
    (l) => JSON.parse(l.text) as { seq: number; type: string; data: { rec?: { jseq: number } } },
  );
  expect(entries.find((e) => e.seq === last)).toMatchObject({
    type: "record.commit",
    data: { rec: { jseq: 21 } },
  });
  const after = verifyLane(dir);
  expect(after.problems).toEqual([]);
  expect(after).toMatchObject({ ok: true, pendingFromSpool: null, journal: { bound: 21, checkedRows: 21 } });
});
