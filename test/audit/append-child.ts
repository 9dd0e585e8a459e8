/**
 * For test/audit/crash.test.ts: the lane's journal and the trail bound to it (the spool in journal.db),
 * written in a loop until the process is killed. Every fifth entry is a journal record committed through
 * the binding, every seventh event carries 64 KiB of data; after each write returns it prints
 * `<audit seq> <journal seq or 0>`.
 *
 * argv: dataDir [mode]
 * - mode "loop" (default): as above, forever.
 * - mode "kill-after-commit": commits 20 records, then one more whose SQLite transaction commits and whose
 *   process then SIGKILLs itself before the trail writes the record's line to the file (the line is only
 *   in the journal's spool). It prints that record's line `<audit seq> <journal seq>` before the kill.
 */
import { writeSync } from "node:fs";
import { sampleRecord } from "../journal/sample-record.js";
import { openBoundTrail } from "./helpers.js";

const dataDir = process.argv[2]!;
const mode = process.argv[3] ?? "loop";
const { journal, trail } = openBoundTrail(dataDir, {
  checkpointEvery: 25,
  segmentMaxBytes: 2 * 1024 * 1024,
  syncIntervalMs: 50,
  spoolBatchMs: 10,
});
const print = (s: string): void => {
  writeSync(1, `${s}\n`);
};

if (mode === "kill-after-commit") {
  for (let i = 1; i <= 20; i++) {
    const c = journal.commit(sampleRecord(i));
    print(`${trail.status().lastSeq} ${c.seq}`);
    await new Promise((r) => setImmediate(r)); // a turn of the event loop between vehicles, as the lane has
  }
  // the next commit: the transaction commits (the row with its entry's seq and time), then the process
  // dies before the trail builds the record's line and writes it to the segment file
  journal.bindAudit({
    bindRecord: (b, tx) =>
      trail.bindRecord(b, (slot) => {
        const r = tx(slot);
        print(`${slot.seq} ${b.jseq}`);
        process.kill(process.pid, "SIGKILL");
        return r;
      }),
    bindEvent: (ev, tx) => trail.bindEvent(ev, tx),
    recordsWritten: () => trail.recordsWritten(),
  });
  journal.commit(sampleRecord(21));
  print("not killed");
} else {
  const big = "x".repeat(64 * 1024);
  let i = 0;
  const step = (): void => {
    for (let k = 0; k < 5; k++) {
      i++;
      if (i % 5 === 0) {
        const c = journal.commit(sampleRecord(i));
        print(`${trail.status().lastSeq} ${c.seq}`);
      } else {
        const r = trail.append({
          type: "lane.alarm",
          severity: "alarm",
          message: `entry ${i}`,
          data: i % 7 === 0 ? { code: "BIG", pad: big } : { code: "SMALL" },
        });
        print(`${r.seq} 0`);
      }
    }
    setImmediate(step); // let the timers, checkpoints and fdatasync run between bursts
  };
  step();
}
