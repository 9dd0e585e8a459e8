#!/usr/bin/env node
/**
 * `etc-sim`: the simulators (RSU with OBUs and cards, card reader, station server) and the demo.
 * Each sub-command lives in its own module under ./commands and registers itself here.
 */
import { Command } from "commander";
import { runCli } from "../../src/cli/run-cli.js";
import { registerDemo } from "./commands/demo.js";
import { registerReader } from "./commands/reader.js";
import { registerReplay } from "./commands/replay.js";
import { registerRsu } from "./commands/rsu.js";
import { registerStation } from "./commands/station.js";
import { registerStatusList } from "./commands/status-list.js";
import { registerTac } from "./commands/tac.js";
import { ignoreStdoutEpipe } from "./stdout-epipe.js";

export function buildProgram(): Command {
  const program = new Command("etc-sim")
    .description("RSU/OBU/card, card reader and station simulators for etc-lane and other lane software")
    .version("0.1.0");
  registerRsu(program);
  registerReader(program);
  registerDemo(program);
  registerReplay(program);
  registerTac(program);
  registerStation(program);
  registerStatusList(program);
  return program;
}

// every command: a stdout whose reader went away (`| head`) is no reason to die in the middle of a shutdown
ignoreStdoutEpipe();
// errors name card numbers in full: the simulators' cards are test cards, and `status-list build` names the
// CSV entry it refuses for whoever is fixing that CSV (src/cli/run-cli.ts masks for etc-lane only)
await runCli(buildProgram(), process.argv, { maskCards: false });
