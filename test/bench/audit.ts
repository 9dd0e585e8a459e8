/**
 * Audit trail benchmarks (docs/audit.md, "Cost"):
 * - an event's append on the lane thread (build the line, SHA-256, one write(2)), target p99 <= 50 us,
 *   measured while the trail's own timers run (fdatasync every second and Ed25519 checkpoint signing in
 *   the thread pool, spool batches every 100 ms) between bursts of appends;
 * - a journal record's entry, committed through the binding with the record-line worker as the lane has
 *   it: the lane thread's share, timed by test/bench/audit-probe.ts (the hand-over around the commit
 *   transaction, and the record's share of the landing that wrote its line), after a warm-up of the same
 *   commits as the events have one; the durable commit with the binding against the same commit without
 *   it (alternating, same disk);
 * - the gaps the lane thread's CPU itself has (cpuGaps: the floor under any small cost's p99);
 * - the spool batch; for reference a bare write(2) of a line, SHA-256 and Ed25519 sign / verify of a
 *   300-byte record, and `audit verify` throughput (the trail and the journal rows);
 * - the floor under any hand-off of the entry to another thread: what the lane thread pays, right after a
 *   synchronous fdatasync as a commit has one, for nothing (two clock reads), for the record JSON's
 *   SHA-256, for a postMessage of the record's binding to a worker, for an Atomics.notify that wakes a
 *   waiting worker and for the record copied into a shared ring a worker polls.
 */
import { createHash, generateKeyPairSync, sign, verify } from "node:crypto";
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { AUDIT_PUBLIC_KEY_FILE, publicKeyFromPem } from "../../src/audit/checkpoint.js";
import { buildLine, GENESIS } from "../../src/audit/entry.js";
import { openJournalTrail } from "../../src/audit/journal-trail.js";
import { verifyLaneDataDir } from "../../src/audit/verify-lane.js";
import { JOURNAL_FILE, Journal } from "../../src/journal/journal.js";
import { sampleRecord } from "../journal/sample-record.js";
import { probeRecordEntries } from "./audit-probe.js";
import { type Benchmark, type BenchResult, cpuGaps, nowUs, percentiles } from "./harness.js";

const LANE = { network: "4301", station: "0102", lane: 3 };

function us(samples: Float64Array): BenchResult["figures"] {
  const p = percentiles(samples);
  return { p50: p.p50, p99: p.p99, p999: p.p999, max: p.max };
}

/** An event as the lane writes them: ~300 bytes of line. */
const event = (i: number) => ({
  type: "lane.alarm",
  severity: "alarm" as const,
  message: `status list is stale: the newest delta is ${i % 60} minutes old`,
  data: { code: "STATUS_LIST_STALE", full: "202611260000", delta: "202611260755", ageMinutes: i % 60 },
});

/**
 * A one-writer, one-reader ring in shared memory, for the hand-off probe only: the lane thread copies a
 * record's JSON (UTF-8) and journal seq in and moves the write offset; the worker (RING_DRAINER) looks
 * every millisecond, hashes what it finds and moves the read offset. Nothing wakes the worker, so the lane
 * thread makes no system call. Layout: Int32 [write offset, read offset, entries drained], then the data;
 * an entry is u32 length, u32 seq, the bytes, padded to 4 bytes; a length of 0xffffffff, or the end of
 * the data, sends the reader back to offset 0.
 */
class SharedRing {
  readonly sab: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly enc = new TextEncoder();
  written = 0;
  full = 0;

  constructor(private readonly size: number) {
    this.sab = new SharedArrayBuffer(12 + size);
    this.ctl = new Int32Array(this.sab, 0, 3);
    this.data = new Uint8Array(this.sab, 12, size);
    this.view = new DataView(this.sab, 12, size);
  }

  put(seq: number, json: string): void {
    const need = pad4(8 + json.length * 3); // UTF-8 of a UTF-16 string takes at most 3 bytes per unit
    let at = Atomics.load(this.ctl, 0);
    const r = Atomics.load(this.ctl, 1);
    if (at >= r && this.size - at < need) {
      if (r <= need) {
        this.full++;
        return;
      }
      // offsets are multiples of 4 and so is the size: a marker fits wherever an entry could start
      if (at < this.size) this.view.setUint32(at, 0xffffffff);
      at = 0;
    } else if (at < r && r - at <= need) {
      this.full++;
      return;
    }
    const n = this.enc.encodeInto(json, this.data.subarray(at + 8, at + need)).written;
    this.view.setUint32(at, n);
    this.view.setUint32(at + 4, seq);
    Atomics.store(this.ctl, 0, at + pad4(8 + n));
    this.written++;
  }

