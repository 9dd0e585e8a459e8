/**
 * `etc-lane journal requeue-held`, `etc-lane journal retention --now` and `etc-lane journal settle`:
 * operator actions on the journal. Through the running lane when one answers (the lane does it and records it); otherwise on the
 * data directory directly, under the data-directory lock, recorded in the audit trail the same way.
 * `etc-lane journal resolve-intent` on the data directory only (../kept-intent.ts).
 */
import type { Command } from "commander";
import {
  type OperatorSettleRequest,
  PROOF_FIELDS,
  PROOF_FORMS,
  type ProofField,
} from "../../lane/operator-settlement.js";
import { directDeps } from "../direct-session.js";
import { type ResolveIntentRequest, resolveKeptIntentDirect } from "../kept-intent.js";
import type { LaneLocationOptions } from "../lane-locate.js";
import { addLaneOptions } from "../lane-locate.js";
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
  now?: boolean;
  conflicts?: boolean;
}

interface SettleOpts extends Opts, Partial<Record<ProofField, string>> {
  debited?: boolean;
  notDebited?: boolean;
  reason?: string;
}

/** The request `journal settle` sends, from its arguments; a UsageError names what is wrong. */
export function settleRequest(seqArg: string, o: SettleOpts): OperatorSettleRequest {
  const seq = Number(seqArg);
  if (!/^\d+$/.test(seqArg) || !Number.isSafeInteger(seq) || seq < 1)
    throw new UsageError(
      `SEQ must be the suspect's journal sequence number (a whole number >= 1), got "${seqArg}"; etc-lane transactions list --kind suspect lists them`,
    );
  if (o.debited === o.notDebited)
    throw new UsageError(
      "give exactly one of --debited (the back office found the debit: give its TAC and what the suspect lacks) and --not-debited (no money moved)",
    );
  if (o.reason === undefined || o.reason.trim() === "")
    throw new UsageError(
      "give --reason TEXT: what the back office established (kept with the record and in the audit trail)",
    );
  // the same limit with and without a running lane (src/service/control/protocol.ts OPERATOR_REASON_MAX)
  checkReasonLength(o.reason);
  const proof: Partial<Record<ProofField, string>> = {};
  for (const f of PROOF_FIELDS) if (o[f] !== undefined) proof[f] = o[f];
  return {
    seq,
    verdict: o.debited ? "debited" : "not-debited",
    reason: o.reason,
    ...(Object.keys(proof).length > 0 ? { proof } : {}),
  };
}

interface ResolveIntentOpts extends LaneLocationOptions {
  json?: boolean;
  fullIds?: boolean;
  resolved?: boolean;
  recover?: boolean;
  reason?: string;
}

/** The request `journal resolve-intent` makes, from its arguments; a UsageError names what is wrong. */
export function resolveIntentRequest(idArg: string, o: ResolveIntentOpts): ResolveIntentRequest {
  const id = Number(idArg);
  if (!/^\d+$/.test(idArg) || !Number.isSafeInteger(id) || id < 1)
    throw new UsageError(
      `ID must be the debit intent's id (a whole number >= 1, as DEBIT_INTENT_BEHIND_TRAIL names it), got "${idArg}"`,
    );
  if (o.resolved === o.recover)
    throw new UsageError(
      "give exactly one of --resolved (a record missing from journal.db resolved the intent: it is deleted, nothing recorded) and --recover (none did: the lane recovers it at its next start)",
    );
  if (o.reason === undefined || o.reason.trim() === "")
    throw new UsageError("give --reason TEXT: what the back office established (kept in the audit trail)");
  checkReasonLength(o.reason);
  return { id, how: o.resolved ? "resolved" : "recover", reason: o.reason };
}

