/**
 * `etc-lane decode`: the protocol analyser for maintenance staff and integration testers.
 * Hex from the arguments (one stream) or from stdin (each line one frame or raw byte stream);
 * one JSON object per frame found. Problems go to stderr and make the exit code non-zero.
 */
import { createInterface } from "node:readline";
import type { Command } from "commander";
import type { Dialect } from "../../../firmware-bridge/frames/dialect.js";
import { defaultDialect } from "../../../firmware-bridge/frames/dialect.js";
import { fromHex } from "../../../firmware-bridge/framing/bytes.js";
import type { Variant } from "../../../firmware-bridge/framing/types.js";
import { type DecodedLine, decodeFrameBytes } from "../../rsu/analyse.js";
import { UsageError } from "../run-cli.js";

interface DecodeOpts {
  protocol: string;
  stationLength?: string;
  lastStationLength?: string;
  timeBase?: string;
  ef04?: boolean;
  b2AntennaId?: boolean;
}

export function dialectFromOptions(o: DecodeOpts): Dialect {
  if (o.protocol !== "legacy" && o.protocol !== "national") {
    throw new UsageError(`--protocol: expected "legacy" or "national", got "${o.protocol}"`);
  }
  const base = defaultDialect(o.protocol as Variant);
  const pick = <T extends number>(name: string, v: string | undefined, allowed: readonly T[], dflt: T): T => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!allowed.includes(n as T))
      throw new UsageError(`${name}: expected one of ${allowed.join(", ")}, got "${v}"`);
    return n as T;
  };
  if (o.timeBase !== undefined && o.timeBase !== "utc" && o.timeBase !== "local-as-utc") {
    throw new UsageError(`--time-base: expected "utc" or "local-as-utc", got "${o.timeBase}"`);
  }
  return {
    ...base,
    stationLength: pick("--station-length", o.stationLength, [36, 40] as const, base.stationLength),
    lastStationLength: pick(
      "--last-station-length",
      o.lastStationLength,
      [39, 43] as const,
      base.lastStationLength,
    ),
    timeBase: (o.timeBase as Dialect["timeBase"] | undefined) ?? base.timeBase,
    b4Ef04: o.ef04 ?? base.b4Ef04,
    b2AntennaId: o.b2AntennaId ?? base.b2AntennaId,
  };
}

/** Prints frames on stdout and problems on stderr; returns how many lines were not a complete frame. */
function emit(lines: DecodedLine[], where: string): number {
  let problems = 0;
  for (const l of lines) {
    if (l.kind === "frame") {
      process.stdout.write(`${JSON.stringify(l.json)}\n`);
      if (!l.complete) {
        problems++;
        if (typeof l.json.reason === "string")
          process.stderr.write(
            `${where}: ${String(l.json.type)} frame not fully decoded: ${l.json.reason}\n`,
          );
      }
    } else {
      problems++;
      process.stderr.write(`${l.message}\n`);
    }
  }
  return problems;
}

export function registerDecode(program: Command): void {
  program
    .command("decode")
    .description(
      "decode RSU frames from hex (arguments, or stdin one line at a time) to JSON, one object per frame",
    )
    .requiredOption("--protocol <variant>", "wire format: legacy (BCC) or national (CRC16)")
    .option("--station-length <n>", "legacy C6/C3 Station width: 40 or 36")
    .option("--last-station-length <n>", "legacy B4 LastStation width: 43 or 39")
    .option("--time-base <base>", "4-byte time fields: local-as-utc or utc")
    .option("--no-ef04", "national B4 without the 91-byte EF04 block")
    .option("--b2-antenna-id", "national B2 with the 1-byte AntennaID after ErrorCode")
    .argument("[hex...]", "frame bytes in hex; spaces allowed")
    .action(async (hexArgs: string[], opts: DecodeOpts) => {
      const d = dialectFromOptions(opts);
      let problems = 0;
      let frames = 0;
      const handle = (text: string, where: string): void => {
        if (text.trim() === "") return;
        let bytes: Buffer;
        try {
          bytes = fromHex(text);
        } catch (e) {
          problems++;
          process.stderr.write(`${where}: ${(e as Error).message}\n`);
          return;
        }
        const out = decodeFrameBytes(bytes, d, where);
        frames += out.filter((l) => l.kind === "frame").length;
        problems += emit(out, where);
      };
      if (hexArgs.length > 0) {
        handle(hexArgs.join(" "), "input");
      } else {
        if (process.stdin.isTTY) throw new UsageError("give hex frames as arguments or on stdin");
        const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
        let n = 0;
        for await (const line of rl) handle(line, `line ${++n}`);
      }
      if (frames === 0 && problems === 0) {
        process.stderr.write("no frame found in the input\n");
        problems++;
      }
      if (problems > 0) process.exitCode = 1;
    });
}
