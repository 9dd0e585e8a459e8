/**
 * `etc-lane lane open|close`: an operator opens or closes the lane, through the running lane's control
 * socket; the lane records who did it in its audit trail. Without a running lane, on the data directory
 * under its lock (../stopped-lane-operator.ts): the close is the journal setting the lane reads when it starts, so a
 * lane started later stays closed until `lane open`; recorded in the trail with `via: "direct"`.
 */
import type { Command } from "commander";
import type { LaneLocationOptions } from "../lane-locate.js";
import {
  addOperatorOptions,
  answerTimeoutMs,
  checkReasonLength,
  operatorCall,
  printOutcome,
} from "../operator-call.js";
import { locateExistingLane } from "../require-data-dir.js";
import { UsageError } from "../run-cli.js";

interface Opts extends LaneLocationOptions {
  json?: boolean;
  timeout?: string;
  reason?: string;
}

export function registerLane(program: Command): void {
  const lane = program
    .command("lane")
    .description("operator actions: open, close (the running lane, or the data directory when none runs)");
  addOperatorOptions(
    lane
      .command("open")
      .description(
        "lift an operator's close: the lane opens again when it can (RSU up; after a journal failure, only a restart)",
      )
      .option("--json", "print the result as JSON"),
  ).action(async (o: Opts) => {
    printOutcome(
      await operatorCall(
        locateExistingLane(o),
        { action: "lane.open" },
        {
          command: "etc-lane lane open",
          direct: (op, user) => op.openLane(user),
          timeoutMs: answerTimeoutMs(o),
        },
      ),
      o.json,
    );
  });
  addOperatorOptions(
    lane
      .command("close")
      .description(
        "close the lane (antenna off, vehicles to the manual lane) until `etc-lane lane open`, across restarts",
      )
      .requiredOption("--reason <text>", 'why, for the audit trail and the page (e.g. "barrier maintenance")')
      .option("--json", "print the result as JSON"),
  ).action(async (o: Opts) => {
    const reason = (o.reason ?? "").trim();
    if (!reason) throw new UsageError("--reason: say why the lane closes (it goes into the audit trail)");
    // the same limit with and without a running lane (src/service/control/protocol.ts OPERATOR_REASON_MAX)
    checkReasonLength(reason);
    printOutcome(
      await operatorCall(
        locateExistingLane(o),
        { action: "lane.close", reason },
        {
          command: "etc-lane lane close",
          direct: (op, user) => op.closeLane(user, reason),
          timeoutMs: answerTimeoutMs(o),
        },
      ),
      o.json,
    );
  });
}
