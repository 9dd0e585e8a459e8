/**
 * `etc-sim rsu`: a standalone simulated RSU with OBUs and cards, for testing lane software (ours or
 * anyone's) over a serial port, a pseudo-terminal pair or TCP. See docs/simulator.md.
 *
 * stdout: the first line says where the lane connects (`lane-port: /dev/pts/N`, `tcp: HOST:PORT` or
 * `port: PATH`); then one line per vehicle event. Logs go to stderr.
 */
import type { Command } from "commander";
import { ErrorCodes, EtcError } from "../../../firmware-bridge/errors.js";
import { dialectFromOptions } from "../../../src/cli/dialect-options.js";
import { UsageError } from "../../../src/cli/run-cli.js";
import { CardStore } from "../../card/card-store.js";
import { loadCardKeys } from "../../card/crypto/keys.js";
import { fileFrameLog } from "../../framelog/frame-log.js";
import { fileLedger, type LedgerSink } from "../../ledger/ledger.js";
import type { StreamSteps } from "../../reader/script.js";
import { cardEnvironment } from "../../rsu/cards.js";
import { createRsuSimulator, type SimEvent } from "../../rsu/rsu-simulator.js";
import { scaledTimeIssue } from "../../rsu/time-limits.js";
import { loadScenarioFile, parseScenario } from "../../scenario/schema.js";
import { RSU_SEEDS } from "../../seed.js";
import { openEndpoint } from "../endpoint.js";
import { LOG_LEVEL_HELP, stderrLogger } from "../log-level.js";
import { seedOption } from "../options.js";
import { type ReaderBeside, startReaderBeside } from "../reader-beside.js";

interface RsuOpts {
  port?: string;
  pty?: boolean;
  tcp?: string;
  protocol: string;
  scenario?: string;
  seed?: string;
  ledger?: string;
  frameLog?: string;
  heartbeatS?: string;
  heartbeatCode?: string;
  timeScale?: string;
  keys?: string;
  announce?: boolean;
  exitWhenDone?: boolean;
  logLevel: string;
  stationLength?: string;
  lastStationLength?: string;
  timeBase?: string;
  cardTimeBase?: string;
  ef04?: boolean;
  b2AntennaId?: boolean;
  divCheck?: boolean;
  strictLength?: boolean;
  readerPty?: boolean;
  readerScenario?: string;
  collector?: boolean;
  collectorPauseMs?: string;
  readerLatencyMs?: string;
}

function num(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${name}: expected a number ${min}..${max}, got "${v}"`);
  return n;
}

/**
 * `--heartbeat-s` (docs/simulator.md, options): legacy more than 3 and less than 60 s, the interval the legacy
 * reference gives (">3 s and <1 min"); national 1..60 s (its reference says every 10 s, no range).
 */
function heartbeatSeconds(v: string | undefined, protocol: "legacy" | "national"): number | undefined {
  if (protocol === "national") return num("--heartbeat-s", v, 1, 60);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 3 || n >= 60)
    throw new UsageError(
      `--heartbeat-s: expected a number more than 3 and less than 60 (legacy: the reference's ">3 s and <1 min"), got "${v}"`,
    );
  return n;
}

/**
 * `--heartbeat-code` (docs/simulator.md, options; docs/protocol.md §4 `heartbeatCode`): the ErrorCode of the
 * legacy heartbeat B2, 80 or 08 in hex (an optional 0x); refused with the national protocol, whose heartbeat
 * is B1 and has no ErrorCode.
 */
export function heartbeatCodeOption(
  v: string | undefined,
  protocol: "legacy" | "national",
): 0x80 | 0x08 | undefined {
  if (v === undefined) return undefined;
  if (protocol === "national")
    throw new UsageError(
      `--heartbeat-code: legacy only (the national heartbeat is B1, which has no ErrorCode), got "${v}" with --protocol national`,
    );
  const hex = v.trim().toLowerCase().replace(/^0x/, "");
  if (hex === "80") return 0x80;
  if (hex === "08") return 0x08;
  throw new UsageError(`--heartbeat-code: expected 80 or 08 (the heartbeat B2 ErrorCode, hex), got "${v}"`);
}

