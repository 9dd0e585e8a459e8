#!/usr/bin/env node
/**
 * `etc-lane`: the lane controller CLI. Each sub-command lives in its own module under ./commands and
 * registers itself here. The errors a command raises reach the user as one clear line and a non-zero exit,
 * never a stack. A crash (a throw nothing catches, outside a command's own await) is left to Node: a stack
 * on stderr and exit 1, so that systemd's `Restart=on-failure` restarts the lane (docs/maintenance.md).
 */
import { Command, CommanderError } from "commander";
import { APP_VERSION } from "../version.js";
import { registerAudit } from "./commands/audit.js";
import { registerBooth } from "./commands/booth.js";
import { registerDecode } from "./commands/decode.js";
import { registerJournal } from "./commands/journal.js";
import { registerLane } from "./commands/lane.js";
import { registerRun } from "./commands/run.js";
import { registerStatus } from "./commands/status.js";
import { registerStatusList } from "./commands/status-list.js";
import { registerTransactions } from "./commands/transactions.js";
import { runCli } from "./run-cli.js";
import { installStdoutErrors } from "./stdout-errors.js";

export function buildProgram(): Command {
  const program = new Command("etc-lane")
    .description("ETC lane controller: RSU link, OBU transactions, status list, journal and uplink")
    .version(APP_VERSION);
  registerDecode(program);
  registerRun(program);
  registerTransactions(program);
  registerAudit(program);
  registerStatusList(program);
  registerStatus(program);
  registerLane(program);
  registerJournal(program);
  registerBooth(program);
  return program;
}

// a broken stdout: a short-lived command stops quietly, `etc-lane run` trades on (./stdout-errors.ts);
// installed before commander writes anything (help, the version), replaced for `run`
const forAction = installStdoutErrors();
const program = buildProgram();
program.hook("preAction", (_program, action) => forAction(action));
await runCli(program, process.argv);
void CommanderError;
