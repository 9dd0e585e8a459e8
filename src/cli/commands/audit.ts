/**
 * `etc-lane audit tail|search|export|verify`: the lane's audit trail for a person at a terminal and for
 * scripts (docs/audit.md, "Operator guide"). Transactions and events share one timeline in the lane's
 * local time; card numbers are masked unless --full-ids. `audit list` is kept as another name for
 * `audit search`. Every command finds the lane by its config (../lane-locate.ts). `tail`, `search` and
 * `export` read the entries not yet in the trail's files after those in them (notInFiles below).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { AUDIT_PUBLIC_KEY_FILE, publicKeyFromPem } from "../../audit/checkpoint.js";
import type { AuditEntry } from "../../audit/entry.js";
import {
  lastEntries,
  matches,
  readTrail,
  type SearchFilter,
  type TimelineRow,
  toRow,
} from "../../audit/search.js";
import { auditDir, listSegments } from "../../audit/segments.js";
import { displayLocal, localIso, offsetOf, offsetText, parseTimeArg } from "../../audit/time.js";
import { TrailFollower } from "../../audit/trail-follower.js";
import { entriesNotInFiles } from "../../audit/trail-not-in-files.js";
import type { VerifyReport } from "../../audit/verify.js";
import type { PastLine } from "../../audit/verify-file-end.js";
import { TAIL_ENTRY_MARGIN, TAIL_TIME_MARGIN_SECONDS, type TailLimits } from "../../audit/verify-guards.js";
import { verifyLaneDataDir } from "../../audit/verify-lane.js";
import { dialectFromConfig } from "../../config/load.js";
import { laneKey } from "../../journal/trade-id.js";
import { maskCardIdsIn, quotedRefused } from "../../service/format.js";
import { checkAuditFilters, trimmedFilters } from "../audit-filters.js";
import { csvCell, displayWidth, pad, terminalSafe, yuan } from "../format.js";
import { addLaneOptions, type LaneLocation, type LaneLocationOptions } from "../lane-locate.js";
import { locateExistingLane } from "../require-data-dir.js";
import { UsageError } from "../run-cli.js";

interface OutputOpts {
  json?: boolean;
  fullIds?: boolean;
}

interface FilterOpts {
  since?: string;
  until?: string;
  card?: string;
  obu?: string;
  plate?: string;
  reason?: string;
  kind?: string[];
}

const out = (s: string): void => {
  process.stdout.write(s);
};

function trailDir(loc: LaneLocation): string {
  const dir = auditDir(loc.dataDir);
  if (listSegments(dir).length === 0)
    throw new UsageError(`no audit trail in ${dir} (lane found by ${loc.how}); has the lane run there?`);
  return dir;
}

/** The lane's UTC offset: from its config, else from the newest entry, else this computer's. */
function laneOffset(loc: LaneLocation, dir: string): number {
  if (loc.config) return dialectFromConfig(loc.config).utcOffsetMinutes;
  const last = lastEntries(dir, 1)[0];
  const fromTrail = last ? offsetOf(last.entry.time) : null;
  return fromTrail ?? -new Date().getTimezoneOffset();
}

function parseTime(
  flag: string,
  v: string | undefined,
  offset: number,
  fullIds: boolean | undefined,
): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseTimeArg(v, offset, Date.now());
  if (ms === null)
    throw new UsageError(
      `${flag}: expected a local date or time such as "2026-11-26 08:00" (lane time ${offsetText(offset)}), ` +
        `an ISO time with an offset, today, yesterday, or -30m / -2h / -7d; got ${quotedRefused(v, fullIds)}`,
    );
  return ms;
}

