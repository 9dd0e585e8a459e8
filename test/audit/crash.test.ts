/**
 * kill -9 while a process appends in a loop (test/audit/append-child.ts), twice: the trail verifies, a
 * partial last line is reported as a torn tail (exactly the bytes after the last newline), every entry
 * whose append had returned is in it, and the next open cuts the torn part, records it and goes on.
 *
 * The trail writes each line with one write(2), which a SIGKILL on Linux practically never splits (in
 * many runs it did not happen once); a write cut short is what a power cut or a full disk leaves. So the
 * first round adds what such a write leaves, the start of the next line, after the kill; the second
 * round checks the files exactly as the kill left them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { auditDir, listSegments } from "../../src/audit/segments.js";
import { openStandaloneSpool, readSpool, STANDALONE_SPOOL_FILE } from "../../src/audit/spool.js";
import { verifyTrail } from "../../src/audit/verify.js";
import { PROJECT_ROOT } from "../helpers/cli.js";
import { allLines, laneKey, openTrail, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-crash-"));
});
afterEach(() => cleanup());

/** Starts the child, waits until it reported `count` more appends, kills it with SIGKILL. */
async function appendAndKill(count: number): Promise<number> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "test/audit/append-child.ts", dir],
    {
      cwd: PROJECT_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let last = 0;
  let seen = 0;
  let buf = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) {
        last = Number(l);
        seen++;
      }
      if (seen >= count) {
        child.kill("SIGKILL");
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`the child exited after ${seen} appends`)));
  });
  await exited;
  return last;
}

/** Bytes after the newest file's last newline. */
function fragmentBytes(): number {
  const segs = listSegments(auditDir(dir));
  const b = readFileSync(segs[segs.length - 1]!.path);
  return b.length - (b.lastIndexOf(10) + 1);
}

function verifyNow() {
  const spool = readSpool(join(auditDir(dir), STANDALONE_SPOOL_FILE));
  try {
    return verifyTrail({ dir: auditDir(dir), key: laneKey(dir), spool: spool?.view ?? null });
  } finally {
    spool?.close();
  }
}

it("leaves a trail that verifies, with a torn tail reported as torn, twice", async () => {
  const fragments: number[] = [];
  for (const round of [1, 2]) {
    const acked = await appendAndKill(300);
    if (round === 1) {
      const segs = listSegments(auditDir(dir));
      appendFileSync(segs[segs.length - 1]!.path, `{"seq":${acked + 1},"time":"2026-11-26T08:15:0`);
    }
    const frag = fragmentBytes();
    const r = verifyNow();
    expect(r.problems, `round ${round}`).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.torn?.bytes ?? 0).toBe(frag);
    // every append that returned is in the file or waits in the spool for the next open
    expect(Math.max(r.verified!.to, r.pendingFromSpool?.to ?? 0)).toBeGreaterThanOrEqual(acked);
    fragments.push(frag);

    // the next start cuts the fragment, records it, and the trail verifies with nothing torn
    const sp = openStandaloneSpool(dir);
    const alarms: string[] = [];
    const t = openTrail(dir, sp.spool, { onAlarm: (c) => alarms.push(c) });
    await t.close();
    await sp.close();
    expect(alarms).toEqual([]);
    const after = verifyNow();
    expect(after.problems).toEqual([]);
    const torn = fragments.filter((f) => f > 0);
    expect(after).toMatchObject({ ok: true, torn: null, tornRepaired: torn.length });
    const notes = allLines(dir)
      .map((l) => JSON.parse(l.text) as { type: string; data: { bytes: number } })
      .filter((e) => e.type === "audit.torn-tail");
    expect(notes.map((n) => n.data.bytes)).toEqual(torn);
  }
  expect(fragments[0]).toBeGreaterThan(0); // round 1 had a torn write to report
});
