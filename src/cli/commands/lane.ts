/**
 * `etc-lane lane open|close`: an operator opens or closes the running lane, through its control socket.
 * The lane records who did it in its audit trail. Without a running lane there is nothing to open or
 * close: the command says so and exits 1.
 */
import type { Command } from "commander";
import { addLaneOptions, type LaneLocationOptions, locateLane } from "../lane-locate.js";
import { operatorCall, printOutcome } from "../operator-call.js";
import { UsageError } from "../run-cli.js";

interface Opts extends LaneLocationOptions {
  json?: boolean;
  reason?: string;
}

export function registerLane(program: Command): void {
  const lane = program.command("lane").description("operator actions on the running lane: open, close");
  addLaneOptions(
    lane
      .command("open")
      .description("lift an operator's close: the lane opens again when it can (RSU up, journal writable)")
      .option("--json", "print the result as JSON"),
  ).action(async (o: Opts) => {
    printOutcome(
      await operatorCall(locateLane(o), { action: "lane.open" }, { command: "etc-lane lane open" }),
      o.json,
    );
  });
  addLaneOptions(
    lane
      .command("close")
      .description("close the lane (antenna off, vehicles to the manual lane) until `etc-lane lane open`")
      .requiredOption("--reason <text>", 'why, for the audit trail and the page (e.g. "barrier maintenance")')
      .option("--json", "print the result as JSON"),
  ).action(async (o: Opts) => {
    const reason = (o.reason ?? "").trim();
    if (!reason) throw new UsageError("--reason: say why the lane closes (it goes into the audit trail)");
    printOutcome(
      await operatorCall(locateLane(o), { action: "lane.close", reason }, { command: "etc-lane lane close" }),
      o.json,
    );
  });
}