function filterFrom(o: FilterOpts & OutputOpts, offset: number): SearchFilter {
  const f: SearchFilter = {};
  const since = parseTime("--since", o.since, offset, o.fullIds);
  const until = parseTime("--until", o.until, offset, o.fullIds);
  if (since !== undefined) f.since = since;
  if (until !== undefined) f.until = until;
  if (o.card !== undefined) f.card = o.card;
  if (o.obu !== undefined) f.obu = o.obu;
  if (o.plate !== undefined) f.plate = o.plate;
  if (o.reason !== undefined) f.reason = o.reason;
  if (o.kind !== undefined) f.kinds = o.kind;
  return f;
}

/** The table's columns: heading and alignment. Widths come from the content; nothing is ever cut. */
const COLUMNS: [string, "left" | "right"][] = [
  ["TIME", "left"],
  ["SEQ", "right"],
  ["SEV", "left"],
  ["KIND", "left"],
  ["REASON", "left"],
  ["CARD", "left"],
  ["OBU", "left"],
  ["PLATE", "left"],
  ["AMOUNT", "right"],
  ["MESSAGE", "left"],
];

/**
 * Lines up rows: each column as wide as its widest cell among the heading and the rows it was sized on.
 * A later row (tail -f) with a longer cell keeps it whole and pushes the rest of its line right.
 */
class Table {
  private readonly widths: number[];
  constructor(
    private readonly head: string[],
    rows: string[][],
  ) {
    this.widths = head.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ""))));
  }
  line(cells: string[]): string {
    const last = cells.length - 1;
    return `${cells
      .map((c, i) => (i === last ? c : pad(c, this.widths[i]!, COLUMNS[i]![1])))
      .join("  ")
      .trimEnd()}\n`;
  }
  header(): string {
    return this.line(this.head);
  }
}

function headings(offset: number): string[] {
  return COLUMNS.map(([h], i) => (i === 0 ? `TIME (${offsetText(offset)})` : h));
}

/**
 * What an entry shows, its card numbers masked unless `full`: in every field and in its data, before a
 * table, JSON or CSV escapes them (a number after a newline written `\n` or `\x0a` no longer stands alone
 * for maskCardIds), as src/service/format.ts maskCardIdsIn says.
 */
function shown(e: AuditEntry, r: TimelineRow, full: boolean): { r: TimelineRow; data: unknown } {
  return full ? { r, data: e.data } : { r: maskCardIdsIn(r) as TimelineRow, data: maskCardIdsIn(e.data) };
}

/**
 * A row's time at the table's offset (the TIME heading's, the one --since/--until are read in), from the
 * entry's utc, so a time copied from a row and typed back finds that entry; the entry's own local text when
 * its utc is no time.
 */
function tableTime(r: TimelineRow, offset: number): string {
  const ms = Date.parse(r.utc);
  return displayLocal(Number.isNaN(ms) ? r.time : localIso(ms, offset));
}

function rowCells(e: AuditEntry, row: TimelineRow, full: boolean, offset: number): string[] {
  const { r } = shown(e, row, full);
  return [
    tableTime(r, offset),
    String(r.seq),
    r.severity,
    r.kind,
    r.reason ?? "-",
    r.card ?? "-",
    r.obu ?? "-",
    r.plate ?? "-",
    r.amount === null ? "-" : yuan(r.amount),
    r.message,
  ].map(terminalSafe);
}

/** One entry as a JSON line; card numbers masked unless `full`. */
function jsonLine(e: AuditEntry, row: TimelineRow, full: boolean): string {
  const { r, data } = shown(e, row, full);
  return `${JSON.stringify({
    seq: r.seq,
    time: r.time,
    utc: r.utc,
    severity: r.severity,
    type: r.type,
    kind: r.kind,
    reason: r.reason,
    card: r.card,
    obu: r.obu,
    obuId: r.obuId,
    plate: r.plate,
    amount: r.amount,
    tradeId: r.tradeId,
    message: r.message,
    ...(data !== undefined ? { data } : {}),
  })}\n`;
}