/** One stdout line per event worth a line (vehicles, payments, faults, the lane's mistakes, notices). */
export function describeEvent(e: SimEvent): string | undefined {
  const t = `[${(e.at / 1000).toFixed(3).padStart(9)}s]`;
  switch (e.type) {
    case "entered":
    case "left":
      return `${t} ${e.vehicleId} ${e.type} obu ${e.obuId}`;
    case "ended":
      return `${t} ${e.vehicleId} ${e.outcome}${e.detail ? ` (${e.detail})` : ""}`;
    case "gaveUp":
      return `${t} gave up on ${e.frame}${e.vehicleId ? ` for ${e.vehicleId}` : ""}: no answer, waited for ${e.waitedFor}`;
    case "fault":
      return `${t} fault ${e.fault}${e.vehicleId ? ` ${e.vehicleId}` : ""}${e.detail ? ` (${e.detail})` : ""}`;
    case "illegal":
      return `${t} lane sent ${e.frame}: ${e.handling}`;
    case "ledger":
      return `${t} ${e.entry.vehicleId} card ${e.entry.cardId} paid ${e.entry.amount} tac ${e.entry.tac} (${e.entry.outcome})`;
    case "notice":
      return `${t} notice: ${e.message}`;
    case "mode":
    case "done":
      return undefined;
  }
}

/**
 * `--exit-when-done` (docs/simulator.md): resolves once every vehicle has passed (sim/rsu/traffic.ts
 * `done`). With --reader-pty, stdin may add vehicles (`vehicle`), so it also waits for stdin to end and
 * its steps to run, then reads `done` again (every vehicle added). So that it never waits in silence,
 * once every vehicle known has passed it says what it still waits for: stdin to end (once, naming the
 * step that runs then, if any), and after stdin has ended each step of it that still runs.
 */
async function whenDone(
  sim: { readonly done: Promise<void> },
  steps: StreamSteps | undefined,
  say: (line: string) => void,
): Promise<void> {
  let saidOpen = false;
  for (;;) {
    await sim.done;
    if (!steps) return;
    const step = steps.running();
    if (steps.inputOpen()) {
      if (!saidOpen)
        say(
          `all vehicles passed; waiting for stdin to end (Ctrl-D) to exit${step === undefined ? "" : `; step "${step}" still running`}`,
        );
      saidOpen = true;
      await steps.closed;
    } else if (step !== undefined) {
      say(`all vehicles passed; waiting for step "${step}" (stdin) to finish to exit`);
      await steps.stepFinished();
    } else {
      // every step ran: `done` read now counts every vehicle they added
      await steps.ended;
      await sim.done;
      return;
    }
  }
}

/** `etc-sim rsu --help` ends with a whole session against a lane that is not ours (a real run). */
const SESSION = `
A session with lane software that is not ours (legacy protocol, over a pseudo-terminal):

  $ etc-sim rsu --pty --scenario config/scenarios/basic.yaml --ledger ledger.jsonl --frame-log frames.jsonl
  lane-port: /dev/pts/2        <- open this in the lane under test as its RSU port, 115200 8N1

  The lane drives it as a real RSU:
    lane C0 (initialise)          -> RSU B0 (RSCTL 0x98, the first frame after power-on)
    lane C1 or an empty ack to B0
    lane C4 01 (antenna on)       -> the scenario's vehicles arrive (basic.yaml: one every 4 s)
    per OBU: RSU B2 -> lane C1, RSU B3 -> lane C1, RSU B4 -> lane C6 (amount), RSU B5 (TAC) -> lane C1
  An unanswered RSU frame is repeated 3 times 120 ms apart, then the RSU gives up on it.

  stdout, one line per event (this lane sent C4 01 four seconds late and ignored the first OBU):
  [    4.082s] notice: antenna closed: vehicles wait for C4 01; scenario \`rsu.antennaOnAtInit: true\` starts without
  [    5.081s] v1 entered obu e84d4a61
  [    5.576s] gave up on B2 for v1: no answer, waited for C1 or C2 for OBU e84d4a61, or an empty ack
  [    5.576s] v1 gave-up (no answer to B2)
  [    8.083s] v1 left obu e84d4a61
  [    9.080s] v2 entered obu f0982a12
  [    9.208s] v2 card 43014301220000000002 paid 800 tac dcb4f7b7 (done)
  [    9.210s] v2 traded (C1 after B5)
  ...
  [   20.081s] v4 left obu 68b17f74
  stopped: 3 purchase(s), 2400 fen          (Ctrl-C, or --exit-when-done)

  A frame the RSU could not accept shows as "lane sent C6: ignored: C6 is only legal after B4 (mode
  wait-b2)". Afterwards: etc-sim tac verify --ledger ledger.jsonl checks every TAC; frames.jsonl has
  every frame in and out, decoded. Details: docs/simulator.md.
`;

