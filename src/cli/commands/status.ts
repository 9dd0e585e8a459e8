/**
 * `etc-lane status [--json] [--full-ids]`: the running lane's state for a person (aligned, local time in
 * the lane's UTC offset, card numbers masked) or as the JSON snapshot (card numbers masked too). It asks the lane over its control
 * socket; when no lane answers it says so, shows what the data directory's journal holds, and exits 3,
 * or 4 when a lane holds the data directory but does not answer (starting or stopping, or its socket
 * removed); a lane that takes the request but does not answer within --timeout: exit 5 (../exit-codes.ts).
 */
import type { Command } from "commander";
import { type DataDirHolder, dataDirHolder, holderElsewhere, holderPlace } from "../../datadir/lock.js";
import { JournalReader } from "../../journal/journal.js";
import { laneLabel } from "../../journal/trade-id.js";
import {
  OPERATOR_CLOSE_SETTING,
  type OperatorClose,
  operatorDetail,
  operatorLabel,
  parseOperatorClose,
} from "../../lane/operator-close.js";
import { CONTROL_NOT_CONNECTED, LaneNotRunning } from "../../service/control/client.js";
import { controlSocketPath } from "../../service/control/protocol.js";
import {
  duration,
  KIND_LABEL,
  LANE_STATUS_LABEL,
  localTime,
  maskCardId,
  maskCardIdsIn,
  ms3,
  offsetLabel,
  yuan,
} from "../../service/format.js";
import type { LaneSnapshot } from "../../service/lane-view.js";
import { EXIT_NOT_ANSWERING, EXIT_NOT_RUNNING } from "../exit-codes.js";
import { terminalSafe } from "../format.js";
import type { LaneLocationOptions } from "../lane-locate.js";
import { addOperatorOptions, answerTimeoutMs, askLane } from "../operator-call.js";
import { locateExistingLane } from "../require-data-dir.js";
import { CommandExit } from "../run-cli.js";
import { table } from "../text-table.js";

export { EXIT_NOT_ANSWERING, EXIT_NOT_RUNNING };

interface StatusOpts extends LaneLocationOptions {
  json?: boolean;
  fullIds?: boolean;
  timeout?: string;
}

function counterLine(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}

/** How the formatter shows a time and a card number. */
interface Show {
  t(ms: number | null): string;
  card(id: string | null): string;
}
type Row = string[];

/** The human form of a snapshot: one aligned block, then the booth queue and the last transactions. */
export function formatStatus(snapshot: LaneSnapshot, o: { fullIds?: boolean } = {}): string {
  // the free text the lane wrote (why it is closed, the link's and the uplink's errors, booth details)
  // may name a card: masked as the page masks it (src/service/page/render.ts), in the values, before the
  // table escapes a newline as \x0a and the number after it would no longer stand alone
  const s = o.fullIds ? snapshot : (maskCardIdsIn(snapshot) as LaneSnapshot);
  const off = s.lane.utcOffsetMinutes;
  const show: Show = {
    t: (ms) => localTime(ms, off),
    card: (id) => (o.fullIds ? (id ?? "-") : maskCardId(id)),
  };
  const rows = [
    ...laneRows(s, show),
    ...deviceRows(s),
    ...queueRows(s, show),
    ...boothRows(s),
    ...processRows(s, show),
  ];
  const out = [
    `etc-lane status at ${show.t(s.at)} (UTC${offsetLabel(off)})`,
    "",
    ...table(rows),
    ...boothCasesBlock(s, show),
    ...lastTransactionsBlock(s, show),
  ];
  return `${out.join("\n")}\n`;
}

