/**
 * `etc-lane transactions list`: every journal record (transactions, stops, suspect transactions) with its
 * outcome or stop reason, card id, OBU id, amount, TAC and card offline serial. A table by default, one JSON
 * object per line with --json (a table's columns as wide as their widest cell, formatTable). Card numbers are masked (network and last four digits kept) unless
 * --full-ids, as in `status` and `audit`: in the JSON also inside the raw B4 frame (../mask-frames.ts). Reads the journal read-only, so it works while the lane is running. Finds
 * the lane by its config like every maintenance command (../lane-locate.ts). `--since` reads a time in the
 * lane's UTC offset, as the audit commands do (journalOffset, parseSince).
 */
import type { Command } from "commander";
import { offsetOf, offsetText, parseTimeArg } from "../../audit/time.js";
import { dialectFromConfig } from "../../config/load.js";
import { JournalReader, type ListQuery } from "../../journal/journal.js";
import { RECORD_KINDS, type RecordKind, type StoredRecord } from "../../journal/types.js";
import { maskCardId, maskCardIdsIn } from "../../service/format.js";
import { addLaneOptions, type LaneLocation, type LaneLocationOptions, locateLane } from "../lane-locate.js";
import { maskFrameCards } from "../mask-frames.js";
import { requireDataDir } from "../require-data-dir.js";
import { UsageError } from "../run-cli.js";
import { columnWidths, tableLine } from "../text-table.js";

interface ListOpts extends LaneLocationOptions {
  json?: boolean;
  since?: string;
  kind?: string[];
  pending?: boolean;
  limit?: string;
  fullIds?: boolean;
}

/**
 * The lane's UTC offset, in which `--since` reads a time written without one (the offset the table's
 * times and the records' trade ids are in): the config's (`rsu.dialect.utcOffsetMinutes`), else the
 * newest record's `createdAt`, else this computer's (a journal with no record: nothing to compare).
 */
export function journalOffset(loc: LaneLocation, j: JournalReader): number {
  if (loc.config) return dialectFromConfig(loc.config).utcOffsetMinutes;
  const last = j.get(j.lastSeq());
  const fromRecord = last ? offsetOf(last.createdAt) : null;
  return fromRecord ?? -new Date().getTimezoneOffset();
}

/**
 * `--since`: a sequence number, or a time as the audit commands read it (parseTimeArg of
 * src/audit/time.ts: "2026-11-26 08:00" in the lane's offset `offsetMinutes`, an ISO time with an
 * offset, today, -2h...), never in the process time zone.
 */
export function parseSince(
  v: string | undefined,
  offsetMinutes: number,
  nowMs: number = Date.now(),
): Date | number | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const ms = parseTimeArg(v, offsetMinutes, nowMs);
  if (ms === null)
    throw new UsageError(
      `--since: expected a sequence number, a local date or time such as "2026-11-26 08:00" (lane time ` +
        `${offsetText(offsetMinutes)}), an ISO time with an offset, today, yesterday, or -30m / -2h / -7d; got "${v}"`,
    );
  return new Date(ms);
}

const yuan = (fen: number | null): string => (fen === null ? "-" : (fen / 100).toFixed(2));

function row(r: StoredRecord, fullIds: boolean): string[] {
  return [
    String(r.seq),
    r.tradeId,
    r.createdAt.slice(0, 19).replace("T", " "),
    r.kind,
    r.outcome,
    fullIds ? (r.cardId ?? "-") : maskCardId(r.cardId),
    r.obuId,
    yuan(r.amount),
    r.tac ?? "-",
    r.iccPaySerial ?? "-",
    r.uploadedAt ? "acked" : r.held ? "HELD" : "pending",
  ];
}

/**
 * One record as a JSON line; card numbers masked unless fullIds: the cardId field, any in the text, and
 * the card's file 0015 inside the raw B4 (and the record's number wherever it stands in rawB4/rawB5). The
 * values are masked before they are written as JSON (maskCardIdsIn): a number after a newline in a settle
 * reason would no longer stand alone once written `\n`.
 */
