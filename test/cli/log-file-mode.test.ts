/**
 * `log.file` (src/log.ts): a file the lane creates is the lane user's alone (0600, its missing directories
 * 0700), as the data directory is, since its lines may name card ids; an existing file that group or others
 * can read keeps its mode and is warned about once, in the log's first line.
 */
import { type EventEmitter, once } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, assert, beforeEach, expect, it } from "vitest";
import type { Logger } from "../../firmware-bridge/log.js";
import { createLogger } from "../../src/log.js";

let root: string;
let umask: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "etc-log-mode-"));
  umask = process.umask(0o022); // the usual one: a file made without a mode would get 0644, a directory 0755
});
afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

const mode = (p: string): number => statSync(p).mode & 0o777;

/** The logger's lines, once its destination has written them all and closed the file (it writes asynchronously). */
async function linesOf(
  logger: Logger,
  file: string,
): Promise<{ level: number; msg: string; mode?: string }[]> {
  const dest = (logger as unknown as Record<symbol, EventEmitter & { end(): void }>)[pino.symbols.streamSym];
  assert(dest, "the logger's destination");
  const closed = once(dest, "close");
  dest.end();
  await closed;
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

// review: the log file was created 0644 and its directories 0755, readable by every local user
it("a log file it creates is 0600 and its missing directories 0700, with no warning", async () => {
  const file = join(root, "var", "log", "lane.log");
  const logger = createLogger("t", { file });
  logger.info("vehicle 1 paid");
  expect(await linesOf(logger, file)).toEqual([expect.objectContaining({ msg: "vehicle 1 paid" })]);
  expect(mode(file)).toBe(0o600);
  expect(mode(join(root, "var", "log"))).toBe(0o700);
  expect(mode(join(root, "var"))).toBe(0o700);
});

it("an existing log file group or others can read keeps its mode and is warned about once; a 0600 one is not", async () => {
  const open = join(root, "open.log");
  writeFileSync(open, "");
  chmodSync(open, 0o644);
  const logger = createLogger("t", { file: open });
  logger.info("vehicle 1 paid");
  expect(await linesOf(logger, open)).toEqual([
    expect.objectContaining({
      level: 40,
      mode: "0644",
      msg: `log.file ${open} is readable by group or others (mode 0644): its lines may name card ids (a record the journal refused, a failing frame); make it the lane user's alone (chmod 600 ${open})`,
    }),
    expect.objectContaining({ level: 30, msg: "vehicle 1 paid" }),
  ]);
  expect(mode(open)).toBe(0o644);

  const closed = join(root, "closed.log");
  writeFileSync(closed, "");
  chmodSync(closed, 0o600);
  const quiet = createLogger("t", { file: closed });
  quiet.info("vehicle 2 paid");
  expect(await linesOf(quiet, closed)).toEqual([expect.objectContaining({ msg: "vehicle 2 paid" })]);
});
