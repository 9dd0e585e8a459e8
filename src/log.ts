/** The process logger: pino, configured once by the CLI entry point and injected everywhere else. */
import { destination, pino } from "pino";
import type { Logger } from "../firmware-bridge/log.js";

export interface LogOptions {
  level?: string;
  /** Write to this file instead of stderr. */
  file?: string;
}

export function createLogger(name: string, opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.ETC_LOG_LEVEL ?? "info";
  const dest = opts.file ? destination({ dest: opts.file, mkdir: true, sync: false }) : destination(2);
  return pino({ name, level, base: { pid: process.pid } }, dest) as unknown as Logger;
}
