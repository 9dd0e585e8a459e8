/** Starts the lane status service on a loopback port and a temporary data dir, over a fake lane. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditedOperator } from "../../src/service/operator-audit.js";
import {
  type LaneService,
  type LaneServiceOptions,
  type ServiceConfig,
  startLaneService,
} from "../../src/service/service.js";
import { FakeLane, FakeOperator, MemoryAudit } from "./fake-lane.js";

export interface Rig {
  lane: FakeLane;
  operator: FakeOperator;
  audit: MemoryAudit;
  service: LaneService;
  dataDir: string;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startRig(
  config: Partial<ServiceConfig> = {},
  processMetrics = false,
  extra: Pick<LaneServiceOptions, "now" | "monotonicNow" | "logger"> = {},
): Promise<Rig> {
  const dataDir = mkdtempSync(join(tmpdir(), "etc-svc-"));
  const lane = new FakeLane();
  const operator = new FakeOperator(lane);
  const audit = new MemoryAudit();
  const service = await startLaneService({
    config: { listen: "127.0.0.1:0", historyIntervalSeconds: 10, historyMinutes: 60, ...config },
    dataDir,
    view: lane,
    operator: auditedOperator(operator, audit),
    processMetrics,
    ...extra,
  });
  return {
    lane,
    operator,
    audit,
    service,
    dataDir,
    get: (path, headers = {}) => fetch(new URL(path, service.url), { headers }),
    async close() {
      await service.close();
      rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}