/**
 * Prints entries: JSON lines at once (`--json`, or no offset given); a table sized to these entries, its
 * times at `offset` (the heading first). Returns how a later entry is printed (tail -f): in the same
 * columns.
 */
function emitAll(entries: AuditEntry[], o: OutputOpts, offset: number | null): (e: AuditEntry) => void {
  const full = !!o.fullIds;
  if (o.json || offset === null) {
    const one = (e: AuditEntry): void => out(jsonLine(e, toRow(e), full));
    for (const e of entries) one(e);
    return one;
  }
  const rows = entries.map((e) => rowCells(e, toRow(e), full, offset));
  const table = new Table(headings(offset), rows);
  out(table.header());
  for (const r of rows) out(table.line(r));
  return (e) => out(table.line(rowCells(e, toRow(e), full, offset)));
}

function addFilterOptions(cmd: Command): Command {
  return cmd
    .option(
      "--since <time>",
      'from this time: "2026-11-26 08:00" (lane local time), an ISO time, today, -2h ...',
    )
    .option("--until <time>", "before this time (same forms)")
    .option("--card <id>", "this card number (20 digits)")
    .option("--obu <id>", "this OBU: contract serial (16 hex digits) or MAC id (8 hex digits)")
    .option("--plate <text>", "plates containing this text")
    .option(
      "--reason <code>",
      "this outcome, stop reason or event code (e.g. CARD_ON_STATUS_LIST, AUDIT_ROLLBACK)",
    )
    .option(
      "--kind <kind...>",
      "transaction, stop, suspect, record (all records), event (all events), or an event type (lane.start) or its first part (uplink)",
    );
}

/**
 * `tail -f`: every 250 ms, the entries appended since the last poll (src/audit/trail-follower.ts reads
 * only the bytes appended, never the segment files again), until SIGINT or SIGTERM.
 */
