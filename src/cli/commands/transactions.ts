/**
 * `etc-lane transactions list`: every journal record (transactions, stops, suspect transactions) with its
 * outcome or stop reason, card id, OBU id, amount, TAC and card offline serial. A table by default, one JSON
 * object per line with --json (a table's columns as wide as their widest cell, formatTable); with them, by
 * seq, the suspects a journal found behind the audit trail keeps without a row (listedRecords, `KEPT`). Card numbers are masked (network and last four digits kept) unless
 * --full-ids, as in `status` and `audit`: in the JSON also inside the raw B4 frame (../mask-frames.ts). Reads the journal read-only, so it works while the lane is running. Finds
 * the lane by its config like every maintenance command (../lane-locate.ts). `--since` reads a time in the
 * lane's UTC offset, as the audit commands do (journalOffset, parseSince).
 */
import type { Command } from "commander";
import { offsetOf, offsetText, parseTimeArg } from "../../audit/time.js";
import { dialectFromConfig } from "../../config/load.js";
import { JournalReader, type ListQuery } from "../../journal/journal.js";
import {
  type CommittedRecord,
  RECORD_KINDS,
  type RecordKind,
  type StoredRecord,
} from "../../journal/types.js";
import { maskFrameCards } from "../../rsu/mask-frames.js";
import { maskCardId, maskCardIdsIn, quotedRefused, shownRefused } from "../../service/format.js";
import { addLaneOptions, type LaneLocation, type LaneLocationOptions } from "../lane-locate.js";
import { locateExistingLane } from "../require-data-dir.js";
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
 * offset, today, -2h...), never in the process time zone. A refused value is quoted as quotedRefused (src/service/format.ts)
 * quotes it.
 */
export function parseSince(
  v: string | undefined,
  offsetMinutes: number,
  nowMs: number = Date.now(),
  fullIds = false,
): Date | number | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const ms = parseTimeArg(v, offsetMinutes, nowMs);
  if (ms === null)
    throw new UsageError(
      `--since: expected a sequence number, a local date or time such as "2026-11-26 08:00" (lane time ` +
        `${offsetText(offsetMinutes)}), an ISO time with an offset, today, yesterday, or -30m / -2h / -7d; got ${quotedRefused(v, fullIds)}`,
    );
  return new Date(ms);
}

const yuan = (fen: number | null): string => (fen === null ? "-" : (fen / 100).toFixed(2));

/**
 * A record as the listing gives it: a journal row, or (`keptBehindTrail`) a suspect the file lacks and
 * keeps from the audit trail, rebuilt from the trail's entry (JournalReader.keptSuspects): it holds its
 * card and OBU at this lane until an operator settles it (`etc-lane journal settle SEQ`), and nothing
 * uploads it until then.
 */
export type ListedRecord = StoredRecord & { keptBehindTrail?: true };

/**
 * The records `q` asks for, oldest first: the journal's rows and, merged among them by seq, the kept
 * suspects that match `q` (the kinds, `since`); `--pending` (records waiting for the station) lists none
 * of them, as nothing uploads them before they are settled. `limit` counts both.
 */
export function* listedRecords(
  rows: (q: ListQuery) => Iterable<StoredRecord>,
  kept: readonly CommittedRecord[],
  q: ListQuery,
): Generator<ListedRecord> {
  const { limit, ...rest } = q;
  const since = q.since;
  const wanted = kept.filter(
    (k) =>
      q.pending === undefined &&
      (q.kinds === undefined || q.kinds.includes(k.kind)) &&
      (since === undefined ||
        (typeof since === "number" ? k.seq >= since : Date.parse(k.createdAt) >= since.getTime())),
  );
  let n = 0;
  let i = 0;
  const take = (): boolean => limit === undefined || n++ < limit;
  for (const r of rows(wanted.length === 0 ? q : rest)) {
    while (i < wanted.length && wanted[i]!.seq < r.seq) {
      if (!take()) return;
      yield { ...wanted[i++]!, uploadedAt: null, held: null, keptBehindTrail: true };
    }
    // settled while this was read (its row written and dropped from the kept in one transaction): the row
    if (i < wanted.length && wanted[i]!.seq === r.seq) i++;
    if (!take()) return;
    yield r;
  }
  while (i < wanted.length) {
    if (!take()) return;
    yield { ...wanted[i++]!, uploadedAt: null, held: null, keptBehindTrail: true };
  }
}

function row(r: ListedRecord, fullIds: boolean): string[] {
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
    r.keptBehindTrail ? "KEPT" : r.uploadedAt ? "acked" : r.held ? "HELD" : "pending",
  ];
}

/**
 * One record as a JSON line; card numbers masked unless fullIds: the cardId field, any in the text, and
 * the card's file 0015 inside the raw B4 (and the record's number wherever it stands in rawB4/rawB5). The
 * values are masked before they are written as JSON (maskCardIdsIn): a number after a newline in a settle
 * reason would no longer stand alone once written `\n`.
 */
export function jsonRecordLine(r: ListedRecord, fullIds: boolean): string {
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
  read: () => Iterable<ListedRecord>,
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
        '"2026-11-26") is lane time: the UTC offset (rsu.dialect.utcOffsetMinutes) of the lane\'s config when one ' +
        "is found (--config, $ETC_LANE_CONFIG or /etc/etc-lane/lane.yaml, as --config says), else the newest " +
        "record's, else this computer's; also an ISO time with an offset, today, yesterday, -30m / -2h / -7d",
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
          throw new UsageError(
            `--kind: unknown ${bad.map((k) => shownRefused(k, o.fullIds)).join(", ")}; expected ${RECORD_KINDS.join(", ")}`,
          );
        q.kinds = o.kind as RecordKind[];
      }
      if (o.pending) q.pending = true;
      if (o.limit !== undefined) {
        // digits only, as journal settle's SEQ (./journal.ts): Number("0x3") is 3, Number("1e1") 10
        const n = Number(o.limit);
        if (!/^\d+$/.test(o.limit) || !Number.isSafeInteger(n) || n < 1)
          throw new UsageError(
            `--limit: expected a positive integer, got ${quotedRefused(o.limit, o.fullIds)}`,
          );
        q.limit = n;
      }
      // a mistyped --data-dir (or config dataDir) is refused naming where it came from, as every
      // maintenance command does (../require-data-dir.ts)
      const loc = locateExistingLane(o);
      // a directory that exists but holds no journal (the lane's parent directory, say): named the same way
      const j = JournalReader.openReadOnly(loc.dataDir, { found: loc });
      try {
        const since = parseSince(o.since, journalOffset(loc, j), Date.now(), o.fullIds);
        if (since !== undefined) q.since = since;
        const out = (s: string): void => {
          process.stdout.write(s);
        };
        const full = o.fullIds === true;
        const kept = j.keptSuspects(journalOffset(loc, j));
        const read = (): Iterable<ListedRecord> => listedRecords((x) => j.iterate(x), kept, q);
        if (o.json) for (const r of read()) out(jsonRecordLine(r, full));
        else {
          const n = formatTable(read, out, full);
          process.stderr.write(
            `${n} record(s); ${j.stats().pending} awaiting upload` +
              (kept.length
                ? `; ${kept.length} suspect(s) kept from the audit trail (KEPT: no row, journal.db was found ` +
                  "behind the trail; each holds its card and OBU until etc-lane journal settle SEQ)"
                : "") +
              "\n",
          );
        }
      } finally {
        j.close();
      }
    });
}
