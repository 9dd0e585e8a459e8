/**
 * `etc-sim reader`: a simulated desktop IC card reader with PSAM slots and cards, speaking our reader
 * framing (docs/reader.md) over a serial port or a pseudo-terminal pair, for the lane's booth path and
 * for testing other software against it.
 *
 * stdout: the first line says where the lane connects (`lane-port: /dev/pts/N` or `port: PATH`), printed
 * once the reader listens; then one line per card event, fault, debit and script step. stdin: one script
 * step per line (`present ID`, `remove`, `fault KIND`, `wait MS`, `waitFor COMMAND [INS]`, or a
 * `{...}` step), run in order. Logs go to stderr.
 */
import type { Command } from "commander";
import { ErrorCodes, EtcError } from "../../../firmware-bridge/errors.js";
import { createPtyPair, type PtyPair } from "../../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../../firmware-bridge/transport/types.js";
import { UsageError } from "../../../src/cli/run-cli.js";
import { CardStore } from "../../card/card-store.js";
import { loadCardKeys } from "../../card/crypto/keys.js";
import { createReaderSimulator, type ReaderSimEvent } from "../../reader/reader-simulator.js";
import { loadReaderScenarioFile, parseReaderScenario, type ReaderScenario } from "../../reader/scenario.js";
import { runScript, runStepsFrom } from "../../reader/script.js";
import { READER_SEEDS } from "../../seed.js";
import { LOG_LEVEL_HELP, stderrLogger } from "../log-level.js";
import { portOption, seedOption } from "../options.js";

interface ReaderOpts {
  port?: string;
  pty?: boolean;
  baud: string;
  scenario?: string;
  seed?: string;
  ledger?: string;
  keys?: string;
  stdin: boolean;
  exitWhenDone?: boolean;
  logLevel: string;
}

/** Without --scenario: two stored-value cards and one T=0 PSAM in slot 1. */
export const DEFAULT_READER_SCENARIO: ReaderScenario = parseReaderScenario({
  name: "default",
  cards: [
    { cardId: "43012200000000000001", province: "湖南", balance: 10_000 },
    { cardId: "43012200000000000002", province: "湖南", balance: 500 },
  ],
});

/** The stdout line of a simulator event (docs/reader.md §8.1), or undefined for none. */
export function describeEvent(e: ReaderSimEvent): string | undefined {
  switch (e.type) {
    case "card":
      return `card ${e.kind} ${e.cardId}${e.why ? ` (${e.why})` : ""}`;
    case "fault":
      // "applied", or "applied at card INS 54" for a fault that fires on an APDU
      return e.detail?.startsWith("applied") ? `fault ${e.fault} ${e.detail}` : `fault ${e.fault} armed`;
    case "debit":
      return `card ${e.entry.cardId} paid ${e.entry.amount} tac ${e.entry.tac} serial ${e.entry.iccPaySerial} (${e.entry.outcome})`;
    case "signal":
      return `signal beep ${e.beepMs} ms${e.led ? ` led ${e.led}` : ""}`;
    case "held":
      return (
        `holding replies: ${e.name} INS ${e.ins.map(hex).join(",")} ran (${e.status})` +
        `${e.cardId ? ` on card ${e.cardId}` : ""}; nothing answered until released`
      );
    case "released":
      return `released: ${e.dropped} reply(ies) held back dropped, ${e.disarmed} hold(s) not fired disarmed`;
    default:
      return undefined;
  }
}

const hex = (n: number): string => n.toString(16).padStart(2, "0");

