/**
 * `etc-sim rsu --reader-pty`: the simulated booth reader beside the simulated RSU, in the same process
 * and on the same card store, so a card debited over DSRC is the same card at the booth and the ledger
 * has every debit of both paths (docs/simulator.md, "The booth beside the RSU"). Optionally a simulated
 * collector (sim/booth/collector.ts) hands the stopped vehicles' cards over. stdin takes reader script
 * steps as `etc-sim reader` does, with the collector too (a test arms a fault or releases a `hold` there),
 * and `vehicle [{spec}]`: one more vehicle enters the zone now (the scenario's defaults, then the spec).
 */
import { parse as parseYaml } from "yaml";
import type { Logger } from "../../firmware-bridge/log.js";
import { openPty, type PtyDevice } from "../../firmware-bridge/transport/pty.js";
import { UsageError } from "../../src/cli/run-cli.js";
import { SimCollector } from "../booth/collector.js";
import type { CardStore } from "../card/card-store.js";
import {
  createReaderSimulator,
  type ReaderSimEvent,
  type ReaderSimulator,
} from "../reader/reader-simulator.js";
import { loadReaderScenarioFile } from "../reader/scenario.js";
import { type ExtraStep, type StreamSteps, stepsFrom } from "../reader/script.js";
import type { RsuSimulator } from "../rsu/rsu-simulator.js";
import { describeEvent } from "./commands/reader.js";

export interface ReaderBesideOptions {
  readerScenario?: string;
  collector?: boolean;
  collectorPauseMs?: string;
  readerLatencyMs?: string;
}

export interface ReaderBeside {
  /** `reader-port: /dev/pts/N` */
  where: string;
  reader: ReaderSimulator;
  collector: SimCollector | undefined;
  /** stdin's steps: `ended` once stdin ended and every step read from it (a `vehicle` step's addVehicle
   * included) has run; whether stdin is still open; the step running now */
  steps: StreamSteps;
  close(): Promise<void>;
}

function num(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name}: expected ${min}..${max}, got "${v}"`);
  return n;
}

/** A reader line of `etc-sim reader` (commands/reader.ts), prefixed `reader: ` beside the RSU's lines. */
export function describeReaderEvent(e: ReaderSimEvent): string | undefined {
  const line = describeEvent(e);
  return line === undefined ? undefined : `reader: ${line}`;
}

/**
 * `vehicle` or `vehicle {balance: 20000, card: {...}}`: a vehicle of the scenario's defaults and this
 * spec (a YAML flow mapping, the scenario's vehicle fields) enters the zone now; says `vehicle added: ID
 * obu OBU card CARD`.
 */
export function vehicleStep(rsu: Pick<RsuSimulator, "addVehicle">, write: (line: string) => void): ExtraStep {
  return {
    word: "vehicle",
    run(rest) {
      const spec: unknown = rest === "" ? {} : parseYaml(rest);
      if (spec === null || typeof spec !== "object" || Array.isArray(spec))
        throw new Error(`vehicle: expected a {...} vehicle spec, got "${rest}"`);
      const m = rsu.addVehicle(spec as Parameters<RsuSimulator["addVehicle"]>[0]);
      write(`vehicle added: ${m.id} obu ${m.obu.obuId} card ${m.cardId ?? "none"}`);
    },
  };
}

export async function startReaderBeside(
  o: ReaderBesideOptions,
  store: CardStore,
  rsu: RsuSimulator,
  logger: Logger,
  write: (line: string) => void,
): Promise<ReaderBeside> {
  const pauseMs = num("--collector-pause-ms", o.collectorPauseMs, 0, 600_000);
  const latencyMs = num("--reader-latency-ms", o.readerLatencyMs, 1, 10_000);
  const scenario = o.readerScenario ? loadReaderScenarioFile(o.readerScenario) : undefined;
  for (const [i, spec] of (scenario?.cards ?? []).entries()) {
    try {
      store.fromSpec(spec);
    } catch (e) {
      throw new UsageError(`${o.readerScenario}: cards[${i}]: ${(e as Error).message}`);
    }
  }
  const pty: PtyDevice = await openPty();
  let reader: ReaderSimulator;
  try {
    reader = await startReader(scenario, store, pty, latencyMs, logger, write);
  } catch (e) {
    await pty.close(); // the pty's master would keep the process alive after the command's error
    throw e;
  }
  let collector: SimCollector | undefined;
  if (o.collector) {
    collector = new SimCollector(rsu, reader, pauseMs !== undefined ? { pauseMs } : {});
    collector.events$.subscribe((e) => {
      if (e.type === "handed") write(`collector: handed ${e.cardId} (vehicle ${e.vehicleId})`);
      else if (e.type === "present") write(`collector: present ${e.cardId} (attempt ${e.attempt})`);
      else if (e.type === "done") write(`collector: took ${e.cardId} back (${e.led})`);
      else if (e.type === "gave-up") write(`collector: gave up on ${e.cardId} after ${e.refusals} refusals`);
      else write(`collector: case ${e.caseId} closed: gave ${e.cardId} back to its driver`);
    });
  }
  const steps = stepsFrom(process.stdin, reader, write, Promise.resolve(), [vehicleStep(rsu, write)]);
  return {
    where: `reader-port: ${pty.lanePath}`,
    reader,
    collector,
    steps,
    async close() {
      process.stdin.destroy(); // an open stdin (a pipe, a terminal) must not keep the process alive
      collector?.stop();
      await reader.stop();
      await pty.close();
    },
  };
}

/** The reader simulator on `pty`, its lines written prefixed `reader: `, started. */
async function startReader(
  scenario: ReturnType<typeof loadReaderScenarioFile> | undefined,
  store: CardStore,
  pty: PtyDevice,
  latencyMs: number | undefined,
  logger: Logger,
  write: (line: string) => void,
): Promise<ReaderSimulator> {
  const reader = createReaderSimulator({
    transport: pty.device,
    store,
    ...(scenario?.psams ? { psams: scenario.psams } : {}),
    ...(scenario?.reader ? { info: scenario.reader } : {}),
    // every command answered after this long (a real desk reader and card take tens of ms); a `slow`
    // fault armed on stdin still applies to the commands it covers
    ...(latencyMs ? { latencyMs } : {}),
    logger,
  });
  reader.events$.subscribe((e) => {
    const line = describeReaderEvent(e);
    if (line) write(line);
  });
  await reader.start();
  return reader;
}
