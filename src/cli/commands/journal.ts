/**
 * `etc-lane journal requeue-held` and `etc-lane journal retention --now`: operator actions on the
 * journal. Through the running lane when one answers (the lane does it and records it); otherwise on the
 * data directory directly, under the data-directory lock, recorded in the audit trail the same way.
 */
import type { Command } from "commander";
import { addLaneOptions, type LaneLocationOptions, locateLane } from "../lane-locate.js";
import { operatorCall, printOutcome } from "../operator-call.js";
import { UsageError } from "../run-cli.js";

interface Opts extends LaneLocationOptions {
  json?: boolean;
  now?: boolean;
}

export function registerJournal(program: Command): void {
  const journal = program
    .command("journal")
    .description("operator actions on the journal: requeue held records, run retention now");
  addLaneOptions(
    journal
      .command("requeue-held")
      .description("put every record the station refused (held) back into the upload queue")
      .option("--json", "print the result as JSON"),
  ).action(async (o: Opts) => {
    printOutcome(
      await operatorCall(
        locateLane(o),
        { action: "journal.requeue-held" },
        { command: "etc-lane journal requeue-held", direct: (op, user) => op.requeueHeld(user) },
      ),
      o.json,
    );
  });
  addLaneOptions(
    journal
      .command("retention")
      .description(
        "delete acknowledged records past the retention period now (the lane also does it on its schedule)",
      )
      .option("--now", "run it now")
      .option("--json", "print the result as JSON"),
  ).action(async (o: Opts) => {
    if (!o.now)
      throw new UsageError(
        "retention runs on the lane's schedule; give --now to run it now (it never deletes a record the station has not acknowledged)",
      );
    printOutcome(
      await operatorCall(
        locateLane(o),
        { action: "journal.retention" },
        { command: "etc-lane journal retention --now", direct: (op, user) => op.runRetention(user) },
      ),
      o.json,
    );
  });
}
