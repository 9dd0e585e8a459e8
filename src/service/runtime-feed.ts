/**
 * The running lane's feed (`LaneView.events$`, `LaneFeedEvent` in ./lane-view.ts): one stream a source,
 * merged by `runtimeFeed`. Vehicles, settlements and status-list changes are not read off a stream here:
 * the view's own subscribers (./runtime-tracker.ts) build them (keeping what the snapshot needs) and push
 * them on the two subjects passed in; the operator's imports go on `extra` too, and so does a background
 * verify's failure that repeats the last one (./runtime-view.ts): the first failure after an intact result,
 * or since the start, reaches the feed as the trail's `lane.alarm` entry, as every alarm entry does.
 */
import { filter, map, merge, Observable, type Subject } from "rxjs";
import type { BoothOutcome } from "../booth/booth.js";
import type { VehicleOutcome } from "../lane/controller.js";
import type { LaneRuntime } from "../lane/runtime.js";
import { type LaneFeedEvent, type VehicleRecordView, vehicleStages } from "./lane-view.js";
import { laneStateOf } from "./runtime-snapshot.js";

export type VehicleEvent = Extract<LaneFeedEvent, { type: "vehicle" }>;
export type SettlementEvent = Extract<LaneFeedEvent, { type: "settlement" }>;
export type BoothRecordEvent = Extract<LaneFeedEvent, { type: "booth-record" }>;

/** A finished vehicle's record as the feed, the page and the snapshot's last vehicles show it. */
export function recordView(r: VehicleOutcome["record"], decisionMs: number | null): VehicleRecordView {
  return {
    seq: r.seq,
    path: r.extra?.path === "booth" ? "booth" : "dsrc",
    tradeId: r.tradeId,
    at: Date.parse(r.createdAt),
    kind: r.kind,
    outcome: r.outcome,
    obuId: r.obuId,
    obuSerial: r.obuSerial,
    cardId: r.cardId,
    plate: r.plate,
    vehicleClass: r.vehicleClass,
    amount: r.amount,
    decisionMs,
  };
}

/** A vehicle the controller finished (outcomes$, first revision): its feed event, built once. */
export function vehicleEvent(v: VehicleOutcome): VehicleEvent {
  const record = recordView(v.record, v.decisionMs);
  return {
    type: "vehicle",
    at: record.at,
    record,
    stages: vehicleStages(v.record.stageTimes, v.barrierAt),
    commitMs: v.commitMs,
  };
}

/** A record the booth committed (the booth's outcomes$, first revision): its feed event, built once. */
export function boothRecordEvent(o: BoothOutcome | VehicleOutcome): BoothRecordEvent {
  const record = recordView(o.record, null);
  return { type: "booth-record", at: record.at, record, commitMs: o.commitMs };
}

/**
 * A suspect settled after its vehicle finished (the controller's or the booth's outcomes$ again, a later
 * revision: a late B5 or B8, the operator, the booth from the card): `decisionMs` the
 * vehicle's own when the view still has its row, `at` when it was settled, `settledBy` from the record's
 * extra.settlement.
 */
export function settlementEvent(
  v: VehicleOutcome | BoothOutcome,
  decisionMs: number | null,
  at: number,
): SettlementEvent {
  const record = recordView(v.record, decisionMs);
  const by = (v.record.extra?.settlement as { settledBy?: unknown } | undefined)?.settledBy;
  return { type: "settlement", at, record, settledBy: typeof by === "string" ? by : null };
}

/** The lane's state (`lane` events), at each of the controller's `status$`. */
export function laneStateEvents(c: LaneRuntime["controller"], now: () => number): Observable<LaneFeedEvent> {
  return c.status$.pipe(
    map((s) => {
      const st = laneStateOf(s);
      return {
        type: "lane" as const,
        at: now(),
        status: st.status,
        canTrade: st.canTrade,
        reason: st.reason,
        detail: st.detail,
      };
    }),
  );
}

/** The RSU link's changes, from the controller's `events$`. */
export function rsuLinkEvents(c: LaneRuntime["controller"], now: () => number): Observable<LaneFeedEvent> {
  return c.events$.pipe(
    filter((e) => e.type === "link"),
    map((e): LaneFeedEvent => {
      const l = e as { status: string; reason?: string };
      return { type: "link", at: now(), link: "rsu", status: l.status, reason: l.reason ?? null };
    }),
  );
}

/**
 * The alarms: every entry of alarm severity the lane writes to its trail, whoever wrote it (the
 * controller's and the booth's lane.alarm, the trail's own audit.*, status-list.refused, service.http,
 * uplink.records-held, journal.error, disk.error, lane.closed, a link down...), each once, from the
 * lane's start: the trail holds those written before anyone listened for the first subscriber (the feed
 * pump, ./feed-pump.ts), so an alarm of the start (a gap found at open) is counted too. A booth.* entry of
 * alarm severity (booth.refused, booth.recovery, booth.evidence) is the detail of the alarm the booth
 * raises with it, as a lane.alarm entry (BoothEffects.alarm, src/booth/effects.ts): that one is the alarm.
 */
export function alarmEvents(audit: LaneRuntime["audit"]): Observable<LaneFeedEvent> {
  return new Observable<LaneFeedEvent>((sub) =>
    audit.onAlarmEntry((a) => {
      if (!a.type.startsWith("booth."))
        sub.next({ type: "alarm", at: a.at, code: a.code, message: a.message });
    }),
  );
}

/** The station link's state, from the uplink's `state$`. */
export function stationLinkEvents(
  uplink: NonNullable<LaneRuntime["uplink"]>,
  now: () => number,
): Observable<LaneFeedEvent> {
  return uplink.state$.pipe(
    map((s) => ({ type: "link" as const, at: now(), link: "station" as const, status: s, reason: null })),
  );
}

/** The card reader link's state, from the reader's `state$`. */
export function readerLinkEvents(
  reader: NonNullable<LaneRuntime["reader"]>,
  now: () => number,
): Observable<LaneFeedEvent> {
  return reader.state$.pipe(
    map((s) => ({
      type: "link" as const,
      at: now(),
      link: "reader" as const,
      status: s.status,
      reason: s.reason ?? null,
    })),
  );
}

/** The booth's cases opened and closed, from the booth's `events$`. */
export function boothEvents(
  booth: NonNullable<LaneRuntime["booth"]>,
  now: () => number,
): Observable<LaneFeedEvent> {
  return booth.events$.pipe(
    filter((b) => b.type === "booth"),
    map((b) => ({ type: "booth" as const, at: now(), action: b.action, case: b.case })),
  );
}

/**
 * The whole feed: the vehicles and settlements (`vehicles`), the lane's state, the RSU link, the alarms,
 * the events pushed on `extra` (status-list changes, a failed verify), then the station link, the reader
 * link and the booth's cases when the lane has them.
 */
export function runtimeFeed(
  rt: LaneRuntime,
  now: () => number,
  pushed: { vehicles: Subject<LaneFeedEvent>; extra: Subject<LaneFeedEvent> },
): Observable<LaneFeedEvent> {
  const c = rt.controller;
  const sources: Observable<LaneFeedEvent>[] = [
    pushed.vehicles,
    laneStateEvents(c, now),
    rsuLinkEvents(c, now),
    alarmEvents(rt.audit),
    pushed.extra,
  ];
  if (rt.uplink) sources.push(stationLinkEvents(rt.uplink, now));
  if (rt.reader) sources.push(readerLinkEvents(rt.reader, now));
  if (rt.booth) sources.push(boothEvents(rt.booth, now));
  return merge(...sources);
}
