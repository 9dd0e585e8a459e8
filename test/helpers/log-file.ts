/** The text a lane logger (src/log.ts createLogger with a `file`) wrote, once its destination closed. */
import { type EventEmitter, once } from "node:events";
import { readFileSync } from "node:fs";
import pino from "pino";
import { assert } from "vitest";
import type { Logger } from "../../firmware-bridge/log.js";

/** The log file's text, once the logger's destination has written it all and closed it. */
export async function logFileText(logger: Logger, file: string): Promise<string> {
  const dest = (logger as unknown as Record<symbol, EventEmitter & { end(): void }>)[pino.symbols.streamSym];
  assert(dest, "the logger's destination");
  const closed = once(dest, "close");
  dest.end();
  await closed;
  return readFileSync(file, "utf8");
}

/** Its lines, parsed. */
export async function logFileLines(logger: Logger, file: string): Promise<Record<string, unknown>[]> {
  return (await logFileText(logger, file))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