async function follow(dir: string, lastSeq: number, emit: (e: AuditEntry) => void): Promise<void> {
  const follower = new TrailFollower(dir, lastSeq, {
    onShrunk: (file, size, read) =>
      process.stderr.write(
        `etc-lane: ${file} is now ${size} bytes, shorter than the ${read} already read (or another file): ` +
          "its place found again (src/audit/trail-follower.ts); audit verify tells more\n",
      ),
    onOutOfOrder: (file, seq, after) => process.stderr.write(outOfOrderNote(file, null, seq, after)),
    onDamaged: (file) =>
      process.stderr.write(
        `etc-lane: ${file} has a line that is not an audit entry (damaged): skipped, the entries after it are read; audit verify tells more\n`,
      ),
  });
  const poll = (): void => {
    for (const e of follower.poll()) emit(e);
  };
  await new Promise<void>((resolve) => {
    const t = setInterval(poll, 250);
    const stop = (): void => {
      clearInterval(t);
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/**
 * The verify report for a terminal. Every line goes through terminalSafe: entry messages and journal.db's
 * values are written by whoever could write the data directory, and a control sequence in them must not
 * hide or fake a line (ESC[8m conceals the FAILED line that follows).
 */
function formatReport(
  r: VerifyReport,
  keyNote: string,
  dir: string,
  journalNote: string | null,
  limitsNote: string,
): string {
  const lines: string[] = [];
  lines.push(`trail: ${dir} (${r.files} file(s), ${r.entries} entries read)`);
  lines.push(`key: ${keyNote}${r.keyId ? `, id ${r.keyId}` : ""}`);
  if (r.verified) {
    const off = offsetOf(r.verified.fromTime);
    lines.push(
      `verified seq ${r.verified.from}..${r.verified.to} (${displayLocal(r.verified.fromTime)}..${displayLocal(r.verified.toTime)}` +
        `${off === null ? "" : ` ${offsetText(off)}`})`,
    );
  } else lines.push("verified: nothing");
  if (r.retainedFrom !== null)
    lines.push(`kept from seq ${r.retainedFrom}: older files were deleted by retention (named in the trail)`);
  if (r.sealed)
    lines.push(
      `sealed through seq ${r.sealed.to} by ${r.sealed.checkpoints} checkpoint(s), the last #${r.sealed.last} at ${displayLocal(r.sealed.lastTime)}`,
    );
  lines.push(`unsealed tail: ${r.unsealed.count} entries since seq ${r.unsealed.since}`);
  const t = r.unsealedTail;
  lines.push(
    `unsealed tail limits: at most ${t.limits.maxEntries} entries and ${t.limits.maxSeconds} s of entry time ` +
      `(checkpointEvery ${t.limits.checkpointEvery} + ${TAIL_ENTRY_MARGIN}, checkpointIntervalSeconds ` +
      `${t.limits.checkpointIntervalSeconds} + ${TAIL_TIME_MARGIN_SECONDS}, ${limitsNote}); ` +
      `the tail with the spool: ${t.entries} entries over ${t.spanSeconds.toFixed(1)} s`,
  );
  if (r.torn)
    lines.push(
      `torn tail: ${r.torn.bytes} bytes after seq ${r.torn.afterSeq} in ${r.torn.file} (a write cut short; the lane cuts it at its next start)`,
    );
  if (r.anchorMissing)
    lines.push(
      `anchor not on the disk: ${r.anchorMissing.file} ${r.torn ? "holds no complete line" : "is empty"}: its first line, ` +
        `the copy of seq ${r.anchorMissing.seq} (the last line of ${r.anchorMissing.prevFile}), had not reached the disk, ` +
        "as a power cut during a rotation leaves it (not a failure; the lane writes it again at its next start)",
    );
  if (r.tornRepaired > 0)
    lines.push(`torn tails cut at earlier starts: ${r.tornRepaired} (audit.torn-tail entries)`);
  if (r.pendingFromSpool)
    lines.push(
      `not yet in the file: seq ${r.pendingFromSpool.from}..${r.pendingFromSpool.to}, ${r.pendingFromSpool.fromRows} of them journal records built from their rows, the rest in the spool (a running lane writes them within milliseconds, a stopped one at its next start)`,
    );
  if (r.witness)
    lines.push(
      `station: ${r.witness.state === "acknowledged" ? "acknowledged" : "holds"} checkpoint #${r.witness.n}`,
    );
  if (r.journal)
    lines.push(
      `journal: ${r.journal.checkedRows} row(s) checked against ${r.journal.bound} record entries` +
        (r.journal.legacyRows > 0 ? `; ${r.journal.legacyRows} older row(s) predate the binding` : ""),
    );
  if (journalNote) lines.push(`journal: not checked (${journalNote})`);
  if (r.ok) lines.push("OK: the trail is intact");
  else {
    const p = r.problems[0]!;
    const where = [
      p.seq !== null ? `seq ${p.seq}` : null,
      p.file ? `${p.file}${p.line !== null ? ` line ${p.line}` : ""}` : null,
    ]
      .filter(Boolean)
      .join(", ");
    lines.push(`FAILED${where ? ` at ${where}` : ""}: ${p.what}`);
    for (const q of r.problems.slice(1, 10))
      lines.push(`  also${q.seq !== null ? ` seq ${q.seq}` : ""}: ${q.what}`);
    if (r.problems.length > 10) lines.push(`  and ${r.problems.length - 10} more problem(s)`);
  }
  return `${lines.map(terminalSafe).join("\n")}\n`;
}

/**
 * readTrail's options for search and export: from `since`, and a line that is not an entry (damage the lane
 * kept as evidence) told on stderr, once each, while the entries after it are read on.
 */
function trailReading(since: number | undefined): Parameters<typeof readTrail>[1] {
  return {
    ...(since !== undefined ? { sinceMs: since } : {}),
    onDamaged: (file, lineNo) =>
      process.stderr.write(
        `etc-lane: ${file} line ${lineNo} is not an audit entry (damaged): skipped, the entries after it are read; audit verify tells more\n`,
      ),
    onOutOfOrder: (file, lineNo, seq, after) =>
      process.stderr.write(outOfOrderNote(file, lineNo, seq, after)),
  };
}

/** What search, export and `tail -f` say on stderr of an entry whose seq does not follow on. */
function outOfOrderNote(file: string, lineNo: number | null, seq: number, after: number): string {
  const where = lineNo === null ? file : `${file} line ${lineNo}`;
  return `etc-lane: ${where} has seq ${seq} after seq ${after} (not the next one: changed or damaged): read on; audit verify tells more\n`;
}

/**
 * The entries after `last` (the files' last entry) that are not yet in the trail's files: after a kill or
 * a power cut they are only in journal.db until the lane starts again (src/audit/trail-not-in-files.ts, the
 * lines `audit verify` reports as "not yet in the file"). `note`: the stderr line naming their seqs (or
 * saying that the journal could not be read for them, or why they were left out), null when there are none.
 */
function notInFiles(dataDir: string, last: AuditEntry | null): { lines: PastLine[]; note: string | null } {
  try {
    const r = entriesNotInFiles(dataDir, last);
    if (r.leftOut !== null)
      return {
        lines: [],
        note: `${terminalSafe(`etc-lane: ${r.leftOut}: any entries not yet in the trail's files are left out; audit verify tells more`)}\n`,
      };
    if (r.lines.length === 0) return { lines: [], note: null };
    const from = r.lines[0]!.entry.seq;
    const to = r.lines[r.lines.length - 1]!.entry.seq;
    return {
      lines: r.lines,
      note:
        `etc-lane: seq ${from === to ? `${from} is` : `${from}..${to} are`} not yet in the trail's files: built from ` +
        `${r.source}, as the lane will write them at its next start (a running lane writes them within milliseconds)\n`,
    };
  } catch (e) {
    return {
      lines: [],
      // the line's end outside: terminalSafe shows a newline as \x0a
      note:
        terminalSafe(
          `etc-lane: the entries not yet in the trail's files cannot be read (${(e as Error).message}): ` +
            "any there are, are left out; audit verify tells more",
        ) + "\n",
    };
  }
}

export function registerAudit(program: Command): void {
  const audit = program
    .command("audit")
    .description("the lane's tamper-evident audit trail: tail, search, export, verify");

  addLaneOptions(
    audit
      .command("tail")
      .description("the newest entries; with -f, keep printing new ones")
      .option("-n, --lines <n>", "how many", "10")
      .option("-f, --follow", "keep printing entries as the lane writes them (Ctrl-C ends)")
      .option("--json", "one JSON object per line")
      .option("--full-ids", "show card numbers in full"),
  ).action(tailAction);

  addFilterOptions(
    addLaneOptions(
      audit
        .command("search")
        .alias("list")
        .description("transactions and events on one timeline, oldest first, filtered")
        .option("--json", "one JSON object per line")
        .option("--full-ids", "show card numbers in full"),
    ),
  ).action(searchAction);

  addFilterOptions(
    addLaneOptions(
      audit
        .command("export")
        .description(
          "entries in a time window as CSV or JSON lines (with --full-ids, JSON lines are the trail's own lines)",
        )
        .requiredOption("--format <format>", "csv or json")
        .option("--full-ids", "card numbers in full (and, for json, the lines exactly as in the trail)"),
    ),
  ).action(exportAction);

  addLaneOptions(
    audit
      .command("verify")
      .description("check the whole trail; exit 0 when intact, else 1 naming the first bad record")
      .option(
        "--key <file>",
        "the lane's public key (PEM) from an independent copy; default the one beside the log",
      )
      .option("--json", "the report as JSON"),
  ).action(verifyAction);
}

/** `audit tail [-n N] [-f]`: the newest entries, then (with -f) each new one as the lane writes it. */
async function tailAction(
  o: LaneLocationOptions & OutputOpts & { lines: string; follow?: boolean },
): Promise<void> {
  // digits only, as journal settle's SEQ (./journal.ts): Number("") is 0, Number("0x3") 3
  const n = Number(o.lines);
  if (!/^\d+$/.test(o.lines) || !Number.isSafeInteger(n))
    throw new UsageError(`-n: expected a whole number, got ${quotedRefused(o.lines, o.fullIds)}`);
  // a mistyped --data-dir is refused as such (E412), not reported as a lane that never ran there
  const loc = locateExistingLane(o);
  const dir = trailDir(loc);
  const inFiles = lastEntries(dir, n).map((x) => x.entry);
  const lastInFiles = (n > 0 ? inFiles.at(-1) : lastEntries(dir, 1)[0]?.entry) ?? null;
  const past = notInFiles(loc.dataDir, lastInFiles);
  const newest = [...inFiles, ...past.lines.map((l) => l.entry)];
  const entries = n === 0 ? [] : newest.slice(-n);
  const emit = emitAll(entries, o, o.json ? null : laneOffset(loc, dir));
  if (past.note) process.stderr.write(past.note);
  // -f goes on after the newest entry there is, printed or not (-n 0 prints none of those before it)
  const after = past.lines.at(-1)?.entry.seq ?? lastInFiles?.seq ?? 0;
  if (o.follow) await follow(dir, after, emit);
}

/** `audit search`: the entries matching the filters, oldest first, as a table or JSON lines. */
function searchAction(given: LaneLocationOptions & OutputOpts & FilterOpts): void {
  const o = trimmedFilters(given);
  checkAuditFilters(o);
  const loc = locateExistingLane(o);
  const dir = trailDir(loc);
  const offset = laneOffset(loc, dir);
  const f = filterFrom(o, offset);
  // JSON lines go out as they are found; a table is sized to what was found, so it waits for all of it
  const found: AuditEntry[] = [];
  const json = o.json ? emitAll([], o, null) : null;
  const take = (entry: AuditEntry): void => {
    if (!matches(entry, toRow(entry), f)) return;
    if (json) json(entry);
    else found.push(entry);
  };
  let last: AuditEntry | null = null;
  for (const { entry } of readTrail(dir, trailReading(f.since))) {
    take(entry);
    last = entry;
  }
  const past = notInFiles(loc.dataDir, last);
  for (const { entry } of past.lines) take(entry);
  if (!json) {
    emitAll(found, o, offset);
    process.stderr.write(`${found.length} entr${found.length === 1 ? "y" : "ies"}\n`);
  }
  if (past.note) process.stderr.write(past.note);
}

/** `audit export --format csv|json`: the entries matching the filters, one line each. */
function exportAction(given: LaneLocationOptions & OutputOpts & FilterOpts & { format: string }): void {
  if (given.format !== "csv" && given.format !== "json")
    throw new UsageError(`--format: expected csv or json, got ${quotedRefused(given.format, given.fullIds)}`);
  const o = trimmedFilters(given);
  checkAuditFilters(o);
  const loc = locateExistingLane(o);
  const dir = trailDir(loc);
  const f = filterFrom(o, laneOffset(loc, dir));
  const full = !!o.fullIds;
  if (o.format === "csv")
    out(
      "seq,time,utc,severity,type,kind,reason,card,obu,obu_id,plate,amount_fen,trade_id,message,data,hash\n",
    );
  const take = (entry: AuditEntry, line: string): void => {
    const r = toRow(entry);
    if (!matches(entry, r, f)) return;
    if (o.format === "json") out(`${full ? line : maskedLine(line)}\n`);
    else out(`${csvLine(entry, r, full)}\n`);
  };
  let last: AuditEntry | null = null;
  for (const { entry, line } of readTrail(dir, trailReading(f.since))) {
    take(entry, line.toString("utf8"));
    last = entry;
  }
  // the lines as the lane will append them: with --full-ids, JSON lines still the trail's own
  const past = notInFiles(loc.dataDir, last);
  for (const { entry, line } of past.lines) take(entry, line);
  if (past.note) process.stderr.write(past.note);
}

/**
 * A trail line with its card numbers masked: parsed, masked, written again (for reading only: its hash no
 * longer verifies), as its text would hide a number after an escaped newline from maskCardIds.
 */
function maskedLine(line: string): string {
  return JSON.stringify(maskCardIdsIn(JSON.parse(line)));
}

/** One entry as a CSV line, card numbers masked unless `full`. */
function csvLine(entry: AuditEntry, row: TimelineRow, full: boolean): string {
  const { r, data } = shown(entry, row, full);
  const cells = [
    r.seq,
    r.time,
    r.utc,
    r.severity,
    r.type,
    r.kind,
    r.reason,
    r.card,
    r.obu,
    r.obuId,
    r.plate,
    r.amount,
    r.tradeId,
    r.message,
    // JSON, its escapes kept valid (csvJsonCell in ../format.ts)
    data === undefined ? null : data,
    entry.hash,
  ];
  return cells.map(csvCell).join(",");
}

/** `audit verify [--key FILE]`: the whole trail checked; exit 1 naming the first bad record. */
function verifyAction(o: LaneLocationOptions & { key?: string; json?: boolean }): void {
  // a mistyped --data-dir is refused, not reported as a trail without its key and journal
  const loc = locateExistingLane(o);
  const dir = auditDir(loc.dataDir);
  const { key, keyNote } = verifyKey(loc.dataDir, o.key);
  // the unsealed tail is judged by the lane's own checkpoint settings when its config is known
  const tailLimits: TailLimits | null = loc.config
    ? {
        checkpointEvery: loc.config.audit.checkpointEvery,
        checkpointIntervalSeconds: loc.config.audit.checkpointIntervalSeconds,
      }
    : null;
  const { report: r, journalNote } = verifyLaneDataDir(loc.dataDir, key, {
    laneId: loc.config ? laneIdFromConfig(loc) : null,
    givenKey: o.key !== undefined,
    ...(tailLimits ? { tailLimits } : {}),
  });
  const limitsNote = tailLimits
    ? `from the config (${loc.how})`
    : "the defaults: no config given, give --config for the lane's own";
  out(o.json ? `${JSON.stringify(r)}\n` : formatReport(r, keyNote, dir, journalNote, limitsNote));
  if (!r.ok) process.exitCode = 1;
}

/** The key verify checks against (--key, else the one beside the log, else none) and what the report says of it. */
function verifyKey(
  dataDir: string,
  given: string | undefined,
): { key: ReturnType<typeof publicKeyFromPem> | null; keyNote: string } {
  if (given !== undefined)
    return {
      key: publicKeyFromPem(readKeyFile(given), `--key ${given}`),
      keyNote: `${given} (given with --key)`,
    };
  const beside = join(dataDir, AUDIT_PUBLIC_KEY_FILE);
  let pem: Buffer | null = null;
  // why there is none: missing only when there is no such file; any other error (EACCES, EISDIR) as it is
  let why = "is missing";
  try {
    pem = readFileSync(beside);
  } catch (e) {
    pem = null;
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") why = `cannot be read (${(e as Error).message})`;
  }
  return {
    key: pem ? publicKeyFromPem(pem, beside) : null,
    keyNote: pem
      ? `${beside}, stored beside the log (for an independent check give --key with the copy the station or your records hold)`
      : `none: ${beside} ${why} and no --key was given, so nothing can be trusted`,
  };
}

function readKeyFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`--key ${path}: cannot read it (${(e as Error).message})`);
  }
}

function laneIdFromConfig(loc: LaneLocation): string {
  return laneKey(loc.config!.lane);
}
