/**
 * The journal's integrity check after open: SQLite's `PRAGMA quick_check` of the whole file (every b-tree
 * page, the free list, the record formats; not the indexes against their tables) in a worker thread with
 * a read-only connection of its own, once per open. The lane's thread and its start do not wait for it:
 * on a journal of 100,000 records (427 MB) it took 1.7-3.2 s with the file in the page cache and 23 s
 * without on the project's VM (docs/journal.md, "A damaged journal"), and a lane with 90 days of records
 * holds several times that. What it finds the journal treats as a damaged file met by a read
 * (./db.ts fail(): unhealthy, DAMAGED_FILE, the next open refused).
 *
 * The worker is plain CommonJS evaluated in place, as the checkpointer's (./checkpointer.ts).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Logger } from "../../firmware-bridge/log.js";
import { backgroundCpus } from "../threads.js";
import { WORKER_PRELUDE } from "./checkpointer.js";

const WORKER_SOURCE = `${WORKER_PRELUDE}
const t0 = performance.now();
let db;
try {
  const Database = require(workerData.sqlite);
  db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  const rows = db.pragma("quick_check(" + workerData.maxErrors + ")").map((r) => String(r.quick_check));
  const errors = rows.length === 1 && rows[0] === "ok" ? [] : rows;
  parentPort.postMessage({ kind: "done", ms: performance.now() - t0, errors });
} catch (e) {
  parentPort.postMessage({
    kind: "threw",
    ms: performance.now() - t0,
    code: e && typeof e.code === "string" ? e.code : null,
    message: String(e && e.message ? e.message : e),
  });
} finally {
  try {
    if (db) db.close();
  } catch {}
}
`;

/** What quick_check found; `sqliteCode` and `message` as the journal's failure path takes them. */
export type IntegrityResult =
  | { kind: "ok"; ms: number }
  /** quick_check listed problems (SQLITE_CORRUPT then), or SQLite could not read the file as a database */
  | { kind: "damaged"; ms: number; sqliteCode: string; message: string }
  /** an I/O error while reading the file */
  | { kind: "io-error"; ms: number; sqliteCode: string; message: string }
  /** the check did not run to its end (the worker could not start, the file was busy, the journal closed) */
  | { kind: "not-run"; ms: number; message: string };

/** quick_check's problems past these are not listed (it stops there) */
const MAX_ERRORS = 10;

export class IntegrityCheck {
  private readonly worker: Worker;
  private closed = false;
  /** settles once, with what the check found */
  readonly result: Promise<IntegrityResult>;

  constructor(path: string, log: Logger) {
    const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    const cpus = backgroundCpus();
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, sqlite, maxErrors: MAX_ERRORS, backgroundCpus: cpus ? cpus.join(",") : null },
    });
    this.worker.unref();
    this.result = new Promise<IntegrityResult>((resolve) => {
      this.worker.on(
        "message",
        (m: { kind: string; ms: number; errors?: string[]; code?: string | null; message?: string }) => {
          if (m.kind === "done" && m.errors?.length === 0) resolve({ kind: "ok", ms: m.ms });
          else if (m.kind === "done")
            resolve({
              kind: "damaged",
              ms: m.ms,
              sqliteCode: "SQLITE_CORRUPT",
              message: `quick_check: ${(m.errors ?? []).join("; ")}`,
            });
          else if (m.code && /^SQLITE_(CORRUPT|NOTADB)/.test(m.code))
            resolve({ kind: "damaged", ms: m.ms, sqliteCode: m.code, message: m.message ?? "" });
          else if (m.code?.startsWith("SQLITE_IOERR"))
            resolve({ kind: "io-error", ms: m.ms, sqliteCode: m.code, message: m.message ?? "" });
          else resolve({ kind: "not-run", ms: m.ms, message: m.message ?? "" });
        },
      );
      this.worker.on("error", (e) => {
        if (!this.closed) log.warn({ err: e.message }, "journal integrity check stopped");
        resolve({ kind: "not-run", ms: 0, message: e.message });
      });
      this.worker.on("exit", () => resolve({ kind: "not-run", ms: 0, message: "the check was stopped" }));
    });
  }

  /**
   * Stops the check (resolves once its thread has ended, or after 2 s: a quick_check under way ends only
   * when SQLite returns, and the unref'd thread does not hold the process).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.race([
      this.worker.terminate().then(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, 2000).unref()),
    ]);
  }
}
