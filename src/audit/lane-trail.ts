/**
 * The lane's own events into the trail (docs/audit.md, "Entry kinds"), each written once, by one
 * subscriber, here:
 *
 * - the lane gate (the controller's `status$`): `lane.open`, and `lane.closed` with the reason code and
 *   its detail at every change of reason (an alarm once the lane has been open; a warning while it waits
 *   to open at start); a stop closes the gate too, but `lane.stop` says so (written by the runtime at
 *   close), so the stopping and stopped states are not repeated;
 * - the RSU link (the controller's `events$` link events): `rsu.link` up/down with the reason;
 * - the journal's health: `journal.error` when a write or a read fails, `journal.recovered` when it is writable
 *   again.
 *
 * Written elsewhere, not here: the card reader's link (`reader.link`, by the booth, src/booth/card-loop.ts,
 * which knows a normal stop from a lost link), the controller's alarms (`lane.alarm`, the controller's AuditPort), the
 * journal's records and retention (bound in its transactions), the uplink's state changes and the status
 * lists it applies or refuses (src/uplink/status-list-poller.ts), operator actions (src/service/operator-audit.ts),
 * lane.start/stop with the config and tariff digests (src/lane/runtime.ts), the trail's own entries.
 */
import type { Observable } from "rxjs";
import { Subscription } from "rxjs";
import type { Logger } from "../../firmware-bridge/log.js";
import type { LaneEvents } from "./events.js";

/** The controller's gate and link events, as src/lane/controller.ts publishes them. */
export interface GateSource {
  readonly status$: Observable<
    { status: "starting" } | { status: "open" } | { status: "closed"; reason: string; detail: string }
  >;
  readonly events$: Observable<{ type: string; status?: string; reason?: string }>;
}

export interface JournalHealthSource {
  readonly health$: Observable<{
    healthy: boolean;
    error?: { code: string; sqliteCode?: string; message: string; op?: string; read?: true } | undefined;
  }>;
  lastSeq(): number;
}

export interface LaneTrailSources {
  controller: GateSource;
  journal: JournalHealthSource;
  rsuPort?: string;
}

/** Subscribes the trail to the lane's events; unsubscribe to stop (before the trail closes). */
export function connectLaneTrail(events: LaneEvents, s: LaneTrailSources, log: Logger): Subscription {
  const safe = (what: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      log.error({ err: e instanceof Error ? e.message : String(e), event: what }, "audit append failed");
    }
  };
  const subs = new Subscription();

  let gate = "starting";
  let opened = false;
  subs.add(
    s.controller.status$.subscribe((st) => {
      const key = st.status === "closed" ? `closed:${st.reason}` : st.status;
      if (key === gate) return;
      gate = key;
      if (st.status === "open") {
        opened = true;
        safe("lane.open", () => events.laneOpened());
      } else if (st.status === "closed" && st.reason !== "stopping" && st.reason !== "stopped")
        // closed before it ever opened (waiting for the RSU at start): worth a line, not yet an alarm
        safe("lane.closed", () => events.laneClosed(st.reason, st.detail, opened ? undefined : "warn"));
    }),
  );

  subs.add(
    s.controller.events$.subscribe((e) => {
      if (e.type !== "link" || (e.status !== "up" && e.status !== "down")) return;
      const state = e.status;
      safe("rsu.link", () => events.rsuLink(state, e.reason, s.rsuPort));
    }),
  );

  let unhealthy = false;
  subs.add(
    s.journal.health$.subscribe((h) => {
      if (!h.healthy && h.error && !unhealthy) {
        const err = h.error;
        safe("journal.error", () =>
          events.journalError({
            code: err.code,
            message: err.message,
            ...(err.op ? { op: err.op } : {}),
            ...(err.sqliteCode ? { sqliteCode: err.sqliteCode } : {}),
            ...(err.read ? { read: true as const } : {}),
          }),
        );
      } else if (h.healthy && unhealthy)
        safe("journal.recovered", () => events.journalRecovered(s.journal.lastSeq()));
      unhealthy = !h.healthy;
    }),
  );
  return subs;
}
