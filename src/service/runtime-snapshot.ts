/**
 * The parts of the running lane's snapshot (`LaneSnapshot` in ./lane-view.ts), one builder a part, each
 * from what the lane keeps in memory. `LaneRuntimeView.snapshot()` (./runtime-view.ts) puts them
 * together in the snapshot's order; what it keeps from the lane's streams (since when the lane is in its
 * state, the RSU and reader links' last changes, the last vehicles, the status list's counts) comes from
 * ./runtime-tracker.ts.
 */
import { performance } from "node:perf_hooks";
import type { BoothStatus } from "../booth/view.js";
import type { JournalHealth } from "../journal/db.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { LaneRuntime } from "../lane/runtime.js";
import type { UplinkStatus } from "../uplink/uplink.js";
import {
  type AuditView,
  type CaptureView,
  type ClockView,
  flattenCounters,
  type JournalView,
  type LaneSnapshot,
  type LaneStateView,
  type LinkView,
  type ProcessView,
  type RsuView,
  type StatusListView,
  type UplinkView,
} from "./lane-view.js";

type CounterMap = Readonly<Record<string, number | Readonly<Record<string, number>>>>;

/** The reader link as the view last saw it on the reader's `state$` (./runtime-tracker.ts). */
export interface ReaderLinkState {
  status: LinkView["status"];
  reason: string | null;
  since: number | null;
}

/** The status list's counts and import time, read again only after its versions change. */
export interface StatusListInfo {
  counts: { cards: number; obus: number } | null;
  appliedAt: number | null;
}

/** `state` without its `since` and `operatorClosed`, from the controller's status (the feed's `lane` too). */
export function laneStateOf(
  s: LaneRuntime["controller"]["status"],
): Omit<LaneStateView, "since" | "operatorClosed"> {
  if (s.status === "open")
    return { status: "open", canTrade: true, reason: null, detail: `RSU ${s.rsu.rsuId} v${s.rsu.version}` };
  if (s.status === "closed") {
    const stopping = s.reason === "stopping" || s.reason === "stopped";
    return {
      status: stopping ? "stopping" : "closed",
      canTrade: false,
      reason: s.reason,
      detail: s.detail,
    };
  }
  return { status: "starting", canTrade: false, reason: "starting", detail: "the lane is starting" };
}

/**
 * `state` as /health answers it: the controller's, but closed for the journal as soon as the journal is
 * unhealthy. A failed read closes the lane on the controller's queue (src/lane/lane-gate.ts), after the
 * snapshot whose read found it: that snapshot must not say the lane can trade. `since` is when the
 * controller entered its state (`stateSince`, ./runtime-tracker.ts), but while the journal's failure
 * overrides it, when the journal failed (its error's time; `now` if it has none): the lane has been closed
 * since then, not since it opened.
 */
export function tradingState(
  s: LaneRuntime["controller"]["status"],
  journal: JournalHealth,
  stateSince: number,
  now: number,
): Omit<LaneStateView, "operatorClosed"> {
  const st = laneStateOf(s);
  if (journal.healthy || !st.canTrade) return { ...st, since: stateSince };
  const failedAt = journal.error ? Date.parse(journal.error.at) : Number.NaN;
  return {
    status: "closed",
    canTrade: false,
    reason: "journal",
    detail: "journal failed: the lane is closing",
    since: Number.isFinite(failedAt) ? failedAt : now,
  };
}

/** A link's status as the snapshot names it: anything else is "down". */
export function linkStatus(s: string): LinkView["status"] {
  return s === "up" || s === "down" || s === "stopped" || s === "connecting" ? s : "down";
}

/** Wall ms of a monotonic instant (performance.now() clock). */
function wallOf(mono: number, now: () => number): number {
  return Math.round(now() - (performance.now() - mono));
}

/**
 * `rsu`: the RSU link's state and counters; `since` the view's own time of the link's last change, else
 * the link's monotonic one; the device from the last B0 whatever the lane's state (closed by an operator,
 * by the list, or by that B0 itself: which PSAM is not authorised is what keeps the lane closed).
 */
export function rsuView(rt: LaneRuntime, rsuSince: number | null, now: () => number): RsuView {
  const link = rt.link.state;
  const b0 = rt.controller.lastB0;
  return {
    status: linkStatus(link.status),
    reason: link.reason ?? null,
    since: rsuSince ?? wallOf(link.since, now),
    counters: flattenCounters(rt.link.counters as unknown as CounterMap),
    device: b0 ? { rsuId: b0.rsuId, version: b0.version, psams: b0.psams } : null,
  };
}

/** `reader`: null without a reader; its state as last seen (connecting before any) and its counters. */
export function readerView(reader: LaneRuntime["reader"], seen: ReaderLinkState | null): LinkView | null {
  return reader
    ? {
        status: seen?.status ?? "connecting",
        reason: seen?.reason ?? null,
        since: seen?.since ?? null,
        counters: reader.counters ? flattenCounters(reader.counters) : {},
      }
    : null;
}

/** `statusList`: the list's health, its counts and import time, the uplink's download and apply. */
export function statusListView(
  health: ReturnType<LaneRuntime["statusList"]["health"]>,
  info: StatusListInfo,
  up: UplinkStatus | null,
): StatusListView {
  return {
    state: health.state,
    reason: health.reason,
    versions: health.versions,
    ages: { fullMs: health.ages.fullMs, deltaMs: health.versions.delta ? health.ages.newestMs : null },
    appliedAt: info.appliedAt,
    counts: info.counts,
    cardsNoNetwork: health.cardsNoNetwork,
    download: up?.statusList?.download ?? null,
    applying: up?.statusList?.applying ?? null,
  };
}

