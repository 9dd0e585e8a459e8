/**
 * `etc-lane booth list|take|cancel`: the collector's actions on the running lane's booth, through its
 * control socket (src/service/control/booth-actions.ts, docs/booth.md §6). The booth works the case at
 * the head of its queue as soon as a card is put on the reader; `take` chooses another case, a walk-up
 * vehicle, or gives the vehicle class; `cancel` closes a case without a card payment. Without a running
 * lane there is no booth: the command says so and exits 1; a data directory that does not exist (a mistyped
 * `--data-dir`) is refused before that, as every maintenance command refuses it (../require-data-dir.ts).
 */
import type { Command } from "commander";
import type { BoothCaseLine } from "../../service/control/booth-actions.js";
import { maskCardId, maskCardIds } from "../../service/format.js";
import { isVehicleClass, VEHICLE_CLASSES_TEXT } from "../../tariff/vehicle-class.js";
import type { LaneLocationOptions } from "../lane-locate.js";
import {
  addOperatorOptions,
  answerTimeoutMs,
  checkReasonLength,
  type OperatorOutcome,
  operatorCall,
  printOutcome,
} from "../operator-call.js";
import { locateExistingLane } from "../require-data-dir.js";
import { UsageError } from "../run-cli.js";
import { table } from "../text-table.js";

interface Opts extends LaneLocationOptions {
  json?: boolean;
  timeout?: string;
  fullIds?: boolean;
  class?: string;
  walkUp?: boolean;
  reason?: string;
}

/** hh:mm:ss of the lane's local time (the ISO string the lane sent, in its own offset) */
const when = (iso: string): string => iso.slice(11, 19);

export function caseTable(cases: BoothCaseLine[], fullIds = false): string[] {
  const rows = [
    ["CASE", "STATUS", "SINCE", "WHY", "", "PLATE", "OBU", "CARD", "CLASS"],
    ...cases.map((c) => [
      c.id,
      c.status,
      when(c.openedAtLocal),
      c.reason,
      fullIds ? c.detail : maskCardIds(c.detail),
      c.plate ?? "-",
      c.obuId ?? "-",
      c.cardId ? (fullIds ? c.cardId : maskCardIds(c.cardId)) : "-",
      c.vehicleClass === null ? "-" : String(c.vehicleClass),
    ]),
  ];
  return table(rows);
}

/** A case with its card number masked, in its column and in its detail (the lane's free text may name it). */
const maskedCase = (c: BoothCaseLine): BoothCaseLine => ({
  ...c,
  detail: maskCardIds(c.detail),
  cardId: c.cardId && maskCardId(c.cardId),
});

/** The outcome with its `data` changed (`--json` without `--full-ids`). */
const withData = (out: OperatorOutcome, data: Record<string, unknown>): OperatorOutcome => ({
  ...out,
  result: { ...out.result, data: { ...out.result.data, ...data } },
});

/** The list's outcome with each case's card number masked (`--json` without `--full-ids`). */
export function withCardsMasked(out: OperatorOutcome, cases: BoothCaseLine[]): OperatorOutcome {
  if (!out.result.data || cases.length === 0) return out;
  return withData(out, { cases: cases.map(maskedCase) });
}

/** A take's outcome with the taken case's card number masked (`--json` without `--full-ids`). */
export function withTakenCardMasked(out: OperatorOutcome): OperatorOutcome {
  const taken = out.result.data?.case as BoothCaseLine | undefined;
  if (!taken) return out;
  return withData(out, { case: maskedCase(taken) });
}

export function registerBooth(program: Command): void {
  const booth = program
    .command("booth")
    .description("the booth's queue on the running lane: list, take a case, cancel a case");
  addOperatorOptions(
    booth
      .command("list")
      .description("the vehicles waiting at the booth (why, since when, OBU, card)")
      .option("--json", "print the result as JSON")
      .option("--full-ids", "print whole card numbers (masked by default, in the table and in JSON)"),
  ).action(async (o: Opts) => {
    const out = await operatorCall(
      locateExistingLane(o),
      { action: "booth.list" },
      { command: "etc-lane booth list", timeoutMs: answerTimeoutMs(o) },
    );
    const cases = (out.result.data?.cases ?? []) as BoothCaseLine[];
    if (o.json || !out.result.ok || cases.length === 0) {
      printOutcome(o.fullIds ? out : withCardsMasked(out, cases), o.json, { fullIds: o.fullIds });
      return;
    }
    process.stdout.write(`${caseTable(cases, o.fullIds === true).join("\n")}\n`);
  });
  addOperatorOptions(
    booth
      .command("take [case]")
      .description(
        "work this case next (default: the head of the queue); it starts when a card is on the reader",
      )
      .option("--class <n>", "vehicle class (JT/T 489) when neither the OBU nor the card gives one")
      .option("--walk-up", "a vehicle with no DSRC attempt (needs --class)")
      .option("--json", "print the result as JSON")
      .option("--full-ids", "print the case's whole card number in JSON (masked by default)"),
  ).action(async (id: string | undefined, o: Opts) => {
    let vehicleClass: number | undefined;
    if (o.class !== undefined) {
      vehicleClass = Number(o.class);
      if (!isVehicleClass(vehicleClass))
        throw new UsageError(
          `--class: expected a JT/T 489 vehicle class (${VEHICLE_CLASSES_TEXT}), got "${o.class}"`,
        );
    }
    if (o.walkUp && id) throw new UsageError("--walk-up makes a new case: give no case id");
    const out = await operatorCall(
      locateExistingLane(o),
      {
        action: "booth.take",
        ...(id ? { id } : {}),
        ...(vehicleClass !== undefined ? { vehicleClass } : {}),
        ...(o.walkUp ? { walkUp: true } : {}),
      },
      { command: "etc-lane booth take", timeoutMs: answerTimeoutMs(o) },
    );
    printOutcome(o.fullIds ? out : withTakenCardMasked(out), o.json, { fullIds: o.fullIds });
  });
  addOperatorOptions(
    booth
      .command("cancel [case]")
      .description(
        "close a case without a card payment (cash, sent on); default: the taken case, else the first that is not a debit being recovered",
      )
      .requiredOption("--reason <text>", "why, for the journal and the audit trail")
      .option("--json", "print the result as JSON"),
  ).action(async (id: string | undefined, o: Opts) => {
    const reason = (o.reason ?? "").trim();
    if (!reason) throw new UsageError("--reason: say why the case closes (it goes into the journal)");
    // refused here as `lane close` refuses it, not by the lane as a bad request (protocol.ts OPERATOR_REASON_MAX)
    checkReasonLength(reason);
    printOutcome(
      await operatorCall(
        locateExistingLane(o),
        { action: "booth.cancel", ...(id ? { id } : {}), reason },
        { command: "etc-lane booth cancel", timeoutMs: answerTimeoutMs(o) },
      ),
      o.json,
    );
  });
}
