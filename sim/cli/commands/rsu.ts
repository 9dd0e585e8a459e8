/**
 * `etc-sim rsu`: a standalone simulated RSU with OBUs and cards, for testing lane software (ours or
 * anyone's) over a serial port, a pseudo-terminal pair or TCP. See docs/simulator.md.
 *
 * stdout: the first line says where the lane connects (`lane-port: /dev/pts/N`, `tcp: HOST:PORT` or
 * `port: PATH`); then one line per vehicle event. Logs go to stderr.
 */
import type { Command } from "commander";
import pino from "pino";
import { ErrorCodes, EtcError } from "../../../firmware-bridge/errors.js";
import type { Logger } from "../../../firmware-bridge/log.js";
import { openPty, type PtyDevice } from "../../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../../firmware-bridge/transport/serial.js";
import { createTcpServer, type TcpServer } from "../../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../../firmware-bridge/transport/types.js";
import { dialectFromOptions } from "../../../src/cli/commands/decode.js";
import { UsageError } from "../../../src/cli/run-cli.js";
import { loadCardKeys } from "../../card/crypto/keys.js";
import { cardEnvironment } from "../../rsu/cards.js";
import { createRsuSimulator, type SimEvent } from "../../rsu/rsu-simulator.js";
import { SwitchTransport } from "../../rsu/switch-transport.js";
import { loadScenarioFile, parseScenario } from "../../scenario/schema.js";

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
  timeScale?: string;
  keys?: string;
  announce?: boolean;
  exitWhenDone?: boolean;
  logLevel: string;
  stationLength?: string;
  lastStationLength?: string;
  timeBase?: string;
  ef04?: boolean;
  divCheck?: boolean;
}