/** The snapshot's `uplink` from the uplink's status (src/uplink/uplink-status.ts): times as epoch ms. */
export function uplinkView(up: UplinkStatus): UplinkView {
  return {
    state: up.state,
    queueDepth: up.queueDepth + up.held,
    held: up.held,
    oldestPendingAgeMs: up.oldestPendingAgeMs,
    batch: { size: up.batch.size, max: up.batch.max },
    lastSuccessAt: up.lastSuccessAt ? Date.parse(up.lastSuccessAt) : null,
    lastError: up.lastError
      ? { code: up.lastError.code, message: up.lastError.message, at: Date.parse(up.lastError.at) }
      : null,
  };
}

/**
 * `uplink` without a station: the journal's queue (held records included), state "disabled". Never throws,
 * as the uplink's own status does not (src/uplink/uplink-status.ts outboxFigures): the queue's age is a
 * read of journal.db, and a damaged file or an I/O error there (the journal's failure, which closes the
 * lane) must not take /health, /status, /metrics, the page and `etc-lane status` with it. The age is then
 * unknown (null) and `lastError` says why; the counts are the journal's own, kept in memory.
 */
export function disabledUplinkView(j: LaneRuntime["journal"], now: () => number): UplinkView {
  let oldestPendingAgeMs: number | null = null;
  let lastError: UplinkView["lastError"] = null;
  try {
    oldestPendingAgeMs = j.oldestPendingAgeMs();
  } catch (e) {
    lastError = {
      code: errorCode(e) ?? JournalErrorCodes.JournalWrite,
      message: `the upload queue's age could not be read from the journal: ${e instanceof Error ? e.message : String(e)}`,
      at: now(),
    };
  }
  return {
    state: "disabled",
    queueDepth: j.queueDepth() + j.heldCount(),
    held: j.heldCount(),
    oldestPendingAgeMs,
    batch: null,
    lastSuccessAt: null,
    lastError,
  };
}

function errorCode(e: unknown): string | null {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : null;
}

/**
 * `journal`: its health (and why not), last seq, the last vehicle's durable commit time, and what it keeps
 * since it was found behind the audit trail (from memory).
 */
export function journalView(j: LaneRuntime["journal"], lastCommitMs: number | null): JournalView {
  const h = j.health();
  const e = h.healthy ? null : (h.error ?? null);
  return {
    healthy: h.healthy,
    error: e ? { code: e.code, message: e.message, at: Date.parse(e.at) } : null,
    lastSeq: j.lastSeq(),
    lastCommitMs,
    keptBehindTrail: {
      suspects: j.keptSuspects().map((k) => ({
        seq: k.jseq,
        tradeId: k.tradeId,
        cardId: k.cardId,
        obuSerial: k.obuSerial,
        plate: k.plate,
        amount: k.amount,
        recordedAt: k.recordedAt,
      })),
      intents: j.keptIntentIds(),
    },
  };
}

/** `booth`: the booth's part of the snapshot from its status() (one call: cheap, no journal access). */
export function boothView(booth: LaneRuntime["booth"]): LaneSnapshot["booth"] {
  return booth ? boothDeskView(booth.status()) : { cases: [], desk: null };
}

function boothDeskView(b: BoothStatus): LaneSnapshot["booth"] {
  const t = b.lastTiming;
  return {
    cases: b.cases,
    desk: {
      screen: b.screen,
      counters: { ...b.counters },
      recovering: b.recovering,
      readerUnfit: b.readerUnfit,
      lastTiming: t
        ? { totalMs: t.totalMs, readerMs: t.readerMs, laneMs: t.laneMs, commitMs: t.commitMs }
        : null,
    },
  };
}

/** `process`: this process, `now` the snapshot's time. */
export function processView(startedAt: number, now: number): ProcessView {
  const mem = process.memoryUsage();
  return {
    pid: process.pid,
    startedAt,
    uptimeMs: now - startedAt,
    node: process.version,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
  };
}

/** `clock`: the station's clock minus the lane's at the uplink's last heartbeat. */
export function clockView(up: UplinkStatus | null): ClockView {
  return up?.clock
    ? { skewToStationMs: up.clock.skewMs, measuredAt: Date.parse(up.clock.measuredAt) }
    : { skewToStationMs: null, measuredAt: null };
}

/** `audit`: the trail's last seq (null before the first entry) and last checkpoint. */
export function auditView(audit: ReturnType<LaneRuntime["audit"]["status"]>): AuditView {
  return {
    lastSeq: audit.lastSeq > 0 ? audit.lastSeq : null,
    lastCheckpoint: audit.lastCheckpoint
      ? { n: audit.lastCheckpoint.n, at: audit.lastCheckpoint.at ?? 0, to: audit.lastCheckpoint.to }
      : null,
  };
}

/** `capture`: the wire capture's state (src/capture/wire-capture.ts status()), null without one. */
export function captureView(capture: LaneRuntime["capture"]): CaptureView | null {
  if (!capture) return null;
  const s = capture.status();
  return {
    active: s.active,
    dir: s.dir,
    current: s.current,
    files: s.files,
    bytes: s.bytes,
    stopped: s.stopped ? { ...s.stopped } : null,
  };
}
