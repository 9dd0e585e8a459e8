/**
 * `etc-sim tac verify`: check the TACs of transaction records against the card test keys.
 * One record as a JSON argument, or a JSON-lines ledger (`--ledger FILE`, `-` for stdin). Prints one
 * line per record (ok / BAD with the expected TAC); the exit code is 1 if any record fails.
 *
 * Ledger fields (see docs/card-crypto.md): cardId (20 digits) or cardNetwork + cardSerial, issuerId
 * (16 hex, 0015 offsets 0-7), amount (fen), psamNo (12 hex), psamTransSerial (integer), transTime
 * (yyyymmddhhmmss), tac (8 hex); optional transType (default 9), algId, obuId, iccPaySerial.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { UsageError } from "../../../src/cli/run-cli.js";
import { type CardKeys, defaultCardKeysPath, loadCardKeys } from "../../card/crypto/keys.js";
import { type TacRecord, type TacVerdict, verifyTac } from "../../card/crypto/tac-verify.js";

interface VerifyOpts {
  keys?: string;
  ledger?: string;
  allowUnmarkedKeys?: boolean;
  json?: boolean;
}

export interface LedgerVerdict extends TacVerdict {
  where: string;
  record: Record<string, unknown> | undefined;
}

/** Verify one JSON text (a ledger line or the argument). */
export function verifyJsonRecord(text: string, keys: CardKeys, where: string): LedgerVerdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { where, record: undefined, ok: false, expected: "", reason: `not JSON: ${(e as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { where, record: undefined, ok: false, expected: "", reason: "expected a JSON object" };
  }
  const record = parsed as Record<string, unknown>;
  return { where, record, ...verifyTac(record as unknown as TacRecord, keys) };
}

function describe(v: LedgerVerdict): string {
  const r = v.record ?? {};
  const parts = [v.ok ? "ok " : "BAD", v.where];
  const card =
    r.cardId ?? (r.cardNetwork !== undefined ? `${String(r.cardNetwork)}${String(r.cardSerial)}` : undefined);
  if (r.obuId !== undefined) parts.push(`obu ${String(r.obuId)}`);
  if (card !== undefined) parts.push(`card ${String(card)}`);
  if (r.iccPaySerial !== undefined) parts.push(`icc-serial ${String(r.iccPaySerial)}`);
  if (r.psamNo !== undefined) parts.push(`psam ${String(r.psamNo)}/${String(r.psamTransSerial)}`);
  if (r.amount !== undefined) parts.push(`amount ${String(r.amount)}`);
  if (r.tac !== undefined) parts.push(`tac ${String(r.tac)}`);
  if (!v.ok) {
    if (v.expected !== "") parts.push(`expected ${v.expected}`);
    if (v.reason) parts.push(`(${v.reason})`);
  }
  return parts.join(" ");
}

export function registerTac(program: Command): void {
  const tac = program.command("tac").description("card TAC tools (test keys only)");
  tac
    .command("verify")
    .description("verify the TAC of one record (JSON argument) or of every line of a JSON-lines ledger")
    .option("--keys <file>", "card key file (default: config/keys/card-test-keys.json)")
    .option("--ledger <file>", "JSON-lines ledger, one transaction per line ('-' for stdin)")
    .option("--allow-unmarked-keys", "accept a key file without the TEST KEYS ONLY marker")
    .option("--json", "print one JSON verdict per record instead of a text line")
    .argument("[record]", "one record as a JSON object")
    .action(async (recordArg: string | undefined, opts: VerifyOpts) => {
      if ((recordArg === undefined) === (opts.ledger === undefined)) {
        throw new UsageError("give one record as a JSON argument, or --ledger FILE (not both)");
      }
      const keys = loadCardKeys(opts.keys ?? defaultCardKeysPath(), {
        allowUnmarked: opts.allowUnmarkedKeys ?? false,
      });
      if (!keys.testOnly)
        process.stderr.write(`warning: key file ${keys.source} is not marked as test keys\n`);
      let total = 0;
      let bad = 0;
      const emit = (v: LedgerVerdict): void => {
        total++;
        if (!v.ok) bad++;
        if (opts.json) {
          const out = { where: v.where, ok: v.ok, expected: v.expected, reason: v.reason, record: v.record };
          process.stdout.write(`${JSON.stringify(out)}\n`);
        } else {
          process.stdout.write(`${describe(v)}\n`);
        }
      };
      if (recordArg !== undefined) {
        emit(verifyJsonRecord(recordArg, keys, "record"));
      } else {
        const path = opts.ledger ?? "-";
        const input = path === "-" ? process.stdin : createReadStream(path, { encoding: "utf8" });
        const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
        let n = 0;
        try {
          for await (const line of rl) {
            n++;
            if (line.trim() === "") continue;
            emit(verifyJsonRecord(line, keys, `line ${n}`));
          }
        } catch (e) {
          throw new UsageError(`--ledger ${path}: ${(e as Error).message}`);
        }
      }
      process.stderr.write(`${total} record(s): ${total - bad} ok, ${bad} bad\n`);
      if (total === 0) process.stderr.write("no records found\n");
      if (bad > 0 || total === 0) process.exitCode = 1;
    });
}