/** The lane's state, why, and who closed it. */
function laneRows(s: LaneSnapshot, { t }: Show): Row[] {
  const lane = laneLabel(s.lane);
  const st = LANE_STATUS_LABEL[s.state.status] ?? { zh: s.state.status, en: s.state.status };
  const rows: Row[] = [
    [
      `Lane ${lane} (${s.lane.role})`,
      `${st.en} ${st.zh}`,
      `${s.state.canTrade ? "trading" : `NOT trading${s.state.reason ? ` [${s.state.reason}]` : ""}`}, since ${t(s.state.since)}`,
    ],
  ];
  if (s.state.detail) rows.push(["  why", "", s.state.detail]);
  const oc = s.state.operatorClosed;
  if (oc)
    rows.push([
      "  closed by",
      "",
      `${operatorLabel(oc.user, oc.sudoUser)} (uid ${oc.uid}) at ${t(oc.at)}: ${oc.reason}`,
    ]);
  return rows;
}

/** The RSU and card reader links with their counters, and the status list. */
function deviceRows(s: LaneSnapshot): Row[] {
  const dev = s.rsu.device;
  const rows: Row[] = [
    [
      "RSU link",
      s.rsu.status,
      [
        s.rsu.reason,
        dev ? `RSU ${dev.rsuId} v${dev.version}` : null,
        dev
          ? `PSAM ${dev.psams.map((p) => `${p.terminalId}${p.authorised ? "" : " (not authorised)"}`).join(", ") || "none"}`
          : null,
      ]
        .filter((x) => x)
        .join("; "),
    ],
    ["  counters", "", counterLine(s.rsu.counters)],
  ];
  if (s.reader) {
    rows.push(["Card reader", s.reader.status, s.reader.reason ?? ""]);
    const unfit = s.booth.desk?.readerUnfit;
    if (unfit) rows.push(["  unfit", "booth not ready", unfit]);
    rows.push(["  counters", "", counterLine(s.reader.counters)]);
  } else rows.push(["Card reader", "-", "not configured"]);
  const sl = s.statusList;
  rows.push([
    "Status list",
    sl.state,
    `full ${sl.versions.full ?? "-"} (${duration(sl.ages.fullMs)}), delta ${sl.versions.delta ?? "-"} (${duration(sl.ages.deltaMs)})` +
      (sl.counts ? `; ${sl.counts.cards} cards, ${sl.counts.obus} OBUs` : "") +
      (sl.state === "ok" ? "" : `; ${sl.reason}`) +
      (sl.download
        ? `; downloading ${sl.download.name}, page ${sl.download.pagesDone}/${sl.download.pages}`
        : "") +
      (sl.applying ? `; applying ${sl.applying}` : ""),
  ]);
  return rows;
}

/**
 * What the journal keeps since it was found behind the audit trail, one row each, with the command that
 * releases it (docs/journal.md, "A journal behind the audit trail"); none on a journal never found behind.
 */
function keptBehindTrailRows(s: LaneSnapshot, { card }: Show): Row[] {
  const k = s.journal.keptBehindTrail;
  return [
    ...k.suspects.map((x) => [
      "Kept suspect",
      `seq ${x.seq}`,
      `not in journal.db (restored behind the trail): ${x.tradeId}, card ${card(x.cardId)}, OBU ${x.obuSerial ?? "-"}, ` +
        `${yuan(x.amount)} yuan, recorded ${x.recordedAt}; held until \`etc-lane journal settle ${x.seq} --debited|--not-debited --reason TEXT\``,
    ]),
    ...k.intents.map((id) => [
      "Kept intent",
      `id ${id}`,
      `debit intent from before the restore, not recovered; its card and OBU held until, on the stopped lane, \`etc-lane journal resolve-intent ${id} --resolved|--recover --reason TEXT\``,
    ]),
  ];
}