export function registerJournal(program: Command): void {
  const journal = program
    .command("journal")
    .description(
      "operator actions on the journal: requeue held records, run retention now, settle a suspect by hand, resolve a debit intent kept behind the audit trail (stopped lane only)",
    );
  addOperatorOptions(
    journal
      .command("requeue-held")
      .description(
        "put the records held (the station refused them, or failed on them) back into the upload queue; those held for a CONFLICT only with --conflicts",
      )
      .option(
        "--conflicts",
        "also release the records held for a CONFLICT (the station holds another record under the trade id): compare the two first, as the record sent replaces the other at a station that replaces on a higher revision",
      )
      .option("--json", "print the result as JSON"),
  ).action(async (o: Opts) => {
    const conflicts = o.conflicts === true;
    printOutcome(
      await operatorCall(
        locateExistingLane(o),
        // the field only when given: the request without it is the one a lane before it takes
        { action: "journal.requeue-held", ...(conflicts ? { conflicts } : {}) },
        {
          command: `etc-lane journal requeue-held${conflicts ? " --conflicts" : ""}`,
          direct: (op, user) => op.requeueHeld(user, { conflicts }),
          timeoutMs: answerTimeoutMs(o),
        },
      ),
      o.json,
    );
  });
  addOperatorOptions(
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
        locateExistingLane(o),
        { action: "journal.retention" },
        {
          command: "etc-lane journal retention --now",
          direct: (op, user) => op.runRetention(user),
          timeoutMs: answerTimeoutMs(o),
        },
      ),
      o.json,
    );
  });
  let settle = journal
    .command("settle")
    .description(
      "settle a suspect (an uncertain debit) by hand, as the back office established it: the record becomes the paid transaction (--debited, with the TAC) or a stop (--not-debited), and the lane no longer holds its card and OBU for it (another open suspect or debit intent naming them keeps them held). Through the running lane; without one, on the data directory, which needs --config FILE (the lane's role)",
    )
    .argument("<seq>", "the suspect's journal sequence number (etc-lane transactions list --kind suspect)")
    .option("--debited", "the card was debited: give the TAC and whatever clearing field the suspect lacks")
    .option(
      "--not-debited",
      "no money moved: the suspect becomes a stop (amount 0) and the card may pay once",
    )
    .option("--reason <text>", "what the back office established (required)");
  for (const f of PROOF_FIELDS)
    settle = settle.option(
      `${PROOF_FORMS[f].option} <value>`,
      `with --debited: ${f} (${PROOF_FORMS[f].expected})`,
    );
  addLaneOptions(
    journal
      .command("resolve-intent")
      .description(
        "on a stopped lane: resolve a debit intent journal.db held when it was found behind the audit trail (DEBIT_INTENT_BEHIND_TRAIL), which the lane neither recovers nor lets its card pay",
      )
      .argument("<id>", "the intent's id, as DEBIT_INTENT_BEHIND_TRAIL names it")
      .option("--resolved", "a record missing from journal.db resolved it: delete it, record nothing")
      .option("--recover", "no missing record resolved it: the lane recovers it at its next start")
      .option("--reason <text>", "what the back office established (required)")
      .option("--json", "print the result as JSON")
      .option(
        "--full-ids",
        "print the intent's whole card number (its key, booth:<card>; masked by default, in the line and in JSON)",
      ),
  ).action(async (idArg: string, o: ResolveIntentOpts) => {
    const req = resolveIntentRequest(idArg, o);
    const loc = locateExistingLane(o);
    const result = await resolveKeptIntentDirect(directDeps(loc.dataDir, loc.config), req);
    const out = { via: "direct" as const, result };
    printOutcome(out, o.json, { fullIds: o.fullIds });
  });
  addOperatorOptions(settle.option("--json", "print the result as JSON")).action(
    async (seqArg: string, o: SettleOpts) => {
      const req = settleRequest(seqArg, o);
      printOutcome(
        await operatorCall(
          locateExistingLane(o),
          { action: "journal.settle", ...req },
          {
            command: "etc-lane journal settle",
            direct: (op, user) => op.settleSuspect(req, user),
            timeoutMs: answerTimeoutMs(o),
          },
        ),
        o.json,
      );
    },
  );
}
