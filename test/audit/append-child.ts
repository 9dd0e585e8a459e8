/**
 * For test/audit/crash.test.ts: appends to a lane's trail in a loop until it is killed. Every fifth entry
 * is a journal record bound through the spool (as the journal's transaction does), every seventh carries
 * 64 KiB of data; after each append returns it prints the seq.
 */
import { openStandaloneSpool } from "../../src/audit/spool.js";
import { AuditTrail } from "../../src/audit/trail.js";

const dataDir = process.argv[2]!;
const spool = openStandaloneSpool(dataDir);
const trail = AuditTrail.open({
  dataDir,
  lane: { network: "4301", station: "0102", lane: 3 },
  utcOffsetMinutes: 480,
  spool: spool.spool,
  checkpointEvery: 25,
  checkpointIntervalMs: 0,
  segmentMaxBytes: 2 * 1024 * 1024,
  syncIntervalMs: 50,
  spoolBatchMs: 10,
});
const big = "x".repeat(64 * 1024);
let i = 0;
function step(): void {
  for (let k = 0; k < 5; k++) {
    i++;
    let seq: number;
    if (i % 5 === 0) {
      seq = trail.bindRecord(
        {
          op: "commit",
          json: JSON.stringify({ seq: i }),
          jseq: i,
          tradeId: `430101020320261126080000${String(i).padStart(6, "0")}`,
          revision: 1,
          kind: "transaction",
          outcome: "EXIT_DEBIT",
          cardId: "43010000000000000001",
          obuSerial: "4301000000000001",
          obuId: "A1000001",
          plate: "湘A00001",
          amount: 1500,
        },
        (b) => {
          spool.spool.put(b.spool, b.head);
          return b.seq;
        },
      );
    } else {
      seq = trail.append({
        type: "lane.alarm",
        severity: "alarm",
        message: `entry ${i}`,
        data: i % 7 === 0 ? { code: "BIG", pad: big } : { code: "SMALL" },
      }).seq;
    }
    process.stdout.write(`${seq}\n`);
  }
  setImmediate(step); // let the timers, checkpoints and fdatasync run between bursts
}
step();
