/** Every benchmark, in the order `npm run bench` runs them. Add yours here. */
import { codecBench } from "./codec.js";
import type { Benchmark } from "./harness.js";
import { journalCommitBench, journalDeepQueueBench, outboxDrainBench } from "./journal.js";
import { laneDecisionBench, laneRateBench } from "./lane.js";
import { outageBench } from "./outage.js";
import { ptyBench } from "./pty.js";
import { statusListBench, statusListSmallBench } from "./status-list.js";

export const benchmarks: Benchmark[] = [
  codecBench,
  ptyBench,
  statusListSmallBench,
  statusListBench,
  journalCommitBench,
  outboxDrainBench,
  journalDeepQueueBench,
  laneDecisionBench,
  laneRateBench,
  outageBench,
];
