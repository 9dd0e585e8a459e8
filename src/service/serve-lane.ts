/**
 * The status service of a running lane (docs/maintenance.md): the LaneView and LaneOperator over its
 * runtime (./runtime-view.ts, ./runtime-operator.ts), the operator wrapped so that every action is an audit entry naming the
 * user (./operator-audit.ts, into the lane's trail), the booth's actions when the lane has a booth
 * (./control/booth-actions.ts, audited the same way), the HTTP service and the control socket
 * (./service.ts) from the config's `service` section. `etc-lane run` and the demo start it before the
 * lane controller starts (src/cli/commands/run.ts) and close it before the lane closes.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import { retentionIdleOf } from "../audit/background-verify.js";
import { dialectFromConfig } from "../config/load.js";
import type { LaneConfig } from "../config/schema.js";
import type { LaneRuntime } from "../lane/runtime.js";
import { auditedBooth } from "./control/booth-actions.js";
import { auditCutShort, auditedOperator, auditRefusedRequest } from "./operator-audit.js";
import { laneRuntimeOperator } from "./runtime-operator.js";
import { LaneRuntimeView } from "./runtime-view.js";
import { type LaneService, startLaneService } from "./service.js";

export interface ServedLane {
  readonly service: LaneService;
  readonly view: LaneRuntimeView;
  /**
   * the service (its control socket waits, at most STOP_WAIT_MS, for the operator actions it had taken),
   * then the view's background verify; `etc-lane run` stops the lane controller meanwhile and closes the
   * lane's journal and trail after both
   */
  close(): Promise<void>;
}

export async function serveLane(
  rt: LaneRuntime,
  c: LaneConfig,
  o: {
    logger?: Logger;
    /** overrides service.listen (the demo falls back to a free port) */
    listen?: string;
    /** startLaneService's listenRetryMs: 0 throws when service.listen cannot be bound (the demo) */
    listenRetryMs?: number;
    processMetrics?: boolean;
    /** the background verify's first run after this (default a minute) */
    verifyFirstAfterMs?: number;
  } = {},
): Promise<ServedLane> {
  const view = new LaneRuntimeView(rt, {
    lane: {
      network: c.lane.network,
      station: c.lane.station,
      lane: c.lane.lane,
      role: c.lane.role,
      utcOffsetMinutes: dialectFromConfig(c).utcOffsetMinutes,
    },
    verify: {
      laneId: rt.audit.laneId,
      // a run that met a retention entry the trail is sealing at once runs again after that seal
      sealPending: () => rt.audit.sealPending(),
      // nor does a walk start while the journal's retention run writes an entry per batch, nor while the
      // trail's deletes its oldest segment files (a file deleted under the walk is an ENOENT)
      retentionIdle: retentionIdleOf(rt.journal, rt.audit),
      intervalMs: c.audit.verifyIntervalMinutes * 60_000,
      // the unsealed tail is judged by the checkpoint settings the lane runs with
      tailLimits: {
        checkpointEvery: c.audit.checkpointEvery,
        checkpointIntervalSeconds: c.audit.checkpointIntervalSeconds,
      },
      ...(o.verifyFirstAfterMs !== undefined ? { firstAfterMs: o.verifyFirstAfterMs } : {}),
    },
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const listen = o.listen ?? c.service.listen;
  let service: LaneService;
  try {
    service = await startLaneService({
      config: { ...c.service, ...(o.listen ? { listen: o.listen } : {}) },
      dataDir: c.dataDir,
      view,
      // a record that cannot be written is logged at error level (the client may not see the answer)
      operator: auditedOperator(laneRuntimeOperator(rt, view), rt.audit, o.logger),
      // the collector's booth.list / take / cancel, each take and cancel an audit entry naming the user
      ...(rt.booth ? { booth: auditedBooth(rt.booth, rt.audit, o.logger) } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.processMetrics !== undefined ? { processMetrics: o.processMetrics } : {}),
      ...(o.listenRetryMs !== undefined ? { listenRetryMs: o.listenRetryMs } : {}),
      // a lane whose page cannot be served still trades: the trail says so, and when it listens again
      onUnavailable: (message) => rt.audit.events.serviceHttp("down", listen, message),
      onAvailable: (url) => rt.audit.events.serviceHttp("up", listen, url),
      // a request the control socket refuses before any action is in the trail too
      onRefusedRequest: (r) => auditRefusedRequest(rt.audit, r),
      // and an action the stop stopped waiting for (the trail is still open then: src/cli/commands/run.ts)
      onCutShortAction: (r) => auditCutShort(rt.audit, r),
    });
  } catch (e) {
    await view.close();
    throw e;
  }
  return {
    service,
    view,
    async close() {
      await service.close();
      await view.close();
    },
  };
}
