/**
 * The system tests: each runs the lane, the simulators and the station as separate processes over ptys
 * (SIGKILLs, station outages), so they run one after another, never beside each other, in this one file;
 * test/sequencer.ts starts this file first, so they run beside the rest of the suite (which the other
 * worker runs meanwhile) instead of after it. Run one alone with `npx vitest run
 * test/reliability/system.test.ts -t <name>` ("SIGKILL and SIGTERM", "booth debits", "station down").
 * Needs the compiled CLIs: `npm test` builds first (or run `npm run build`).
 */
import { boothCrashRun } from "./system/booth-crash-run.js";
import { killRun } from "./system/kill-run.js";
import { outageRun } from "./system/outage-run.js";

killRun();
boothCrashRun();
outageRun();
