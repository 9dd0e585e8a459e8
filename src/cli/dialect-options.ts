/**
 * The RSU dialect from command-line options (`etc-lane decode`, `etc-sim rsu`, `etc-sim replay`): the
 * protocol's defaults, then what a capture's port recorded (firmware-bridge/capture/dialect-terms.ts),
 * then the options given, each checked and named when it is wrong.
 */
import type { RecordedDialect } from "../../firmware-bridge/capture/dialect-terms.js";
import type { CapturePort } from "../../firmware-bridge/capture/read-capture.js";
import { type Dialect, defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import { UsageError } from "./run-cli.js";

/**
 * The dialect options as commander gives them: each one undefined unless given (a command that reads a
 * capture declares `--ef04` before `--no-ef04`, so that commander gives `ef04` no default, which would
 * override what the capture recorded).
 */
export interface DialectOptions {
  stationLength?: string;
  lastStationLength?: string;
  timeBase?: string;
  cardTimeBase?: string;
  utcOffset?: string;
  ef04?: boolean;
  b2AntennaId?: boolean;
}

/**
 * The dialect of `o.protocol`: its defaults, over them the settings a capture recorded (`recorded`), over
 * those the options given.
 */
export function dialectFromOptions(
  o: DialectOptions & { protocol: string },
  recorded?: RecordedDialect,
): Dialect {
  if (o.protocol !== "legacy" && o.protocol !== "national") {
    throw new UsageError(`--protocol: expected "legacy" or "national", got "${o.protocol}"`);
  }
  const base: Dialect = { ...defaultDialect(o.protocol as Variant), ...recorded };
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
  if (o.cardTimeBase !== undefined && o.cardTimeBase !== "utc" && o.cardTimeBase !== "local-as-utc") {
    throw new UsageError(`--card-time-base: expected "utc" or "local-as-utc", got "${o.cardTimeBase}"`);
  }
  const offset = o.utcOffset === undefined ? base.utcOffsetMinutes : Number(o.utcOffset);
  if (
    o.utcOffset !== undefined &&
    (!Number.isInteger(offset) || offset < -720 || offset > 840 || o.utcOffset.trim() === "")
  ) {
    throw new UsageError(
      `--utc-offset: expected minutes east of UTC, an integer -720..840, got "${o.utcOffset}"`,
    );
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
    cardTimeBase: (o.cardTimeBase as Dialect["cardTimeBase"] | undefined) ?? base.cardTimeBase,
    utcOffsetMinutes: offset,
    b4Ef04: o.ef04 ?? base.b4Ef04,
    b2AntennaId: o.b2AntennaId ?? base.b2AntennaId,
  };
}

/**
 * The dialect a capture's RSU port is read with: the protocol given (`protocol`) or else the one the port
 * recorded; the dialect settings the port recorded when that is its recorded protocol (a port read as the
 * other protocol starts from that protocol's defaults); the options given over them. Undefined when
 * neither says the protocol.
 *
 * A port whose description records no `card-time-base=` was written by a lane from before the card's 0019
 * time had its own base: that lane read and wrote the 0019 time in its `timeBase`, so unless
 * `--card-time-base` is given the card time base is the time base the port is read with (the recorded
 * `time-base=`, else the protocol's default: national utc, legacy local-as-utc; `--time-base` over both).
 */
export function capturePortDialect(
  port: CapturePort,
  protocol: string | undefined,
  o: DialectOptions,
): Dialect | undefined {
  const p = protocol ?? port.protocol;
  if (p === undefined) return undefined;
  const d = dialectFromOptions({ ...o, protocol: p }, p === port.protocol ? port.dialect : undefined);
  const oneBase = port.dialect?.cardTimeBase === undefined && o.cardTimeBase === undefined;
  return oneBase ? { ...d, cardTimeBase: d.timeBase } : d;
}