export function registerReader(program: Command): void {
  program
    .command("reader")
    .description("run a simulated desk card reader with PSAM and cards (serial port or pty pair)")
    .option("--port <path>", "serial device to open")
    .option("--pty", "create a linked pty pair; prints `lane-port: /dev/pts/N` first")
    .option("--baud <n>", "baud rate of --port", "115200")
    .option("--scenario <file>", "reader scenario YAML (reader, PSAMs, cards, script)")
    .option(
      "--seed <n>",
      "seed of the cards' INIT random numbers, an integer 1..4294967295 (overrides the scenario's)",
    )
    .option("--ledger <file>", "append every debit the cards made as a JSON line")
    .option("--keys <file>", "card test keys (default config/keys/card-test-keys.json)")
    .option("--no-stdin", "do not read script steps from stdin")
    .option("--exit-when-done", "exit once the scenario's script has run")
    .option("--log-level <level>", LOG_LEVEL_HELP, "warn")
    .action(async (o: ReaderOpts) => {
      const logger = stderrLogger(o.logLevel); // first: a bad --log-level is refused before any file is read
      if ((o.port !== undefined) === (o.pty === true))
        throw new UsageError("give exactly one of --port PATH, --pty");
      const baud = Number(o.baud);
      if (!Number.isInteger(baud) || baud < 1200 || baud > 4_000_000) {
        throw new UsageError(`--baud: expected 1200..4000000, got "${o.baud}"`);
      }
      const port = o.port === undefined ? undefined : portOption(o.port);
      const seedArg = seedOption(o.seed, READER_SEEDS);
      const scenario = o.scenario ? loadReaderScenarioFile(o.scenario) : DEFAULT_READER_SCENARIO;
      const store = new CardStore({
        keys: loadCardKeys(o.keys),
        seed: seedArg ?? scenario.seed ?? 1,
        ...(o.ledger ? { ledger: o.ledger } : {}),
      });
      for (const [i, spec] of scenario.cards.entries()) {
        try {
          store.fromSpec(spec);
        } catch (e) {
          throw new UsageError(`${o.scenario ?? "scenario"}: cards[${i}]: ${(e as Error).message}`);
        }
      }

      let transport: Transport;
      let pty: PtyPair | undefined;
      let where: string;
      if (o.pty) {
        pty = await createPtyPair();
        transport = createSerialTransport({ path: pty.devicePath, lock: false });
        where = `lane-port: ${pty.lanePath}`;
      } else {
        transport = createSerialTransport({ path: port as string, baudRate: baud });
        where = `port: ${port}`;
      }
      const sim = createReaderSimulator({
        transport,
        store,
        ...(scenario.psams ? { psams: scenario.psams } : {}),
        ...(scenario.reader ? { info: scenario.reader } : {}),
        logger,
      });
      sim.events$.subscribe((e) => {
        const line = describeEvent(e);
        if (line) process.stdout.write(`${line}\n`);
      });

      let stopping = false;
      const shutdown = async (code: number): Promise<void> => {
        if (stopping) return;
        stopping = true;
        await sim.stop();
        await pty?.close();
        store.close();
        const debits = sim.ledger();
        const paid = debits.reduce((n, e) => n + e.amount, 0);
        process.stdout.write(`stopped: ${debits.length} debit(s), ${paid} fen\n`);
        process.exitCode = code;
      };
      try {
        await sim.start();
      } catch (e) {
        await pty?.close();
        throw e instanceof EtcError ? e : new EtcError(ErrorCodes.PortOpenFailed, (e as Error).message);
      }
      // a SIGTERM right after the first line (a supervisor that read it) already finds its handler
      let stop!: (code: number) => void;
      const stopped = new Promise<void>((resolve) => {
        stop = (code) => void shutdown(code).then(resolve);
      });
      process.once("SIGINT", () => stop(0));
      process.once("SIGTERM", () => stop(0));
      // Only now does the reader listen: the lane may open the port as soon as it reads this line.
      process.stdout.write(`${where}\n`);

      // The scenario's script first, then steps from stdin, one after the other. Without a script nothing
      // is "done": the line says where the steps come from
      let failed = false;
      const noScript = o.stdin ? "no script; reading steps from stdin" : "no script";
      const scriptDone = runScript(sim, scenario.script).then(
        () => {
          process.stdout.write(`${scenario.script.length > 0 ? "script done" : noScript}\n`);
        },
        (e: unknown) => {
          failed = true;
          process.stdout.write(`script failed: ${(e as Error).message}\n`);
        },
      );
      if (o.stdin) runStepsFrom(process.stdin, sim, (l) => process.stdout.write(`${l}\n`), scriptDone);
      if (o.exitWhenDone) void scriptDone.then(() => stop(failed ? 1 : 0));
      await stopped;
      process.stdin.destroy();
    });
}
