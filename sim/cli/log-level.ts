/**
 * `--log-level` of the etc-sim commands that log to stderr (rsu, reader, replay): checked like every other
 * option, naming it and the levels it takes (pino's own refusal, "default level:loud must be included in
 * custom levels", names neither), then the stderr logger at that level.
 */
import pino from "pino";
import type { Logger } from "../../firmware-bridge/log.js";
import { UsageError } from "../../src/cli/run-cli.js";
import { LOG_LEVELS } from "../../src/log.js";

export const LOG_LEVEL_HELP = `stderr log level: ${LOG_LEVELS.join(", ")}`;

/** The stderr logger at `--log-level`; a UsageError naming the option for a level pino does not have. */
export function stderrLogger(level: string): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
  return pino({ level }, pino.destination(2)) as unknown as Logger;
}
