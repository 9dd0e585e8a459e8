/**
 * Shared by both CLIs: run a commander program and turn any error into one line on stderr. etc-lane masks
 * every card number in it (src/service/format.ts maskCardIds, as in the commands' output) unless the
 * command was given --full-ids: commander's own messages too (an unknown command or option, a missing
 * argument), which are written before any command starts, so there `--full-ids` among the arguments
 * decides. etc-sim does not mask (`maskCards: false`): its cards are test cards, and the integrator
 * debugging a CSV with `etc-sim status-list build` needs the number its error names.
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

export interface RunCliOptions {
  /** mask card numbers in error messages unless --full-ids (default true; etc-sim: false) */
  maskCards?: boolean;
}

/** The program and every command under it (commander copies its settings to a sub-command only when made). */
function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap(allCommands)];
}

/** Whether `--full-ids` is among the arguments (before a `--`, after which nothing is an option). */
function fullIdsInArgs(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--full-ids");
}

export async function runCli(program: Command, argv: string[], opts: RunCliOptions = {}): Promise<void> {
  const maskCards = opts.maskCards ?? true;
  const commanderMasks = maskCards && !fullIdsInArgs(argv.slice(2));
  // every command, not only the program: a sub-command's parse error is written and thrown by it
  for (const c of allCommands(program)) {
    c.exitOverride();
    c.configureOutput({ writeErr: (s) => process.stderr.write(commanderMasks ? maskCardIds(s) : s) });
  }
  // masked until a command that was given --full-ids starts (an error before that is masked too)
  let fullIds = false;
  program.hook("preAction", (_program, command) => {
    fullIds = command.opts().fullIds === true;
  });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message (help, version, unknown option), through writeErr above
      process.exitCode = e.exitCode;
      return;
    }
    const name = program.name();
    const shown = (text: string): string => (!maskCards || fullIds ? text : maskCardIds(text));
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
