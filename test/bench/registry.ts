/** Every benchmark, in the order `npm run bench` runs them. Add yours here. */
import { auditBench } from "./audit.js";
import { boothBench } from "./booth.js";
import { codecBench } from "./codec.js";
import type { Benchmark } from "./harness.js";
import { journalCommitBench, journalDeepQueueBench, outboxDrainBench } from "./journal.js";
import { journalRetentionBench } from "./journal-retention.js";
import { laneDecisionBench, laneRateBench } from "./lane.js";
import { linkBench } from "./link.js";
import { outageBench } from "./outage.js";
import { ptyBench } from "./pty.js";
import { restartBench } from "./restart.js";
import { serviceBench, servicePacedBench } from "./service.js";
import { statusListBench, statusListSmallBench } from "./status-list.js";

export const benchmarks: Benchmark[] = [
  codecBench,
  linkBench,
  ptyBench,
  statusListSmallBench,
  statusListBench,
  journalCommitBench,
  outboxDrainBench,
  journalRetentionBench,
  journalDeepQueueBench,
  auditBench,
  laneDecisionBench,
  laneRateBench,
  outageBench,
  restartBench,
  serviceBench,
  servicePacedBench,
  boothBench,
];
