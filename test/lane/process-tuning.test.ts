/**
 * The lane's process tuning (src/lane/process-tuning.ts), checked in a child process so the test runner's
 * own threads are left alone: V8's helper threads go to nice 10, the lane thread and libuv's thread pool
 * (the serial port's reads and writes) stay at the lane's priority, and a second call changes nothing.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HELPER_NICE } from "../../src/lane/process-tuning.js";

const child = fileURLToPath(new URL("./process-tuning-child.ts", import.meta.url));

describe("lane process tuning", () => {
  it.runIf(existsSync("/proc/self/task"))(
    "puts V8's helper threads at nice 10 and leaves the lane thread and the thread pool alone",
    () => {
      const out = JSON.parse(
        execFileSync(process.execPath, ["--import", "tsx", child], { encoding: "utf8" }),
      ) as {
        pid: number;
        first: { v8Flags: string[]; helpersReniced: number[]; threadPool: number[] };
        same: boolean;
        nice: Record<string, number>;
      };
      expect(out.first.v8Flags).toEqual(["--no-parallel-scavenge"]);
      expect(out.same).toBe(true);
      expect(out.nice[String(out.pid)]).toBe(0);
      // Node starts V8's platform threads (4 by default) before any JavaScript runs
      expect(out.first.helpersReniced.length).toBeGreaterThanOrEqual(4);
      expect(out.first.threadPool.length).toBe(4);
      for (const tid of out.first.helpersReniced) {
        expect(out.first.threadPool).not.toContain(tid);
        if (out.nice[tid] !== undefined) expect(out.nice[tid]).toBe(HELPER_NICE);
      }
      for (const tid of out.first.threadPool) expect(out.nice[tid]).toBe(0);
      expect(out.first.helpersReniced).not.toContain(out.pid);
    },
  );
});