/** The upload queue, the journal and the vehicles in flight. */
function queueRows(s: LaneSnapshot, show: Show): Row[] {
  const { t } = show;
  const u = s.uplink;
  // the batch size in use: below the configured one after uploads that failed (docs/station-api.md, "A
  // batch the station does not take")
  const batch = u.batch
    ? `; batch ${u.batch.size}${u.batch.size < u.batch.max ? ` of ${u.batch.max} (reduced after failed uploads)` : ""}`
    : "";
  return [
    [
      "Upload queue",
      u.state,
      `${u.queueDepth} pending (${u.held} held), oldest ${duration(u.oldestPendingAgeMs)}${batch}; last success ${t(u.lastSuccessAt)}` +
        (u.lastError ? `; last error ${u.lastError.code}: ${u.lastError.message}` : ""),
    ],
    [
      "Journal",
      s.journal.healthy ? "healthy" : "FAILED",
      `last seq ${s.journal.lastSeq}, last commit ${ms3(s.journal.lastCommitMs)}` +
        (s.journal.error ? `; ${s.journal.error.code}: ${s.journal.error.message}` : ""),
    ],
    ...keptBehindTrailRows(s, show),
    captureRow(s, show),
    ["In flight", String(s.inFlight.length), s.inFlight.map((m) => `${m.obuId} ${m.phase}`).join(", ")],
  ];
}

/**
 * The wire capture (docs/capture.md): off, capturing (its file, what this run wrote), or STOPPED with why
 * and since when (the lane trades on without it).
 */
function captureRow(s: LaneSnapshot, { t }: Show): Row {
  const c = s.capture;
  if (!c) return ["Wire capture", "off", "capture.enabled is false"];
  const written = `${c.files} file(s), ${Math.round(c.bytes / 1024)} KiB written in ${c.dir}`;
  if (c.stopped)
    return [
      "Wire capture",
      "STOPPED",
      `since ${t(c.stopped.at)} [${c.stopped.reason}]: ${c.stopped.message}; ${written}`,
    ];
  return ["Wire capture", "capturing", `${c.current ?? "no file yet"}; ${written}`];
}

/** How many of the booth's cases wait, are taken and are being worked on ("2 waiting, 1 taken"). */
function caseStates(cases: LaneSnapshot["booth"]["cases"]): string {
  const n = { waiting: 0, taken: 0, active: 0 };
  for (const c of cases) n[c.status ?? "waiting"]++;
  return [
    n.waiting ? `${n.waiting} waiting` : "",
    n.taken ? `${n.taken} taken` : "",
    n.active ? `${n.active} being worked on` : "",
  ]
    .filter(Boolean)
    .join(", ");
}

/** The booth queue's length and the booth desk's counters. */
function boothRows(s: LaneSnapshot): Row[] {
  const rows: Row[] = [["Booth queue", String(s.booth.cases.length), caseStates(s.booth.cases)]];
  const desk = s.booth.desk;
  if (desk) {
    const n = (k: string): number => desk.counters[k] ?? 0;
    const last = desk.lastTiming;
    rows.push([
      "Booth",
      desk.screen ? `${desk.screen.step} ${desk.screen.text}` : "-",
      `${n("transactions")} paid, ${n("refusals")} refused, ${n("recoveries")} recovered, ${n("cancelled")} cancelled` +
        (desk.recovering ? `; ${desk.recovering} debit(s) being recovered` : "") +
        (last ? `; last ${ms3(last.totalMs)} (reader ${ms3(last.readerMs)}, lane ${ms3(last.laneMs)})` : ""),
    ]);
  }
  return rows;
}

/** The lane's counters, the clock skew, the process and the audit trail. */
function processRows(s: LaneSnapshot, { t }: Show): Row[] {
  const cp = s.audit.lastCheckpoint;
  return [
    ["Lane counters", "", counterLine(s.counters)],
    [
      "Clock skew",
      s.clock.skewToStationMs === null ? "-" : `${s.clock.skewToStationMs} ms`,
      s.clock.measuredAt === null ? "not measured yet" : `station - lane, measured ${t(s.clock.measuredAt)}`,
    ],
    [
      "Process",
      `pid ${s.process.pid}`,
      `up ${duration(s.process.uptimeMs)} (since ${t(s.process.startedAt)}), Node ${s.process.node}, rss ${Math.round(s.process.rssBytes / 1048576)} MiB`,
    ],
    [
      "Audit trail",
      s.audit.lastSeq === null ? "empty" : `seq ${s.audit.lastSeq}`,
      cp ? `last checkpoint #${cp.n} (to ${cp.to}) at ${t(cp.at)}` : "no checkpoint yet",
    ],
  ];
}

