/** Shared by both CLIs: run a commander program and turn any error into one line on stderr. */
import { type Command, CommanderError } from "commander";
import { EtcError } from "../../firmware-bridge/errors.js";

export class UsageError extends Error {}

/** An error that ends the command with its own exit status (src/cli/exit-codes.ts) rather than 1. */
export class CommandExit extends EtcError {
  constructor(
    code: string,
    message: string,
    readonly exitCode: number,
  ) {
    super(code, message);
  }
}

export async function runCli(program: Command, argv: string[]): Promise<void> {
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message (help, version, unknown option)
      process.exitCode = e.exitCode;
      return;
    }
    const name = program.name();
    if (e instanceof EtcError) process.stderr.write(`${name}: ${e.message} [${e.code}]\n`);
    else if (e instanceof Error) process.stderr.write(`${name}: ${e.message}\n`);
    else process.stderr.write(`${name}: ${String(e)}\n`);
    if (process.env.ETC_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode =
      e instanceof CommandExit
        ? e.exitCode
        : process.exitCode && process.exitCode !== 0
          ? process.exitCode
          : 1;
  }
}
