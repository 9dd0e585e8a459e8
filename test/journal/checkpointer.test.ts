/**
 * The WAL checkpoint worker (src/journal/checkpointer.ts) when it dies: here it fails at start, as it does
 * when its connection cannot be opened (EMFILE, SQLITE_CANTOPEN; a journal file that is not there). Its
 * close then settles at once, without a timer (review: it waited for an "exit" the worker had already
 * sent, so `etc-lane run`'s stop ended with Node's exit code 13, the lock not released and a start error
 * never printed), and a checkpoint asked for is refused instead of waited for.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { Checkpointer } from "../../src/journal/checkpointer.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-checkpointer-"));
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

/** A logger that keeps its error lines. */
function errorLog(): { log: Logger; errors: unknown[] } {
  const errors: unknown[] = [];
  const log: Logger = { ...silentLogger, error: (o, msg) => errors.push([o, msg]) };
  return { log, errors };
}

it("a worker that fails at start: now() rejects (asked before or after it died), the failure is logged", async () => {
  const { log, errors } = errorLog();
  // the worker opens the journal with fileMustExist: no such file, so it throws at start
  const c = new Checkpointer(join(dir, "no-journal.db"), 3_600_000, log);
  await expect(c.now()).rejects.toThrow(
    "the checkpoint worker stopped: unable to open database file (SQLITE_CANTOPEN)",
  );
  await expect(c.now()).rejects.toThrow("the checkpoint worker stopped");
  // with what failed (better-sqlite3's error reaches this thread as its code alone, unless rethrown)
  expect(errors).toEqual([
    [
      { err: "unable to open database file (SQLITE_CANTOPEN)" },
      "journal checkpointer stopped (the journal's own auto-checkpoint still runs)",
    ],
  ]);
  await c.close();
});

it("close() of a worker that already died settles at once, waiting on no timer", async () => {
  const c = new Checkpointer(join(dir, "no-journal.db"), 3_600_000, silentLogger);
  // rejected on the worker's exit: it is gone by now
  await expect(c.now()).rejects.toThrow("the checkpoint worker stopped");
  // no timer fires from here on (a timer of close()'s own would wait for ever): only a close that needs
  // none settles before the next turn of the event loop
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
  const closed = c.close().then(() => "closed");
  const turn = new Promise<string>((resolve) => setImmediate(() => resolve("still pending")));
  expect(await Promise.race([closed, turn])).toBe("closed");
});