  drained(): number {
    return Atomics.load(this.ctl, 2);
  }
}

const pad4 = (n: number): number => (n + 3) & ~3;

const RING_DRAINER =
  "const { workerData } = require('node:worker_threads'); const { hash } = require('node:crypto');" +
  "const ctl = new Int32Array(workerData, 0, 3); const data = new Uint8Array(workerData, 12);" +
  "const view = new DataView(workerData, 12); const size = data.length;" +
  "for (;;) {" +
  "  const w = Atomics.load(ctl, 0); let r = Atomics.load(ctl, 1);" +
  "  while (r !== w) {" +
  "    if (r >= size || view.getUint32(r) === 0xffffffff) { r = 0; continue; }" +
  "    const n = view.getUint32(r);" +
  "    hash('sha256', data.subarray(r + 8, r + 8 + n), 'hex');" +
  "    r += (8 + n + 3) & ~3; Atomics.store(ctl, 1, r); Atomics.add(ctl, 2, 1);" +
  "  }" +
  "  Atomics.wait(ctl, 0, w, 1);" +
  "}";

export const auditBench: Benchmark = {
  name: "audit",
  title:
    "audit trail: append cost per entry on the lane thread (target p99 <= 50 us), hashing and signing for reference",
  async run({ scale, log }) {
    const dir = mkdtempSync(join(tmpdir(), "etc-bench-audit-"));
    const plainDir = mkdtempSync(join(tmpdir(), "etc-bench-audit-plain-"));
    try {
      // the lane's journal (WAL + FULL, the checkpoint worker) and the trail bound to it, as openLane has them
      const journalOpts = { laneIdentity: LANE, utcOffsetMinutes: 480, retention: { intervalMs: 0 } };
      const journal = Journal.open({ dataDir: dir, ...journalOpts });
      const trail = openJournalTrail(journal, {
        dataDir: dir,
        lane: LANE,
        utcOffsetMinutes: 480,
        checkpointEvery: 1000,
        checkpointIntervalMs: 1000,
        retentionCheckMs: 0,
        recordLineWorker: { journalFile: join(dir, JOURNAL_FILE) },
      });
      const n = Math.max(2000, Math.round(50_000 * scale));
      const burst = 50;
      log(`  ${n} event appends in bursts of ${burst}, the trail's timers running between bursts`);
      for (let i = 0; i < 2000; i++) trail.append(event(i)); // warm-up
      await trail.flush();
      const app = new Float64Array(n);
      const t0 = nowUs();
      for (let i = 0; i < n; i += burst) {
        for (let k = i; k < Math.min(n, i + burst); k++) {
          const t = nowUs();
          trail.append(event(k));
          app[k] = nowUs() - t;
        }
        await nextTurn();
      }
      const wall = (nowUs() - t0) / 1e6;
      await trail.flush();
      const lineBytes = Buffer.byteLength(
        buildLine(n, "2026-11-26T08:15:02.123+08:00", "2026-11-26T00:15:02.123Z", event(n), GENESIS).line,
      );

      // journal records through the binding: the trail's share on the lane thread (the hand-over around the
      // transaction, the landing of the worker's lines) and the whole durable commit, alternating with the
      // same commit on a journal no trail is bound to
      const m = Math.max(500, Math.round(5000 * scale));
      const warm = 500;
      log(
        `  ${m} records committed through the binding, alternating with ${m} commits without it, after ${warm} of each not timed`,
      );
      const plain = Journal.open({ dataDir: plainDir, ...journalOpts });
      for (let i = 0; i < warm; i++) {
        journal.commit(sampleRecord(1_000_000 + i));
        plain.commit(sampleRecord(1_000_000 + i));
        if (i % 10 === 0) await nextTurn();
      }
      await trail.recordsWritten();
      // the lane thread's CPU right before the records (the worker thread polling journal.db and its ring;
      // the lane thread's own timers wait for the busy loop)
      const gaps = cpuGaps(Math.max(500, Math.round(2000 * scale)));
      const boundCommit = new Float64Array(m);
      const plainCommit = new Float64Array(m);
      const probe = probeRecordEntries(journal, trail);
      for (let i = 0; i < m; i++) {
        const rec = sampleRecord(i);
        const first = i % 2 === 0; // which journal goes first alternates too
        for (const bound of first ? [true, false] : [false, true]) {
          const t = nowUs();
          if (bound) {
            journal.commit(rec);
            boundCommit[i] = nowUs() - t;
          } else {
            plain.commit(rec);
            plainCommit[i] = nowUs() - t;
          }
        }
        if (i % 10 === 0) await nextTurn();
      }
      plain.close();
      await trail.recordsWritten();
      const probeCounts = probe.counts();
      await trail.flush();
      // the spool batch: the event lines of 100 ms put into SQLite in one transaction
      const batches = new Float64Array(200);
      for (let b = 0; b < batches.length; b++) {
        for (let k = 0; k < 10; k++) trail.append(event(k));
        const t = nowUs();
        trail.flushSpool();
        batches[b] = nowUs() - t;
      }
      const status = trail.status();
      await trail.close();
      journal.close();

      // reference: a bare write(2) of such a line, with an fdatasync of the file in the thread pool each second
      const raw = new Float64Array(n);
      const fd = openSync(join(dir, "raw-write-probe"), "a");
      const line = `${"x".repeat(lineBytes - 1)}\n`;
      let lastSync = nowUs();
      for (let i = 0; i < n; i += burst) {
        for (let k = i; k < Math.min(n, i + burst); k++) {
          const t = nowUs();
          writeSync(fd, line);
          raw[k] = nowUs() - t;
        }
        if (nowUs() - lastSync > 1e6) {
          lastSync = nowUs();
          fdatasync(fd, () => undefined);
        }
        await nextTurn();
      }
      await new Promise((r) => fdatasync(fd, r));
      closeSync(fd);

      // reference: hashing and signing a 300-byte record
      const rec300 = Buffer.alloc(300, 0x61);
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      const k = 5000;
      const sha = new Float64Array(k);
      const sg = new Float64Array(k);
      const vf = new Float64Array(k);
      const sig = sign(null, rec300, privateKey);
      for (let i = 0; i < k; i++) {
        let t = nowUs();
        createHash("sha256").update(rec300).digest("hex");
        sha[i] = nowUs() - t;
        t = nowUs();
        sign(null, rec300, privateKey);
        sg[i] = nowUs() - t;
        t = nowUs();
        verify(null, rec300, publicKey, sig);
        vf[i] = nowUs() - t;
      }

      // the floor under a hand-off: each probe right after a synchronous fdatasync (a commit has one on the
      // lane thread), alternating, with a worker that hashes what it is posted and one that waits on a word
      const floorN = Math.max(1000, Math.round(5000 * scale));
      log(
        `  ${floorN} x 5 probes right after an fdatasync: nothing, SHA-256, postMessage, Atomics.notify, shared ring`,
      );
      const json = JSON.stringify(sampleRecord(7));
      const binding = { op: "commit", json, jseq: 7, tradeId: "T7", revision: 1, kind: "transaction" };
      const hasher = new Worker(
        "const { parentPort } = require('node:worker_threads');" +
          "const { createHash } = require('node:crypto');" +
          "parentPort.on('message', (m) => { createHash('sha256').update(m.json).digest('hex'); });",
        { eval: true },
      );
      const word = new Int32Array(new SharedArrayBuffer(4));
      const waiter = new Worker(
        "const { workerData } = require('node:worker_threads'); const w = new Int32Array(workerData);" +
          "for (let seen = 0; seen >= 0; ) { Atomics.wait(w, 0, seen); seen = Atomics.load(w, 0); }",
        { eval: true, workerData: word.buffer },
      );
      const ring = new SharedRing(1 << 20);
      const drainer = new Worker(RING_DRAINER, { eval: true, workerData: ring.sab });
      const floorFd = openSync(join(dir, "floor-probe"), "w");
      const probes = { nothing: new Float64Array(floorN), sha: new Float64Array(floorN) };
      const handoffs = {
        post: new Float64Array(floorN),
        notify: new Float64Array(floorN),
        ring: new Float64Array(floorN),
      };
      for (let i = 0; i < floorN; i++) {
        const order = [0, 1, 2, 3, 4].map((k) => (k + i) % 5);
        for (const k of order) {
          writeSync(floorFd, json);
          fdatasyncSync(floorFd);
          const t = nowUs();
          if (k === 1) createHash("sha256").update(json).digest("hex");
          else if (k === 2) hasher.postMessage(binding);
          else if (k === 3) {
            Atomics.store(word, 0, i + 1);
            Atomics.notify(word, 0);
          } else if (k === 4) ring.put(i + 1, json);
          const d = nowUs() - t;
          if (k === 0) probes.nothing[i] = d;
          else if (k === 1) probes.sha[i] = d;
          else if (k === 2) handoffs.post[i] = d;
          else if (k === 3) handoffs.notify[i] = d;
          else handoffs.ring[i] = d;
        }
        await nextTurn();
      }
      closeSync(floorFd);
      Atomics.store(word, 0, -1);
      Atomics.notify(word, 0);
      while (ring.drained() < ring.written) await nextTurn(); // every record hashed by the worker
      await Promise.all([hasher.terminate(), waiter.terminate(), drainer.terminate()]);

      // audit verify over what was written
      const vt = nowUs();
      const laneKey = publicKeyFromPem(readFileSync(join(dir, AUDIT_PUBLIC_KEY_FILE)), AUDIT_PUBLIC_KEY_FILE);
      const rep = verifyLaneDataDir(dir, laneKey).report;
      const vs = (nowUs() - vt) / 1e6;
      const pb = percentiles(boundCommit);
      const pp = percentiles(plainCommit);
      return [
        {
          name: "audit append (event, lane thread)",
          unit: "us",
          figures: { ...us(app), perSecond: n / wall },
          notes: `${n} entries of ~${lineBytes} B lines; ${status.lastCheckpoint?.n ?? 0} checkpoints signed meanwhile`,
        },
        {
          name: "audit record entry, hand-over around the transaction (lane thread)",
          unit: "us",
          figures: us(Float64Array.from(probe.handOver)),
          notes: `${m} records (~${Buffer.byteLength(JSON.stringify(sampleRecord(1)))} B JSON): seq and time reserved in the row, the record put in the queue of lines to land; the record-line worker finds the row itself`,
        },
        {
          name: "audit record entry, landing share (lane thread)",
          unit: "us",
          figures: us(Float64Array.from(probe.landing)),
          notes: `each record's share of the lane thread's landings (the file's end taken back from the worker, which writes its lines itself, or lines built and written on the lane thread); lines written by the worker ${probeCounts.fromWorker}, on the lane thread ${probeCounts.onLane}`,
        },
        {
          name: "audit record entry, both parts (lane thread)",
          unit: "us",
          figures: us(probe.both()),
          notes:
            "per record, the two above added: the lane thread's whole share of a record's audit entry (target p99 <= 50 us)",
        },
        {
          name: "the lane thread's CPU: clock gaps over 5 us in a busy loop",
          unit: "us",
          figures: {
            p50: gaps.p50,
            p99: gaps.p99,
            max: gaps.max,
            perSecond: gaps.perSecond,
            lostMsPerSecond: gaps.lostMsPerSecond,
          },
          notes:
            "gaps per second and ms lost per second: on this CPU a cost of a few us has at least a gap in it that often",
        },
        { name: "journal commit with the binding", unit: "us", figures: us(boundCommit) },
        { name: "journal commit without it (same disk, alternating)", unit: "us", figures: us(plainCommit) },
        {
          name: "journal commit: bound / unbound",
          unit: "ratio",
          figures: { p50: pb.p50 / pp.p50, p99: pb.p99 / pp.p99 },
          notes: "1.00 = no cost",
        },
        { name: "audit spool batch (10 lines)", unit: "us", figures: us(batches) },
        { name: "write(2) of the same line (reference)", unit: "us", figures: us(raw) },
        {
          name: "after an fdatasync: nothing (two clock reads)",
          unit: "us",
          figures: us(probes.nothing),
          notes: `${floorN} samples; each probe below runs right after an fdatasync of its own, alternating`,
        },
        {
          name: "after an fdatasync: SHA-256 of the record JSON",
          unit: "us",
          figures: us(probes.sha),
          notes: `${Buffer.byteLength(json)} B`,
        },
        {
          name: "after an fdatasync: postMessage of the record's binding to a worker",
          unit: "us",
          figures: us(handoffs.post),
          notes: "the JSON and its trade fields, structured-cloned",
        },
        {
          name: "after an fdatasync: Atomics.notify waking a worker",
          unit: "us",
          figures: us(handoffs.notify),
          notes: "one word in shared memory",
        },
        {
          name: "after an fdatasync: the record into a shared ring a worker polls",
          unit: "us",
          figures: us(handoffs.ring),
          notes: `the JSON's UTF-8 and its journal seq, no wake-up: the worker looks every 1 ms (${ring.drained()} hashed there, ${ring.full} found the ring full)`,
        },
        { name: "sha256 of 300 B", unit: "us", figures: us(sha) },
        { name: "ed25519 sign of 300 B", unit: "us", figures: us(sg) },
        { name: "ed25519 verify of 300 B", unit: "us", figures: us(vf) },
        {
          name: "audit verify (whole trail and the journal rows)",
          unit: "entries/s",
          figures: {
            perSecond: rep.entries / vs,
            entries: rep.entries,
            rows: rep.journal?.checkedRows ?? 0,
            ok: rep.ok ? 1 : 0,
          },
        },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
      rmSync(plainDir, { recursive: true, force: true, maxRetries: 5 });
    }
  },
};