/** The booth cases waiting, one line each (nothing when none waits). */
function boothCasesBlock(s: LaneSnapshot, { t, card }: Show): string[] {
  if (!s.booth.cases.length) return [];
  return [
    "",
    "Booth queue",
    ...table([
      ["OPENED", "KIND", "REASON", "CARD", "OBU", "PLATE", "DETAIL"],
      ...s.booth.cases.map((b) => [
        t(b.openedAt).slice(11),
        b.kind,
        b.reason,
        card(b.cardId),
        b.obuId ?? "-",
        b.plate ?? "-",
        b.detail,
      ]),
    ]).map((l) => `  ${l}`),
  ];
}

/** The last transactions, newest first: the antenna's vehicles and the booth's records (marked booth). */
function lastTransactionsBlock(s: LaneSnapshot, { t, card }: Show): string[] {
  if (!s.lastTransactions.length) return ["", "No transaction yet"];
  return [
    "",
    "Last transactions (newest first)",
    ...table(
      [
        ["TIME", "SEQ", "KIND", "OUTCOME/REASON", "CARD", "OBU", "PLATE", "YUAN", "DECISION"],
        ...s.lastTransactions.map((r) => [
          t(r.at),
          String(r.seq),
          `${KIND_LABEL[r.kind]?.en ?? r.kind}${r.path === "booth" ? " (booth)" : ""}`,
          r.outcome,
          card(r.cardId),
          r.obuId,
          r.plate ?? "-",
          yuan(r.kind === "stop" ? null : r.amount),
          ms3(r.decisionMs),
        ]),
      ],
      new Set([1, 7, 8]),
    ).map((l) => `  ${l}`),
  ];
}

/**
 * What the data directory shows when no lane is running (the journal, read-only). The kept close's text
 * (who closed the lane, the reason typed) is masked as the running lane's status masks it (formatStatus),
 * in the text and the JSON, unless `fullIds`; in the text, its control characters shown as `\xNN`
 * (terminalSafe), after the masking.
 */
function offlineSummary(
  dataDir: string,
  found: { how: string; dataDirFrom: string },
  fullIds: boolean,
): { text: string; json: Record<string, unknown> } {
  let reader: JournalReader;
  try {
    // a directory with no journal: named by how the lane was found (the config's dataDir, say)
    reader = JournalReader.openReadOnly(dataDir, { found });
  } catch (e) {
    return { text: `  journal: ${(e as Error).message}\n`, json: { journal: null, operatorClose: null } };
  }
  try {
    const st = reader.stats();
    // an operator's close kept in the journal: the lane starts closed (src/lane/operator-close.ts restore)
    const kept = reader.readSetting(OPERATOR_CLOSE_SETTING);
    const parsed = kept === null ? null : parseOperatorClose(kept);
    const close = parsed === null || fullIds ? parsed : (maskCardIdsIn(parsed) as OperatorClose);
    return {
      text:
        `  journal: ${st.records} record(s) (${st.byKind.transaction} transactions, ${st.byKind.stop} stops, ` +
        `${st.byKind.suspect} suspects), last seq ${st.lastSeq}; ${st.pending} awaiting upload (${st.held} held), ` +
        `oldest ${duration(st.oldestPendingAgeMs)}\n` +
        (close
          ? `  operator close: ${terminalSafe(operatorDetail(close))}, at ${isoOrUnknown(close.at)}; ` +
            "the lane starts closed until `etc-lane lane open`\n"
          : ""),
      json: { journal: st, operatorClose: close },
    };
  } finally {
    reader.close();
  }
}