function num(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${name}: expected a number ${min}..${max}, got "${v}"`);
  return n;
}

function describeEvent(e: SimEvent): string | undefined {
  const t = `[${(e.at / 1000).toFixed(3).padStart(9)}s]`;
  switch (e.type) {
    case "entered":
    case "left":
      return `${t} ${e.vehicleId} ${e.type} obu ${e.obuId}`;
    case "ended":
      return `${t} ${e.vehicleId} ${e.outcome}${e.detail ? ` (${e.detail})` : ""}`;
    case "gaveUp":
      return `${t} gave up: no answer to ${e.frame}${e.vehicleId ? ` for ${e.vehicleId}` : ""}`;
    case "fault":
      return `${t} fault ${e.fault}${e.vehicleId ? ` ${e.vehicleId}` : ""}${e.detail ? ` (${e.detail})` : ""}`;
    case "illegal":
      return `${t} lane sent ${e.frame}: ${e.handling}`;
    case "ledger":
      return `${t} ${e.entry.vehicleId} card ${e.entry.cardId} paid ${e.entry.amount} tac ${e.entry.tac} (${e.entry.outcome})`;
    case "mode":
    case "done":
      return undefined;
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
    .option("--seed <n>", "random seed (overrides the scenario's)")
    .option("--ledger <file>", "append every card purchase as a JSON line")
    .option("--frame-log <file>", "append every frame in and out as a JSON line")
    .option("--heartbeat-s <n>", "heartbeat period in seconds (legacy 3-60, default 10)")
    .option("--time-scale <x>", "run scenario traffic x times faster (protocol timing stays real)")
    .option("--keys <file>", "card test keys (default config/keys/card-test-keys.json)")
    .option("--announce", "send the power-on B0 (RSCTL 0x98) as soon as the port is open")
    .option("--exit-when-done", "exit once every scenario vehicle has passed")
    .option("--log-level <level>", "stderr log level (error, warn, info, debug)", "warn")
    .option("--station-length <n>", "legacy C6/C3 Station width the lane sends: 40 or 36")
    .option("--last-station-length <n>", "legacy B4 LastStation width: 43 or 39")
    .option("--time-base <base>", "4-byte time fields: local-as-utc or utc")
    .option("--no-ef04", "national B4 without the 91-byte EF04 block")
    .option("--no-div-check", "accept any divisor factor in C6/C3 (default: a wrong one fails MAC1, B5 06)")
    .action(async (o: RsuOpts) => {
      const modes = [o.port !== undefined, o.pty === true, o.tcp !== undefined].filter(Boolean).length;
      if (modes !== 1) throw new UsageError("give exactly one of --port PATH, --pty, --tcp HOST:PORT");
      if (o.protocol !== "legacy" && o.protocol !== "national") {
        throw new UsageError(`--protocol: expected "legacy" or "national", got "${o.protocol}"`);
      }
      const seed = num("--seed", o.seed, -(2 ** 31), 2 ** 32);
      const hb = num("--heartbeat-s", o.heartbeatS, o.protocol === "legacy" ? 3 : 1, 60);
      const timeScale = num("--time-scale", o.timeScale, 0.001, 10_000);
      const scenario = o.scenario ? loadScenarioFile(o.scenario) : parseScenario({ name: "empty" });
      const keys = loadCardKeys(o.keys);
      const { variant: _v, ...dialect } = dialectFromOptions(o);
      const logger = pino({ level: o.logLevel }, pino.destination(2)) as unknown as Logger;

      let transport: Transport;
      let pty: PtyDevice | undefined;
      let server: TcpServer | undefined;
      let where: string;
      if (o.pty) {
        pty = await openPty();
        transport = pty.device;
        where = `lane-port: ${pty.lanePath}`;
      } else if (o.tcp) {
        const m = /^(.+):(\d+)$/.exec(o.tcp);
        if (!m) throw new UsageError(`--tcp: expected HOST:PORT, got "${o.tcp}"`);
        server = await createTcpServer({ host: m[1] as string, port: Number(m[2]) });
        const sw = new SwitchTransport(`tcp-server:${server.address.host}:${server.address.port}`);
        server.connections$.subscribe((c) => {
          logger.info({ conn: c.name }, "lane connected");
          sw.attach(c);
        });
        transport = sw;
        where = `tcp: ${server.address.host}:${server.address.port}`;
      } else {
        transport = createSerialTransport({ path: o.port as string });
        where = `port: ${o.port}`;
      }

      const sim = createRsuSimulator({
        transport,
        protocol: o.protocol,
        dialect,
        checkDivFactor: o.divCheck !== false,
        scenario,
        ...(seed !== undefined ? { seed } : {}),
        ...(o.ledger ? { ledger: o.ledger } : {}),
        ...(o.frameLog ? { frameLog: o.frameLog } : {}),
        timing: { ...(hb ? { heartbeatMs: hb * 1000 } : {}), ...(timeScale ? { timeScale } : {}) },
        cards: cardEnvironment(keys),
        logger,
        announcePowerOn: o.announce === true,
      });

      let stopping = false;
      const shutdown = async (code: number): Promise<void> => {
        if (stopping) return;
        stopping = true;
        await sim.stop();
        await server?.close();
        await pty?.close();
        const paid = sim.ledger().reduce((n, e) => n + e.amount, 0);
        process.stdout.write(`stopped: ${sim.ledger().length} purchase(s), ${paid} fen\n`);
        process.exitCode = code;
      };
      try {
        await sim.start();
      } catch (e) {
        await pty?.close();
        await server?.close();
        throw e instanceof EtcError ? e : new EtcError(ErrorCodes.PortOpenFailed, (e as Error).message);
      }
      // Only now is the RSU listening: the lane may connect as soon as it reads this line.
      process.stdout.write(`${where}\n`);
      sim.events$.subscribe((e) => {
        const line = describeEvent(e);
        if (line) process.stdout.write(`${line}\n`);
      });
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => void shutdown(0).then(resolve));
        process.once("SIGTERM", () => void shutdown(0).then(resolve));
        if (o.exitWhenDone) void sim.done.then(() => shutdown(0)).then(resolve);
      });
    });
}
