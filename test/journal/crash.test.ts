import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { Journal, JournalReader } from "../../src/journal/journal.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-crash-"));
});
afterEach(() => cleanup());

/** Runs the commit loop child, kills it with SIGKILL once `killAfter` commits were reported. */
async function runAndKill(killAfter: number): Promise<number[]> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "fixtures/commit-loop.ts"), dir],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const printed: number[] = [];
  let buf = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, sig) => resolve(sig)),
  );
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line !== "ready") printed.push(Number(line));
    }
    if (printed.length >= killAfter && child.exitCode === null && !child.killed) child.kill("SIGKILL");
  });
  const sig = await exited;
  expect(sig, `child ended by itself: ${stderr}`).toBe("SIGKILL");
  return printed;
}

it("a journal killed with SIGKILL mid commit loop keeps every record whose commit had returned", async () => {
  const printedRuns: number[][] = [];
  for (const killAfter of [300, 700]) printedRuns.push(await runAndKill(killAfter));
  const reader = JournalReader.openReadOnly(dir);
  const inDb = new Set(reader.list().map((r) => r.seq));
  const lastSeq = reader.lastSeq();
  reader.close();
  for (const printed of printedRuns) {
    expect(printed.length).toBeGreaterThan(0);
    const missing = printed.filter((s) => !inDb.has(s));
    expect(missing).toEqual([]);
  }
  // sequences from the second run continue the first: never reused
  const all = printedRuns.flat();
  expect(new Set(all).size).toBe(all.length);
  // the journal opens cleanly after the crash and continues after the highest stored sequence
  const j = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  expect(j.commit(sampleRecord(1)).seq).toBe(lastSeq + 1);
  await j.close(); // its WAL checkpoint worker's connection too, before afterEach removes the directory
}, 120_000);