export function jsonRecordLine(r: StoredRecord, fullIds: boolean): string {
  if (fullIds) return `${JSON.stringify(r)}\n`;
  const masked = {
    ...r,
    ...(r.cardId === null ? {} : { cardId: maskCardId(r.cardId) }),
    rawB4: maskFrameCards(r.rawB4, r.rsuProtocol, r.cardId, true),
    // a B5 carries no file 0015: only the record's number, should it stand there
    rawB5: maskFrameCards(r.rawB5, r.rsuProtocol, r.cardId, false),
  };
  return `${JSON.stringify(maskCardIdsIn(masked))}\n`;
}

/**
 * The records `read` yields as a table: each column as wide as its widest cell (heading included), nothing
 * cut, as `status` and `audit` print theirs (../text-table.ts). The widths are measured in a first
 * `read()` and the rows printed in a second, so a journal of any length is listed in constant memory; the
 * second stops after the last record the first saw (one the lane commits meanwhile waits for the next
 * listing). A record settled between the two reads into a longer outcome keeps it whole on its line.
 */
export function formatTable(
  read: () => Iterable<StoredRecord>,
  write: (s: string) => void,
  fullIds = false,
): number {
  const head = [
    "SEQ",
    "TRADE ID",
    "TIME",
    "KIND",
    "OUTCOME/REASON",
    "CARD ID",
    "OBU ID",
    "AMOUNT",
    "TAC",
    "CARD SN",
    "UPLOAD",
  ];
  const widths = columnWidths([head]);
  let lastSeq = 0;
  for (const r of read()) {
    columnWidths([row(r, fullIds)], widths);
    lastSeq = r.seq;
  }
  write(`${tableLine(head, widths)}\n`);
  let n = 0;
  for (const r of read()) {
    if (r.seq > lastSeq) break;
    write(`${tableLine(row(r, fullIds), widths)}\n`);
    n++;
  }
  return n;
}

export function registerTransactions(program: Command): void {
  const tx = program
    .command("transactions")
    .description("the lane journal: transactions, stops and suspect transactions");
  addLaneOptions(tx.command("list").description("list journal records (oldest first)"))
    .option("--json", "one JSON object per line (the full record, card numbers masked unless --full-ids)")
    .option(
      "--since <timeOrSeq>",
      'records created at/after a time, or with seq >= a number; a time without an offset ("2026-11-26 08:00", ' +
        '"2026-11-26") is lane time: the UTC offset of the config (rsu.dialect.utcOffsetMinutes), without ' +
        "--config the newest record's; also an ISO time with an offset, today, yesterday, -30m / -2h / -7d",
    )
    .option("--kind <kind...>", `only these kinds: ${RECORD_KINDS.join(", ")}`)
    .option("--pending", "only records the station has not acknowledged")
    .option("--limit <n>", "at most n records")
    .option("--full-ids", "print whole card numbers (masked by default)")
    .action((o: ListOpts) => {
      const q: ListQuery = {};
      if (o.kind) {
        const bad = o.kind.filter((k) => !RECORD_KINDS.includes(k as RecordKind));
        if (bad.length)
          throw new UsageError(`--kind: unknown ${bad.join(", ")}; expected ${RECORD_KINDS.join(", ")}`);
        q.kinds = o.kind as RecordKind[];
      }
      if (o.pending) q.pending = true;
      if (o.limit !== undefined) {
        const n = Number(o.limit);
        if (!Number.isInteger(n) || n < 1)
          throw new UsageError(`--limit: expected a positive integer, got "${o.limit}"`);
        q.limit = n;
      }
      const loc = locateLane(o);
      // a mistyped --data-dir (or config dataDir) is refused naming where it came from, as status and audit do
      requireDataDir(loc);
      // a directory that exists but holds no journal (the lane's parent directory, say): named the same way
      const j = JournalReader.openReadOnly(loc.dataDir, { found: loc });
      try {
        const since = parseSince(o.since, journalOffset(loc, j));
        if (since !== undefined) q.since = since;
        const out = (s: string): void => {
          process.stdout.write(s);
        };
        const full = o.fullIds === true;
        if (o.json) for (const r of j.iterate(q)) out(jsonRecordLine(r, full));
        else {
          const n = formatTable(() => j.iterate(q), out, full);
          process.stderr.write(`${n} record(s); ${j.stats().pending} awaiting upload\n`);
        }
      } finally {
        j.close();
      }
    });
}