/** `open(path)`, its error naming the flag: `--ledger FILE: cannot open: ENOENT: ...`. */
function opened<T>(flag: string, path: string, open: (path: string) => T): T {
  try {
    return open(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot open: ${(e as Error).message}`);
  }
}

export function registerRsu(program: Command): void {
  program
    .command("rsu")
    .description("run a simulated RSU with OBUs and cards (serial port, pty pair or TCP)")
    .option("--port <path>", "serial device to open (115200 8N1)")
    .option("--pty", "create a pseudo-terminal for the lane; prints `lane-port: /dev/pts/N` first")
    .option("--tcp <host:port>", "serve the same frames over TCP (the lane connects as client)")
    .option("--protocol <variant>", "legacy (BCC) or national (CRC16)", "legacy")
    .option("--scenario <file>", "scenario YAML (traffic, cards, faults)")
    .option("--seed <n>", "random seed, an integer 0..4294967295 (overrides the scenario's)")
    .option("--ledger <file>", "append every card purchase as a JSON line")
    .option("--frame-log <file>", "append every frame in and out as a JSON line")
    .option(
      "--heartbeat-s <n>",
      "heartbeat period in seconds (legacy more than 3 and less than 60, national 1-60; default 10)",
    )
    .option("--heartbeat-code <hex>", "legacy heartbeat B2 ErrorCode: 80 or 08 (hex; default 80)")
    .option("--time-scale <x>", "run scenario traffic x times faster (protocol timing stays real)")
    .option("--keys <file>", "card test keys (default config/keys/card-test-keys.json)")
    .option(
      "--announce",
      "send the power-on B0 (RSCTL 0x98) unasked when a lane can hear it: --port at once, --tcp when the lane connects, --pty after the lane's first frame unless that is a C0 (its B0 then carries 0x98)",
    )
    .option(
      "--exit-when-done",
      "exit once every scenario vehicle has passed (with --reader-pty: once stdin has ended and every vehicle it added has passed too)",
    )
    .option("--log-level <level>", LOG_LEVEL_HELP, "warn")
    .option(
      "--station-length <n>",
      "legacy C6 Station width the lane sends: 40 or 36 (C3 Station is always 36)",
    )
    .option("--last-station-length <n>", "legacy B4 LastStation width: 43 or 39")
    .option("--time-base <base>", "4-byte time fields of the RSU's frames: local-as-utc or utc")
    .option(
      "--card-time-base <base>",
      "the time in the cards' 0019 (entry/exit) record: local-as-utc (default, both protocols) or utc",
    )
    .option("--no-ef04", "national B4 without the 91-byte EF04 block")
    .option(
      "--no-div-check",
      "use the right divisors whatever the lane sends (default: a wrong C6/C3 divisor gets a MAC1 the card refuses, B5 06; a C1 to B2 whose divisor is not the OBU issuer's gets B3 09)",
    )
    .option(
      "--strict-length",
      "ignore a lane frame longer than declared, as firmware with length checks does (default: handle it as declared and report the surplus)",
    )
    .option("--b2-antenna-id", "national B2 with the 1-byte AntennaID after ErrorCode")
    .option(
      "--reader-pty",
      "also run the booth card reader (our reader framing) on a second pty, on the same cards; prints `reader-port: /dev/pts/M` second",
    )
    .option(
      "--reader-scenario <file>",
      "with --reader-pty: the reader's PSAMs, info and extra cards (as etc-sim reader)",
    )
    .option("--collector", "with --reader-pty: a simulated collector hands the stopped vehicles' cards over")
    .option(
      "--collector-pause-ms <n>",
      "the collector's pause before putting a card on the reader (default 300)",
    )
    .option("--reader-latency-ms <n>", "with --reader-pty: the reader answers every command after this long")
    .addHelpText("after", SESSION)
    .action(async (o: RsuOpts) => {
      const logger = stderrLogger(o.logLevel); // first: a bad --log-level is refused before any file is read
      if (o.protocol !== "legacy" && o.protocol !== "national") {
        throw new UsageError(`--protocol: expected "legacy" or "national", got "${o.protocol}"`);
      }
      const seed = seedOption(o.seed, RSU_SEEDS);
      const hb = heartbeatSeconds(o.heartbeatS, o.protocol);
      const timeScale = num("--time-scale", o.timeScale, 0.001, 10_000);
      const scenario = o.scenario ? loadScenarioFile(o.scenario) : parseScenario({ name: "empty" });
      const late = scaledTimeIssue(scenario, timeScale ?? 1, "--time-scale");
      if (late) throw new UsageError(`${o.scenario}: ${late.path}: ${late.message}`);
      const keys = loadCardKeys(o.keys);
      const heartbeatCode = heartbeatCodeOption(o.heartbeatCode, o.protocol);
      const { variant: _v, ...dialect } = {
        ...dialectFromOptions(o),
        ...(heartbeatCode !== undefined ? { heartbeatCode } : {}),
      };

      if (!o.readerPty && (o.readerScenario || o.collector || o.readerLatencyMs || o.collectorPauseMs))
        throw new UsageError(
          "--reader-scenario, --collector, --collector-pause-ms and --reader-latency-ms need --reader-pty",
        );
      // The files before the port: one that cannot be opened is refused naming its flag, with no pty or
      // listener made (left open, it kept the process alive after the error).
      const frameLog = o.frameLog ? opened("--frame-log", o.frameLog, fileFrameLog) : undefined;
      // one card store for the RSU and the booth reader: a card debited over DSRC is the same card at the booth
      let store: CardStore | undefined;
      let ledger: LedgerSink | undefined;
      try {
        if (o.readerPty) {
          const storeLedger = o.ledger ? opened("--ledger", o.ledger, fileLedger) : undefined;
          store = new CardStore({
            keys,
            ...(seed !== undefined ? { seed } : {}),
            ...(storeLedger ? { ledger: storeLedger } : {}),
          });
          ledger = store.ledgerSink("dsrc");
        } else if (o.ledger) ledger = opened("--ledger", o.ledger, fileLedger);
      } catch (e) {
        frameLog?.close();
        throw e;
      }
      const closeFiles = (): void => {
        frameLog?.close();
        ledger?.close();
        store?.close();
      };
      let endpoint: Awaited<ReturnType<typeof openEndpoint>>;
      try {
        endpoint = await openEndpoint(o, logger);
      } catch (e) {
        closeFiles();
        throw e;
      }
      const { transport, where, close: closeEndpoint } = endpoint;

      let sim: ReturnType<typeof createRsuSimulator>;
      try {
        sim = createRsuSimulator({
          transport,
          protocol: o.protocol,
          dialect,
          checkDivFactor: o.divCheck !== false,
          strictLength: o.strictLength === true,
          scenario,
          ...(seed !== undefined ? { seed } : {}),
          ...(ledger ? { ledger } : {}),
          ...(frameLog ? { frameLog } : {}),
          timing: { ...(hb ? { heartbeatMs: hb * 1000 } : {}), ...(timeScale ? { timeScale } : {}) },
          cards: store ? store.environment() : cardEnvironment(keys),
          logger,
          // The power-on B0 goes out when a lane is there to hear it, so that it is the first frame the
          // lane sees (docs/simulator.md "Sequence numbers"): a serial cable is there from the start; a
          // TCP lane connects (below); a pty's lane end opens unseen, its open flushing what was written
          // before, so its first frame says it is there.
          announcePowerOn: !o.announce
            ? false
            : endpoint.kind === "pty"
              ? "first-frame"
              : endpoint.kind === "port",
        });
      } catch (e) {
        // nothing may keep the process alive after the error: the pty or listener, the files
        await closeEndpoint();
        closeFiles();
        throw e;
      }

      let beside: ReaderBeside | undefined;
      let stopping = false;
      const shutdown = async (code: number): Promise<void> => {
        if (stopping) return;
        stopping = true;
        await beside?.close();
        await sim.stop();
        await closeEndpoint();
        const all = store ? store.ledger() : sim.ledger();
        store?.close();
        const paid = all.reduce((n, e) => n + e.amount, 0);
        process.stdout.write(`stopped: ${all.length} purchase(s), ${paid} fen\n`);
        process.exitCode = code;
      };
      try {
        await sim.start();
      } catch (e) {
        await closeEndpoint();
        closeFiles(); // the --ledger (the card store's with --reader-pty) and --frame-log files
        throw e instanceof EtcError ? e : new EtcError(ErrorCodes.PortOpenFailed, (e as Error).message);
      }
      // reader and collector lines wait until the port lines are out (the first lines say where to connect)
      let held: string[] | undefined = [];
      const out = (line: string): void => {
        if (held) held.push(line);
        else process.stdout.write(`${line}\n`);
      };
      if (store) {
        try {
          beside = await startReaderBeside(o, store, sim, logger, out);
        } catch (e) {
          await sim.stop();
          await closeEndpoint();
          closeFiles(); // sim.stop closed the frame log, not the card store's --ledger file
          throw e;
        }
      }
      // a SIGTERM right after the first line (a supervisor that read it) already finds its handler
      const stopped = new Promise<void>((resolve) => {
        process.once("SIGINT", () => void shutdown(0).then(resolve));
        process.once("SIGTERM", () => void shutdown(0).then(resolve));
        if (o.exitWhenDone)
          void whenDone(sim, beside?.steps, out)
            .then(() => shutdown(0))
            .then(resolve);
      });
      // Only now is the RSU listening: the lane may connect as soon as it reads this line.
      process.stdout.write(`${where}\n`);
      if (o.announce) endpoint.whenLaneConnects?.(() => sim.announce());
      if (beside) process.stdout.write(`${beside.where}\n`);
      for (const l of held ?? []) process.stdout.write(`${l}\n`);
      held = undefined;
      sim.events$.subscribe((e) => {
        const line = describeEvent(e);
        if (line) process.stdout.write(`${line}\n`);
      });
      await stopped;
    });
}