/** A kept time as ISO UTC, "?" when it is no time (an unreadable or edited setting). */
const isoOrUnknown = (ms: unknown): string =>
  typeof ms === "number" && ms > 0 && Number.isFinite(new Date(ms).getTime())
    ? new Date(ms).toISOString()
    : "?";

const holderJson = (h: DataDirHolder | null): Record<string, unknown> | null =>
  h
    ? {
        role: h.role,
        command: h.command,
        since: h.since,
        host: h.host,
        ...(h.pidNs !== undefined ? { pidNs: h.pidNs } : {}),
      }
    : null;

/**
 * Nothing answers on the control socket. Either no lane runs (exit 3), or one holds the data directory
 * and does not answer (exit 4): it is starting (the socket is bound once it is open) or stopping (the socket
 * stops listening at once, while the lane ends its actions and drains its debits under the lock:
 * src/cli/commands/run.ts), or its socket file was removed; nothing tells these three apart. Which of
 * exit 3 and exit 4 it is, is told by the data-directory lock's holder, read without taking the lock.
 * Nobody here, but a holder file of another host, or of this host and another pid namespace while this
 * process runs in a container: exit 3, "not running here", naming that holder as a question
 * (src/datadir/lock.ts holderElsewhere; read from the host's own pid namespace, whose /proc/locks shows
 * every lock of the computer, such a file is a dead holder's: plain "not running").
 * `told`, what is known instead of the guess at why, said in its place:
 * - `notConnected`: the connection to the socket did not complete within --timeout (LaneNotConnected, this
 *   process held up) (`--json`: `answering: false` and `notConnected`);
 * - `stopping`: the lane took the connection just before its stop and answered the request `STOPPING`
 *   (src/service/control/server.ts) (`--json`: `answering: false` and `stopping`);
 * - `busy`: the lane answered `BUSY` (too many control connections waiting for their answers) or
 *   `TOO_SLOW` (the request line did not reach it within its limit), its request not run: it runs, and
 *   this status was not had (`--json`: `answering: false` and `busy`).
 */
function notAnswering(
  dataDir: string,
  path: string,
  loc: { how: string; dataDirFrom: string },
  show: { json: boolean; fullIds: boolean },
  told?: { notConnected: string } | { stopping: string } | { busy: string },
): void {
  const how = loc.how;
  const said = told
    ? "notConnected" in told
      ? told.notConnected
      : "stopping" in told
        ? `the lane answered that it is stopping (${told.stopping})`
        : `the lane did not run the request (${told.busy})`
    : undefined;
  const off = offlineSummary(dataDir, loc, show.fullIds);
  const held = dataDirHolder(dataDir);
  // a maintenance command holds it: no lane runs; a lane, or a holder that has not written who it is yet
  // (a lane takes the lock first thing), is a lane that does not answer
  const lane = held !== null && held.holder?.role !== "cli";
  // nobody here holds it, but the holder file names another host, or another pid namespace while this runs
  // in a container (holderElsewhere): a lane there may hold it out of sight, or one killed there left the
  // file; said, not decided
  const elsewhere = held === null ? holderElsewhere(dataDir) : null;
  if (show.json) {
    const base = { dataDir, ...told, ...off.json };
    process.stdout.write(
      `${JSON.stringify(
        lane
          ? { running: true, answering: false, pid: held.pid, holder: holderJson(held.holder), ...base }
          : {
              running: false,
              ...(said ? { answering: false } : {}),
              ...(held ? { heldBy: { pid: held.pid, ...holderJson(held.holder) } } : {}),
              ...(elsewhere ? { holderFileElsewhere: { pid: elsewhere.pid, ...holderJson(elsewhere) } } : {}),
              ...base,
            },
      )}\n`,
    );
  } else if (lane) {
    const who = held.holder ? `${held.holder.command}, running since ${held.holder.since}` : "not named yet";
    process.stdout.write(
      (said
        ? `lane pid ${held.pid} holds the data directory; ${said} (found by ${how}; ${who})`
        : `lane pid ${held.pid} holds the data directory but does not answer (starting or stopping, or its control socket is gone): ` +
          `nothing answers on ${path} (found by ${how}; ${who})`) + `\n${off.text}`,
    );
  } else if (elsewhere)
    process.stdout.write(
      `lane not running here: nothing answers on ${path} (found by ${how}); the holder file names ` +
        `${elsewhere.command} (pid ${elsewhere.pid}) ${holderPlace(elsewhere)} since ${elsewhere.since}: running ` +
        "there? A lane on another computer (through a network file system) or in another pid namespace (a " +
        "container with its own process namespace, or the host's seen from a container) holds the lock out of " +
        "sight of this process; one killed there leaves the file behind\n" +
        off.text,
    );
  else
    process.stdout.write(
      `lane not running: nothing answers on ${path} (found by ${how})` +
        (held ? `; ${held.holder?.command ?? "a command"} (pid ${held.pid}) holds the data directory` : "") +
        (said ? `; ${said}` : "") +
        `\n${off.text}`,
    );
  process.exitCode = lane ? EXIT_NOT_ANSWERING : EXIT_NOT_RUNNING;
}

