/**
 * Shared by both CLIs: run a commander program and turn any error into one line on stderr, with every card
 * number in it masked (src/service/format.ts maskCardIds, as in the commands' output) unless the command
 * was given --full-ids.
 */
import { type Command, CommanderError } from "commander";
import { EtcError } from "../../firmware-bridge/errors.js";
import { maskCardIds } from "../service/format.js";

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
  // masked until a command that was given --full-ids starts (an error before that is masked too)
  let fullIds = false;
  program.hook("preAction", (_program, command) => {
    fullIds = command.opts().fullIds === true;
  });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message (help, version, unknown option)
      process.exitCode = e.exitCode;
      return;
    }
    const name = program.name();
    const shown = (text: string): string => (fullIds ? text : maskCardIds(text));
    if (e instanceof EtcError) process.stderr.write(`${name}: ${shown(e.message)} [${e.code}]\n`);
    else if (e instanceof Error) process.stderr.write(`${name}: ${shown(e.message)}\n`);
    else process.stderr.write(`${name}: ${shown(String(e))}\n`);
    if (process.env.ETC_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${shown(e.stack)}\n`);
    process.exitCode =
      e instanceof CommandExit
        ? e.exitCode
        : process.exitCode && process.exitCode !== 0
          ? process.exitCode
          : 1;
  }
}