export function registerStatus(program: Command): void {
  addOperatorOptions(
    program
      .command("status")
      .description(
        "the running lane's state: trading or not and why, links and counters, status list, upload queue, wire capture, booth queue, last transactions",
      )
      .option(
        "--json",
        "the lane's status snapshot as JSON (as GET /status, but card numbers masked unless --full-ids)",
      )
      .option("--full-ids", "show card numbers in full, in the text and in --json (masked by default)"),
  ).action(async (o: StatusOpts) => {
    // a mistyped --data-dir is refused (exit 1), not answered "lane not running" (exit 3)
    const loc = locateExistingLane(o);
    const timeoutMs = answerTimeoutMs(o);
    const path = controlSocketPath(loc.dataDir);
    const show = { json: o.json === true, fullIds: o.fullIds === true };
    let snapshot: LaneSnapshot;
    try {
      const r = await askLane(path, { action: "status" }, { timeoutMs });
      // a lane that took the connection just before its stop refuses the request: it is stopping, told as
      // a lane that does not answer (exit 4 while it holds the data directory, with its --json line)
      if (r.kind === "error" && r.code === "STOPPING") {
        notAnswering(loc.dataDir, path, loc, show, { stopping: r.message });
        return;
      }
      // a lane with too many control connections waiting (BUSY), or that did not get the request line in
      // time (TOO_SLOW), runs but gave no status: told as a lane that does not answer (exit 4), not as a
      // refusal (exit 1)
      if (r.kind === "error" && (r.code === "BUSY" || r.code === "TOO_SLOW")) {
        notAnswering(loc.dataDir, path, loc, show, { busy: `${r.code}: ${r.message}` });
        return;
      }
      if (r.kind === "error") throw new Error(`the lane refused: ${r.message}`);
      snapshot = (r.data as { snapshot: LaneSnapshot }).snapshot;
    } catch (e) {
      // a connection that did not complete within --timeout (nothing sent) is told as a lane that does not
      // answer, so that exit 4 comes with its --json line as it always did
      const notConnected =
        e instanceof CommandExit && e.code === CONTROL_NOT_CONNECTED ? e.message : undefined;
      if (!(e instanceof LaneNotRunning) && notConnected === undefined) throw e;
      notAnswering(loc.dataDir, path, loc, show, notConnected === undefined ? undefined : { notConnected });
      return;
    }
    // card numbers masked as in the text (and in booth list --json) unless --full-ids; GET /status keeps
    // them in full for scripts
    if (o.json) process.stdout.write(`${JSON.stringify(o.fullIds ? snapshot : maskCardIdsIn(snapshot))}\n`);
    else process.stdout.write(formatStatus(snapshot, { fullIds: o.fullIds === true }));
  });
}
