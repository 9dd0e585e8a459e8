/**
 * The lane configuration (one YAML file per lane process), validated at start-up. Every timeout and
 * tuning value lives here with its default and allowed range; an invalid file is refused
 * with the field path and what was expected.
 */
import { isIPv4, isIPv6 } from "node:net";
import { normalize } from "node:path";
import { z } from "zod";
import { DEFAULT_RSU_LINK_OPTIONS } from "../../firmware-bridge/link/options.js";
import type { TimeoutName } from "../../firmware-bridge/reader/commands.js";
import {
  DEFAULT_READER_OPTIONS,
  MAX_READER_FRAME_LENGTH,
  MIN_READER_FRAME_LENGTH,
} from "../../firmware-bridge/reader/options.js";
import { DEFAULT_TCP_KEEPALIVE_MS } from "../../firmware-bridge/transport/tcp.js";
import { MAX_CHECKPOINT_EVERY } from "../audit/verify-guards.js";
import { DEFAULT_BOOTH_REASONS } from "../booth/cases.js";
import { STOP_REASON_CODES } from "../lane/stop-reasons.js";
import { DEFAULT_VERSION_UTC_OFFSET_MINUTES } from "../status-list/version-order.js";
import { FETCH_BLOCKED_PORTS, urlPort } from "./station-url.js";

const HEX4 = /^[0-9A-Fa-f]{4}$/;

/**
 * A value as a field's error shows it: JSON (`1234`, `"x"`, `null` for a setting left empty), but a number
 * JSON has no form for (YAML's `.inf`, `-.inf`, `.nan`) as itself, not as JSON's `null`. A long value (a
 * list or a section where one value was expected) is cut at 60 characters.
 */
function shownValue(input: unknown): string {
  const v =
    typeof input === "number" && !Number.isFinite(input)
      ? String(input)
      : (JSON.stringify(input) ?? String(input));
  return v.length > 60 ? `${v.slice(0, 60)}...` : v;
}

/**
 * A field's error as `expected ...` followed by the value given (`, got 1234`, `, got "x"`), as
 * README.md's "a bad field is named with what was expected" reads best; just `expected ...` for a field
 * left out.
 */
function withGot(expected: string): (i: { input?: unknown }) => string {
  return (i) => (i.input === undefined ? expected : `${expected}, got ${shownValue(i.input)}`);
}

/**
 * A section (a mapping of settings): z.strictObject whose refusal of another kind of value (a number, a
 * string, a list: a section written as one value) names the keys it takes, not zod's "expected object";
 * a required one left out is "missing; expected ...". Its unknown keys are named by the loader
 * (./load.ts formatIssues).
 */
function section<const T extends z.core.$ZodLooseShape>(shape: T) {
  const keys = Object.keys(shape);
  const expected =
    keys.length <= 6
      ? `expected a mapping (key: value) with keys among ${keys.join(", ")}`
      : `expected a mapping (key: value) with keys among ${keys.slice(0, 5).join(", ")}, ... (config/lane.example.yaml)`;
  const error = withGot(expected);
  return z.strictObject(shape, {
    error: (i) =>
      i.code !== "invalid_type" ? undefined : i.input === undefined ? `missing; ${expected}` : error(i),
  });
}

const hex4 = (what: string, example: string) =>
  z
    .string({ error: withGot(`expected ${what} as a 4-hex-digit string in quotes, e.g. "${example}"`) })
    .regex(HEX4, { error: withGot(`expected ${what} as 4 hex digits as on the wire, e.g. "${example}"`) })
    .transform((s) => s.toLowerCase());

const int = (min: number, max: number, what = "an integer") => {
  const error = withGot(`expected ${what} in ${min}..${max}`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

/*
 * Cross-field checks (a section's superRefine) run after its fields' own checks, even when those failed:
 * they skip the fields already refused (`refusedFields`). The fields a check compares are `optional()` in
 * the shape and get their defaults from `withDefaults` after it, so the check can tell a value written from
 * a default and say which it was (`gotValue`).
 */

/**
 * What a cross-field issue compares, in its `params`: the paths of the fields it compares the field at its
 * own path with, relative to the section whose check raised it (`depth`: the length of the issue's path
 * there). The loader (./load.ts) drops the issue when one of those fields was refused as written (a number
 * YAML misread, `backoffInitialMs: 017000` under `%YAML 1.1` read as 7680): it would speak of a value never
 * written. comparedPaths gives them as paths from the top.
 */
export interface Compared {
  compared: string[][];
  depth: number;
  /**
   * Fields whose values the message only states, its condition not depending on them (as `compared`,
   * relative paths), and the message without those values: the loader gives that one instead when one
   * of them was refused as written (the issue stands: its condition holds whatever they are).
   */
  mentioned?: { paths: string[][]; message: string };
}

/**
 * The `path` and `params` of a cross-field issue at `path` comparing it with `compared` (Compared): the
 * fields its condition depends on, no other (one the message only states: comparesMentioning).
 */
const compares = (path: string[], ...compared: string[][]): { path: string[]; params: Compared } => ({
  path,
  params: { compared, depth: path.length },
});

/**
 * compares(path, ...compared), with a message that also states the values of `mentioned` fields its
 * condition does not depend on; `withoutThem`, the message to give when one of them was refused as written.
 */
const comparesMentioning = (
  path: string[],
  compared: string[][],
  mentioned: string[][],
  withoutThem: string,
): { path: string[]; params: Compared } => ({
  path,
  params: { compared, depth: path.length, mentioned: { paths: mentioned, message: withoutThem } },
});

/** The paths of `rel` (relative to the section whose check raised `issue`, Compared) from the top. */
function fromTop(issue: z.core.$ZodIssue, depth: number, rel: string[][]): PropertyKey[][] {
  const section = issue.path.slice(0, issue.path.length - depth);
  return rel.map((c) => [...section, ...c]);
}

/** The fields a cross-field issue compares its own with (Compared), as paths from the top; [] for any other. */
export function comparedPaths(issue: z.core.$ZodIssue): PropertyKey[][] {
  if (issue.code !== "custom") return [];
  const p = issue.params as Partial<Compared> | undefined;
  if (p?.compared === undefined || p.depth === undefined) return [];
  return fromTop(issue, p.depth, p.compared);
}

/**
 * A cross-field issue's message without the values of the fields it only mentions (Compared
 * `mentioned`) when `refused` says one of them was refused as written; else its message.
 */
export function messageWithoutRefused(
  issue: z.core.$ZodIssue,
  refused: (path: readonly PropertyKey[]) => boolean,
): string {
  if (issue.code !== "custom") return issue.message;
  const p = issue.params as Partial<Compared> | undefined;
  if (p?.mentioned === undefined || p.depth === undefined) return issue.message;
  return fromTop(issue, p.depth, p.mentioned.paths).some(refused) ? p.mentioned.message : issue.message;
}

/** The fields of a section that its own field checks already refused (each issue's path starts with one). */
function refusedFields(ctx: {
  issues: readonly { path?: readonly PropertyKey[] | undefined }[];
}): Set<PropertyKey | undefined> {
  return new Set(ctx.issues.map((i) => i.path?.[0]));
}

/**
 * Whether a check's own field checks already refused the field at `path` (relative to the section whose
 * check this is) or something under it: refusedFields for a field deeper than the section's own.
 */
function isRefused(
  ctx: { issues: readonly { path?: readonly PropertyKey[] | undefined }[] },
  path: readonly string[],
): boolean {
  return ctx.issues.some((i) => i.path !== undefined && path.every((s, k) => i.path?.[k] === s));
}

/**
 * The `got ...` of a field a cross-field check refuses: `got 1500`, or `got 1500 (the default)` for a field
 * the section left out.
 */
const gotValue = (written: number | undefined, dflt: number): string =>
  written === undefined ? `got ${dflt} (the default)` : `got ${written}`;

/** A section's value with the defaults of the fields it left out (the fields of `defaults`, all numbers). */
function withDefaults<const D extends Record<string, number>>(defaults: D) {
  return <T extends { [K in keyof D]?: number | undefined }>(
    t: T,
  ): Omit<T, keyof D> & { [K in keyof D]: number } => {
    const out: Record<string, unknown> = { ...t };
    for (const [k, v] of Object.entries(defaults)) out[k] ??= v;
    return out as Omit<T, keyof D> & { [K in keyof D]: number };
  };
}

/**
 * The check of a section's `backoffMaxMs` against its `backoffInitialMs` (both defaulted by `withDefaults`):
 * skipped when either already failed its own range, so each wrong field is named once, with one range.
 */
function checkBackoff(
  l: { backoffInitialMs?: number | undefined; backoffMaxMs?: number | undefined },
  ctx: z.RefinementCtx,
  defaults: { backoffInitialMs: number; backoffMaxMs: number },
): void {
  const refused = refusedFields(ctx);
  if (refused.has("backoffInitialMs") || refused.has("backoffMaxMs")) return;
  const initial = l.backoffInitialMs ?? defaults.backoffInitialMs;
  const max = l.backoffMaxMs ?? defaults.backoffMaxMs;
  if (max < initial)
    ctx.addIssue({
      code: "custom",
      ...compares(["backoffMaxMs"], ["backoffInitialMs"]),
      message: `expected milliseconds in ${initial}..600000 (at least backoffInitialMs), ${gotValue(l.backoffMaxMs, defaults.backoffMaxMs)}`,
    });
}

/** The rates a UART is set to (an RSU or reader set to another would never be understood). */
const BAUD_RATES = [1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600];
const baudError = withGot(`expected a baud rate: one of ${BAUD_RATES.join(", ")}`);
const baudRate = z.number({ error: baudError }).refine((b) => BAUD_RATES.includes(b), { error: baudError });

export const LaneSection = section({
  network: hex4("the road network number", "4301"),
  station: hex4("the station number", "0102"),
  lane: int(0, 99, "a lane number"),
  role: z.enum(["entry", "exit"], { error: withGot('expected "entry" or "exit"') }),
});

const RESULT_CODE_KEY = /^0x(?!00$)[0-9a-fA-F]{2}$/;

const resultCodeClasses = z
  .record(
    z.string().regex(RESULT_CODE_KEY),
    z.enum(["failed", "uncertain"], {
      error: withGot('expected "failed" (card untouched) or "uncertain" (the debit may have happened)'),
    }),
    {
      error: (i) =>
        i.code === "invalid_key"
          ? 'expected a B5/B8 ErrorCode as a quoted hex string "0x01".."0xFF" (00 is success)'
          : i.code === "invalid_type"
            ? withGot(
                'expected a mapping of B5/B8 ErrorCodes to their class, e.g. { "0x22": failed, "0x23": uncertain }',
              )(i)
            : undefined,
    },
  )
  .superRefine(
    (codes, ctx) => {
      // "0x2a" and "0x2A" are two YAML keys for one code: the table would keep whichever came last
      // (src/rsu/result-codes.ts), and "failed" where "uncertain" was meant lets the booth debit the card again.
      const seen = new Map<number, string>();
      for (const key of Object.keys(codes)) {
        if (!RESULT_CODE_KEY.test(key)) continue; // the key schema has named it
        const code = Number.parseInt(key.slice(2), 16);
        const other = seen.get(code);
        if (other !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `code 0x${code.toString(16).toUpperCase().padStart(2, "0")} listed twice (as "${other}" and "${key}"); expected one class per code`,
          });
        seen.set(code, key);
      }
    },
    // checked with the record's other problems too (a key not written as a code, a class misspelt), so that
    // every problem is listed at once
    { when: (payload) => payload.value !== null && typeof payload.value === "object" },
  );

/**
 * B5/B8 ErrorCode classes over the variant's defaults (src/rsu/result-codes.ts, docs/protocol.md §6).
 * A code named nowhere is uncertain.
 */
export const ResultCodesSection = section({
  b5: resultCodeClasses.optional(),
  b8: resultCodeClasses.optional(),
});

export const DialectSection = section({
  /** Variant A C6 Station width (C3 Station is always 36: docs/protocol.md §3). */
  stationLength: z.union([z.literal(36), z.literal(40)], { error: withGot("expected 36 or 40") }).optional(),
  /** Variant A B4 LastStation width. */
  lastStationLength: z
    .union([z.literal(39), z.literal(43)], { error: withGot("expected 39 or 43") })
    .optional(),
  /**
   * Not a lane option: the ErrorCode the simulated RSU sends in its heartbeat B2 (sim/rsu/rsu-frames.ts).
   * The lane sends no heartbeat and takes 0x80 and 0x08 alike. Earlier examples set it, so a config naming
   * it is still taken and the key ignored: `run --check` and `run` say so (src/config/preflight.ts
   * laneConfigNotes).
   */
  heartbeatCode: z
    .union([z.literal(0x80), z.literal(0x08)], {
      error: "expected 128 (0x80) or 8; a simulator option the lane ignores: remove it",
    })
    .optional(),
  timeBase: z
    .enum(["local-as-utc", "utc"], { error: withGot('expected "local-as-utc" or "utc"') })
    .optional(),
  /**
   * The time base of the card's 0019 (entry/exit) record, read and written over DSRC and by the booth;
   * default local-as-utc whatever the protocol (docs/protocol.md §4 "Card time base").
   */
  cardTimeBase: z
    .enum(["local-as-utc", "utc"], { error: withGot('expected "local-as-utc" or "utc"') })
    .optional(),
  /** every zone's offset is a whole quarter hour */
  utcOffsetMinutes: int(-720, 840, "minutes")
    .refine((m) => m % 15 === 0, {
      error: (i) => `expected a multiple of 15 minutes (time zones are whole quarter hours), got ${i.input}`,
    })
    .optional(),
  /** Variant B: B4 carries the 91-byte EF04 block. */
  b4Ef04: z.boolean({ error: withGot("expected true or false") }).optional(),
  /** B5/B8 ErrorCode -> "failed" | "uncertain", over the variant's defaults. */
  resultCodes: ResultCodesSection.optional(),
  /** Variant B: B2 carries a 1-byte AntennaID after ErrorCode (docs/protocol.md §4, §7 row B2). */
  b2AntennaId: z.boolean({ error: withGot("expected true or false") }).optional(),
});

export const RsuTimingSection = section({
  /** Expected heartbeat period of the RSU (variant A B2/0x80: 3-60 s; variant B: 10 s). */
  heartbeatPeriodMs: int(1000, 120_000, "milliseconds").default(10_000),
  /** Heartbeat periods without any RSU byte before the link is declared down. */
  missedHeartbeats: int(1, 20, "a count").default(3),
  /** How long to wait for B0 after C0 before sending C0 again. */
  initTimeoutMs: int(50, 60_000, "milliseconds").default(2000),
  /** Pause between failed start-up attempts. */
  initRetryMs: int(10, 600_000, "milliseconds").default(3000),
});

/**
 * C0 PLLChannelID by protocol: legacy 0 or 1; national 01H (channel 1) or 02H (channel 2), the only values
 * the national reference defines. The default is the first of each.
 */
const PLL_CHANNELS = { legacy: [0, 1], national: [1, 2] } as const;
const PLL_EXPECTED = { legacy: "0 or 1", national: "1 (01H, channel 1) or 2 (02H, channel 2)" } as const;

export const C0Section = section({
  /**
   * Legacy: C0 WaitTime, the minimum time before the RSU trades the same OBU again (unit per dialect).
   * National: sent as C0 BSTInterval, which the reference defines as the interval in ms between the BST
   * beacons the RSU sends by itself.
   */
  waitTime: int(0, 255).default(1),
  txPower: int(0, 31).default(21),
  /** Checked and defaulted by protocol (PLL_CHANNELS, in RsuSection below). */
  pllChannelId: int(0, 255).optional(),
  /** Variant A: 0 traditional, 1 composite for both card kinds, 2 credit traditional + stored-value composite. */
  transClass: int(0, 2).default(1),
  /** Variant B: 01 composite. */
  transMode: int(0, 255).default(1),
});

const LINK = DEFAULT_RSU_LINK_OPTIONS;
const RSU_BACKOFF_DEFAULTS = {
  backoffInitialMs: LINK.reconnect.initialDelayMs,
  backoffMaxMs: LINK.reconnect.maxDelayMs,
};

/** The lane side of the RSU link (docs/link.md): timeouts, dedupe, reconnect, TCP keep-alive. */
export const RsuLinkSection = section({
  /** A half-received frame is dropped after this much silence between two bytes. */
  interByteTimeoutMs: int(1, 5000, "milliseconds").default(LINK.deframer.interByteTimeoutMs),
  /**
   * An RSU information frame the lane has not answered by then is a late answer (counted, logged);
   * only a B0 then gets an empty ACK from the link, B2..B8 never do. Below the RSU's 120 ms repeat.
   */
  answerDeadlineMs: int(1, 10_000, "milliseconds").default(LINK.answerDeadlineMs),
  /**
   * The same RSCTL/SEQ and DATA within this time of the first sighting is an RSU repeat: the RSU's
   * 3 retries 120 ms apart plus one interval of margin (480). Longer swallows real frames.
   */
  dedupeWindowMs: int(100, 10_000, "milliseconds").default(LINK.dedupeWindowMs),
  /** First reconnect delay after a failed open, a loss, or (TCP) a silent connection closed. */
  backoffInitialMs: int(10, 60_000, "milliseconds").optional(),
  /** Ceiling of the doubling reconnect delay; at least backoffInitialMs. */
  backoffMaxMs: int(10, 600_000, "milliseconds").optional(),
  /** tcp:// ports: idle time before the first TCP keep-alive probe (then 10 probes 1 s apart). */
  tcpKeepaliveMs: int(1000, 600_000, "milliseconds").default(DEFAULT_TCP_KEEPALIVE_MS),
})
  .superRefine((l, ctx) => checkBackoff(l, ctx, RSU_BACKOFF_DEFAULTS))
  .transform(withDefaults(RSU_BACKOFF_DEFAULTS));

/**
 * `rsu.port` as tcp://host:port (the form src/lane/runtime.ts transportFor connects to), or null when it
 * is not one. The host is a host name or an IPv4 address: dot-separated labels of letters, digits and
 * hyphens, and underscores, which a hosts-file alias may carry (no space, "@" or empty label, which would
 * only fail at every connect; no IPv6 literal), the port is 1..65535.
 */
export function rsuTcpPort(port: string): { host: string; port: number } | null {
  const m = /^tcp:\/\/((?:[A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+):(\d{1,5})\/?$/.exec(port);
  if (!m) return null;
  const n = Number(m[2]);
  return n >= 1 && n <= 65535 ? { host: m[1] as string, port: n } : null;
}

const RSU_PORT_ERROR = "expected a serial device path or tcp://host:port";
/** host:port without a scheme (10.0.0.5:21003, rsu.local:21003): no serial device path looks so */
const BARE_HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const READER_PORT_ERROR = "expected a serial device path (the booth reader is on a serial port, no network)";

export const RsuSection = section({
  /** Serial device path (prefer /dev/serial/by-id/...) or tcp://host:port. */
  port: z
    .string({ error: RSU_PORT_ERROR })
    .min(1, { error: RSU_PORT_ERROR })
    .superRefine((p, ctx) => {
      if (p.startsWith("tcp:")) {
        if (rsuTcpPort(p) === null)
          ctx.addIssue({
            code: "custom",
            message: `expected tcp://host:port with a host name or IPv4 address and a port in 1..65535, e.g. "tcp://10.0.0.5:21003", got ${JSON.stringify(p)}`,
          });
      } else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p)) {
        ctx.addIssue({
          code: "custom",
          message: `${RSU_PORT_ERROR} (tcp is the only network scheme), got ${JSON.stringify(p)}`,
        });
      } else if (BARE_HOST_PORT.test(p)) {
        // a serial path has no host:port shape: this one was meant as a network address
        ctx.addIssue({
          code: "custom",
          message: `${RSU_PORT_ERROR}, got ${JSON.stringify(p)}: did you mean "tcp://${p}"?`,
        });
      }
    }),
  baudRate: baudRate.default(115_200),
  protocol: z.enum(["legacy", "national"], { error: withGot('expected "legacy" or "national"') }),
  dialect: DialectSection.default({}),
  timing: RsuTimingSection.prefault({}),
  c0: C0Section.prefault({}),
  link: RsuLinkSection.prefault({}),
  /** How an entry lane writes the entry record: C6 with amount 0, or C3 where the dialect uses it. */
  entryWrite: z.enum(["c6", "c3"], { error: withGot('expected "c6" or "c3"') }).default("c6"),
  /**
   * C2 StopType for an OBU that already traded here recently: 1 (search again), or 3 ("already traded",
   * the national lane dialect's) with protocol national only (checked in the superRefine below).
   */
  alreadyTradedStopType: z
    .union([z.literal(1), z.literal(3)], { error: withGot("expected 1 or 3") })
    .default(1),
})
  .superRefine((r, ctx) => {
    const p = r.c0.pllChannelId;
    if (p !== undefined && !(PLL_CHANNELS[r.protocol] as readonly number[]).includes(p))
      ctx.addIssue({
        code: "custom",
        ...compares(["c0", "pllChannelId"], ["protocol"]),
        message: `expected ${PLL_EXPECTED[r.protocol]} with protocol ${r.protocol}, got ${p}`,
      });
    // legacy C2 defines StopType 1 and 2 only (firmware-bridge/frames/legacy-frames.ts, C2); 3 ("already
    // traded") is a national lane dialect's (docs/lane.md, ALREADY_TRADED)
    if (r.protocol === "legacy" && r.alreadyTradedStopType === 3)
      ctx.addIssue({
        code: "custom",
        ...compares(["alreadyTradedStopType"], ["protocol"]),
        message:
          "expected 1 with protocol legacy (legacy C2 has StopType 1 and 2 only; 3 is the national lane dialect's), got 3",
      });
  })
  .transform((r) => ({
    ...r,
    c0: { ...r.c0, pllChannelId: r.c0.pllChannelId ?? PLL_CHANNELS[r.protocol][0] },
  }));

/**
 * The booth card reader on the lane computer's second serial port (docs/reader.md). The timeouts and
 * link fields are firmware-bridge/reader/options.ts's ReaderOptions, with the same defaults and ranges.
 */
/**
 * The per-command reply timeouts of the `reader.timeouts` section with their defaults, the driver's own
 * (firmware-bridge/reader/options.ts DEFAULT_READER_OPTIONS says what each times), each at most its
 * maxCommandMs (also here: the check tells a timeout written from a default).
 */
const READER_COMMAND_TIMEOUT_DEFAULTS: Readonly<Record<TimeoutName, number>> =
  DEFAULT_READER_OPTIONS.timeouts;
const READER_TIMEOUT_DEFAULTS = {
  ...READER_COMMAND_TIMEOUT_DEFAULTS,
  maxCommandMs: DEFAULT_READER_OPTIONS.maxCommandMs,
};
const READER_COMMAND_TIMEOUTS = Object.keys(READER_COMMAND_TIMEOUT_DEFAULTS) as TimeoutName[];
const commandTimeout = () => int(10, 60_000, "milliseconds").optional();

export const ReaderTimeoutsSection = section({
  /** The command timeouts and their defaults: READER_COMMAND_TIMEOUT_DEFAULTS above. */
  infoMs: commandTimeout(),
  signalMs: commandTimeout(),
  activateMs: commandTimeout(),
  cardApduMs: commandTimeout(),
  psamResetMs: commandTimeout(),
  psamApduMs: commandTimeout(),
  /** A WAIT ("still working") frame moves the deadline at least this far ahead. */
  stillWorkingMs: int(10, 60_000, "milliseconds").default(1000),
  /**
   * Hard limit from the write to the reply, WAIT frames or not, a list however long; also the longest a
   * command waits for a write the port does not complete (docs/reader.md §6.1). At least every command
   * timeout above (infoMs .. psamApduMs): the superRefine below (default 10000).
   */
  maxCommandMs: int(100, 600_000, "milliseconds").optional(),
  /** A half frame is dropped after this much silence on the line. */
  interByteMs: int(1, 5000, "milliseconds").default(50),
  /** An open attempt of the port that has not ended by then counts as failed. */
  openMs: int(100, 120_000, "milliseconds").default(5000),
})
  .superRefine((t, ctx) => {
    // a maxCommandMs out of its own range bounds nothing; a timeout out of its own range is named once
    const refused = refusedFields(ctx);
    if (refused.has("maxCommandMs")) return;
    const max = t.maxCommandMs ?? READER_TIMEOUT_DEFAULTS.maxCommandMs;
    for (const k of READER_COMMAND_TIMEOUTS) {
      const v = t[k] ?? READER_COMMAND_TIMEOUT_DEFAULTS[k];
      if (!refused.has(k) && v > max) {
        ctx.addIssue({
          code: "custom",
          ...compares([k], ["maxCommandMs"]),
          message: `expected milliseconds in 10..${max} (at most timeouts.maxCommandMs), ${gotValue(t[k], READER_COMMAND_TIMEOUT_DEFAULTS[k])}`,
        });
      }
    }
  })
  .transform(withDefaults(READER_TIMEOUT_DEFAULTS));

const PING_ERROR = "expected 0 or milliseconds in 100..600000";

const frameLengthError = (got: unknown): string =>
  `expected bytes in ${MIN_READER_FRAME_LENGTH}..${MAX_READER_FRAME_LENGTH} (the booth's reader replies need ` +
  `at least ${MIN_READER_FRAME_LENGTH}: docs/reader.md §6.5), got ${shownValue(got)}`;

const READER_BACKOFF_DEFAULTS = { backoffInitialMs: 200, backoffMaxMs: 5000 };

export const ReaderLinkSection = section({
  /**
   * Largest frame accepted, STX..ETX; at least what the booth's own replies need (MIN_READER_FRAME_LENGTH,
   * firmware-bridge/reader/options.ts).
   */
  maxFrameLength: z
    .number({ error: (i) => frameLengthError(i.input) })
    .int({ error: (i) => frameLengthError(i.input) })
    .min(MIN_READER_FRAME_LENGTH, { error: (i) => frameLengthError(i.input) })
    .max(MAX_READER_FRAME_LENGTH, { error: (i) => frameLengthError(i.input) })
    .default(1024),
  /** While idle, probe the reader with INFO this often; 0 never. */
  pingIntervalMs: z
    .number({ error: PING_ERROR })
    .int({ error: PING_ERROR })
    .refine((v) => v === 0 || (v >= 100 && v <= 600_000), { error: PING_ERROR })
    .default(5000),
  /** The link goes down (and reconnects) after this many commands in a row got no reply. */
  silentLimit: int(1, 100, "a count").default(2),
  /** Resends of a command the reader received corrupted (its BAD_CHECKSUM status). */
  nakRetries: int(0, 10, "a count").default(2),
  /** First reconnect delay after an unplug, a failed open or a silent reader; doubles up to backoffMaxMs. */
  backoffInitialMs: int(10, 60_000, "milliseconds").optional(),
  /** Ceiling of the doubling reconnect delay; at least backoffInitialMs. */
  backoffMaxMs: int(10, 600_000, "milliseconds").optional(),
})
  .superRefine((l, ctx) => checkBackoff(l, ctx, READER_BACKOFF_DEFAULTS))
  .transform(withDefaults(READER_BACKOFF_DEFAULTS));

export const ReaderSection = section({
  /** Serial device path (prefer /dev/serial/by-id/...). */
  port: z
    .string({ error: "expected a serial device path" })
    .min(1, { error: "expected a serial device path" })
    // tcp:... (the RSU's network form, with or without its //) too: the reader has no network
    .refine((p) => !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p) && !/^tcp:/i.test(p) && !BARE_HOST_PORT.test(p), {
      error: (i) => `${READER_PORT_ERROR}, got ${JSON.stringify(i.input)}`,
    }),
  baudRate: baudRate.default(115_200),
  /** The reader slot (1..) of the PSAM the booth debits with. */
  psamSlot: int(1, 255, "a PSAM slot number").default(1),
  timeouts: ReaderTimeoutsSection.prefault({}),
  link: ReaderLinkSection.prefault({}),
});

/**
 * The booth (docs/booth.md): the collector charges or settles cards on the reader of the `reader`
 * section. Used only when `reader` is configured.
 */
const STOP_REASON_EXPECTED = 'expected a stop reason code (docs/lane.md "Stop reasons")';

export const BoothSection = section({
  /** After a DEBIT whose answer was lost: wait this long for the original card, then record it unconfirmed. */
  originalCardWaitMs: int(1000, 3_600_000, "milliseconds").default(120_000),
  /**
   * A case opened longer ago than this leaves the queue while the lane runs, and at start the queue is
   * rebuilt from the journal records of the last this many minutes (docs/booth.md §4).
   */
  caseMaxAgeMinutes: int(1, 1440, "minutes").default(120),
  /**
   * At most this many cases wait; beyond, the oldest waiting case leaves (alarm BOOTH_QUEUE_FULL), never the
   * one being worked on, the taken one or a debit being recovered (docs/booth.md §4).
   */
  queueMax: int(1, 1000, "a case count").default(100),
  /**
   * Stop reasons that send a vehicle to the booth (suspect debits always do). The booth's cases are journal
   * records, so one the journal never records (UNRECORDED_STOPS, src/lane/stop-reasons.ts) has no effect:
   * taken, with a note (src/config/preflight.ts configNotes).
   */
  offerFor: z
    .array(
      z
        .string({ error: withGot(STOP_REASON_EXPECTED) })
        .refine((v) => (STOP_REASON_CODES as readonly string[]).includes(v), {
          error: withGot(STOP_REASON_EXPECTED),
        }),
      {
        error: withGot(
          'expected a list of stop reason codes (docs/lane.md "Stop reasons"), e.g. [OBU_NO_CARD, TRADE_FAILED]',
        ),
      },
    )
    .default([...DEFAULT_BOOTH_REASONS]),
  /**
   * The key index INIT FOR PURCHASE names: the cards' purchase key (01 on national ETC cards). A bench
   * whose simulated cards use another key file says that file's `keyIndex` here (docs/booth.md §2).
   */
  keyIndex: int(0, 255, "a key index").default(1),
  /**
   * The purchase key's diversification levels, which decide MAC1's data: 2 (issuer divisor and card serial,
   * Lc 24; national ETC cards) or 1 (card serial only, Lc 1C), as the key file's `diversificationLevels`.
   */
  diversificationLevels: z
    .union([z.literal(1), z.literal(2)], { error: withGot("expected 1 or 2 (diversification levels)") })
    .default(2),
  /** The 0019 record layout: by card version and network ("auto"), or one layout for every card. */
  layout0019: z
    .enum(["auto", "aa43", "guangdong60", "legacy63"], {
      error: withGot('expected "auto", "aa43", "guangdong60" or "legacy63"'),
    })
    .default("auto"),
});

export const TransactionSection = section({
  /** Wait for the OBU's next frame (B3 after C1, B4 after C1) before the OBU counts as gone. */
  obuTimeoutMs: int(100, 30_000, "milliseconds").default(2000),
  /** Wait for B5 after C6/C3 before the debit counts as uncertain. */
  b5TimeoutMs: int(100, 30_000, "milliseconds").default(1000),
  /** Wait for B8 after C8. */
  b8TimeoutMs: int(100, 30_000, "milliseconds").default(1000),
  /** An OBU or card that traded here within this window is not traded again. */
  recentTradeWindowMs: int(0, 86_400_000, "milliseconds").default(300_000),
  /**
   * A B5 repeating a debit already recorded (same OBU, TAC and serials: the RSU repeats an unanswered B5,
   * also to a restarted lane) is recognised this long and not recorded again. Independent of
   * recentTradeWindowMs, so no setting of that window can record one debit twice. The RSU's repeats are
   * over within about a second and a restart takes seconds: at least a minute.
   */
  repeatedB5WindowMs: int(60_000, 86_400_000, "milliseconds").default(300_000),
  /**
   * After a restart that found debits in flight (the previous process died between C6 and recording the
   * answer): listen for the RSU's B5 (or B8) retransmissions before C0 resets the RSU, until this long after
   * the newest debit command was sent, its C6 or the C8 after it (the answer after the air time, then 3
   * repeats 120 ms apart: over within about 500 ms).
   */
  recoveryListenMs: int(0, 5000, "milliseconds").default(800),
  /**
   * Graceful stop (SIGTERM/SIGINT): no new OBUs; wait at most this long for the answers (B5/B8) of debits
   * in flight before closing (a debit still unanswered then is a LANE_STOPPED suspect). Their own
   * deadlines (b5TimeoutMs, then b8TimeoutMs) end most of them sooner.
   */
  drainTimeoutMs: int(0, 60_000, "milliseconds").default(3000),
  /**
   * A suspect's card and OBU are held in memory this long (the fast path); past it the lane asks the
   * journal, which holds them until the suspect is settled (and those of an open debit intent, the booth's
   * or an RSU debit's, for as long as it is open).
   */
  unsettledHoldMs: int(0, 7 * 86_400_000, "milliseconds").default(86_400_000),
  /** Exit: entries older than this are "timeout vehicles" (超时车辆); 0 disables the check. */
  maxTripHours: int(0, 24 * 30, "hours").default(0),
  /** OBU battery low: "warn" trades and shows a notice; "stop" sends the vehicle to manual. */
  lowBattery: z.enum(["warn", "stop"], { error: withGot('expected "warn" or "stop"') }).default("warn"),
  /**
   * The B2 tamper byte (ESAM system info byte 27, after OBUStatus): no reference gives its values, so the
   * lane judges it only when told how this lane's OBUs encode it: "ignore" (OBUStatus bit 1 alone, the
   * RSU's own verdict), "stop-nonzero" (0 intact, anything else removed), "stop-zero" (0 removed). A
   * removed OBU is an OBU_TAMPERED stop (docs/protocol.md §3, "The B2 tamper byte").
   */
  tamperByte: z
    .enum(["ignore", "stop-nonzero", "stop-zero"], {
      error: withGot('expected "ignore", "stop-nonzero" or "stop-zero"'),
    })
    .default("ignore"),
});

/** "host:port" or "[v6]:port"; the port may be 0 (any free port, for tests). */
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** One label of a host name: letters, digits and hyphens, 1..63 characters, no hyphen first or last. */
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * A host that can be bound or looked up: an IPv4 address as four dotted numbers (digits and dots are
 * nothing else: `127.1` or `2130706433`, which Node would bind as 127.0.0.1, are refused, so the address
 * the lane serves on is the one written out), or a host name of dot-separated labels (HOST_LABEL), 253
 * characters at most. `...`, `-` or `a..b` never can: the bind would fail (ENOTFOUND) and be tried again
 * every 10 s for ever.
 */
function isHostName(host: string): boolean {
  if (/^[0-9.]+$/.test(host)) return isIPv4(host);
  return host.length <= 253 && host.split(".").every((l) => HOST_LABEL.test(l));
}

/**
 * The host and port of a `service.listen` value, or null when it is not host:port with an IPv6 address in
 * brackets, an IPv4 address or a host name (isHostName), and a port 0..65535.
 */
export function listenHost(listen: string): { host: string; port: number } | null {
  const m = HOST_PORT.exec(listen);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[1] !== undefined ? !isIPv6(m[1]) : !isHostName(m[2] as string)) return null;
  return { host: (m[1] ?? m[2]) as string, port };
}

const LISTEN_EXPECTED =
  'expected host:port, e.g. "127.0.0.1:9641" or "[::1]:9641", the host an IP address (IPv6 in brackets; an ' +
  "IPv4 address must be written as four dotted numbers 0..255, not 127.1 or 2130706433) or a host name " +
  "(dot-separated labels of letters, digits and hyphens, not digits and dots alone), the port 0..65535";

/** Loopback: 127.0.0.0/8, ::1 and "localhost". Anything else is reachable from the network. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * The lane status service (docs/maintenance.md): GET /health, /status, /metrics and the maintenance page,
 * served by the running lane. Loopback only unless a token file is configured.
 */
export const ServiceSection = section({
  /** host:port to serve on; a non-loopback address requires tokenFile */
  listen: z
    .string({ error: withGot(LISTEN_EXPECTED) })
    .refine((s) => listenHost(s) !== null, { error: withGot(LISTEN_EXPECTED) })
    .default("127.0.0.1:9641"),
  /** file holding the bearer token clients must send (required off loopback; mode 0600) */
  tokenFile: z.string({ error: "expected the path of a token file" }).min(1).optional(),
  /** one point of the page's history chart (queue depth, decision latency) every this many seconds */
  historyIntervalSeconds: int(1, 600, "seconds").default(10),
  /** how far back the chart goes */
  historyMinutes: int(1, 1440, "minutes").default(60),
  /** HTTP connections open at once; more are closed as they arrive (node:http maxConnections) */
  maxConnections: int(4, 4096, "connections").default(64),
  /** pages with the live feed (GET /events) open at once; more are answered 503 */
  maxLiveFeeds: int(1, 1024, "pages").default(16),
}).superRefine((s, ctx) => {
  // a field out of its own range is named once, by that range
  const refused = refusedFields(ctx);
  if (!refused.has("maxLiveFeeds") && !refused.has("maxConnections") && s.maxLiveFeeds >= s.maxConnections) {
    ctx.addIssue({
      code: "custom",
      ...compares(["maxLiveFeeds"], ["maxConnections"]),
      message: `must be less than service.maxConnections (${s.maxConnections}): each live feed holds a connection`,
    });
  }
  const h = listenHost(s.listen);
  if (h && !isLoopbackHost(h.host) && s.tokenFile === undefined) {
    ctx.addIssue({
      code: "custom",
      ...compares(["tokenFile"], ["listen"]),
      message: `required when service.listen is not a loopback address (got "${s.listen}"): clients must send its token`,
    });
  }
});

export const JournalSection = section({
  /** Keep each record this long after the station acknowledged it (the clearing and dispute window). */
  retentionDays: int(1, 3650, "days").default(90),
  /** How often retention runs inside the lane (the first run 5 minutes after start, or sooner). */
  retentionIntervalMinutes: int(1, 10_080, "minutes").default(60),
  /**
   * The work one retention batch should take on the lane's thread (its size follows from the previous
   * batch's time per record, at most 100 records); 0: every batch 100 records.
   */
  retentionBatchBudgetMs: int(0, 1000, "milliseconds").default(1),
  /** While a vehicle is in flight retention runs no batch; it looks again this often. */
  retentionBusyRetryMs: int(1, 1000, "milliseconds").default(10),
  /** While the journal cannot be written, try a durable write this often to see whether it can again. */
  recoverProbeSeconds: int(1, 3600, "seconds").default(30),
});

/** The status-list ages the section's check compares (defaulted by `withDefaults`, as checkBackoff's). */
const STATUS_LIST_AGE_DEFAULTS = { deltaMaxAgeMinutes: 30, hardMaxAgeMinutes: 1440 };

const closeOrTrade = z.enum(["close", "trade"], { error: withGot('expected "close" or "trade"') });

/** The status list: the station's key, staleness limits, the policy with no list or a too old one. */
export const StatusListSection = section({
  /** PEM file with the station's public key (bundles are signed). */
  publicKey: z.string({ error: "expected the path of a PEM public key file" }).min(1),
  /**
   * true: `etc-lane run` accepts the simulator's test key (config/keys/station-test.pub.pem, whose
   * private key is public in this repository) as publicKey; for simulator and demo lanes only
   */
  allowTestKey: z.boolean({ error: withGot("expected true or false") }).default(false),
  /** staleness alarm when the full list is older than this (from its issue time) */
  fullMaxAgeMinutes: int(1, 525_600, "minutes").default(2880),
  /** staleness alarm when the newest delta (or the full list, before any) is older than this */
  deltaMaxAgeMinutes: int(1, 525_600, "minutes").optional(),
  /**
   * past this age of the newest update (the last delta, or the full list before any) the list's health
   * is past-hard-age and `whenPastHardAge` applies (docs/status-list.md section 5)
   */
  hardMaxAgeMinutes: int(1, 525_600, "minutes").optional(),
  /** no list loaded: "close" the lane (default), or "trade" without the check, with an alarm */
  whenMissing: closeOrTrade.default("close"),
  /** list past hardMaxAgeMinutes: "trade" on it with an alarm (default), or "close" the lane */
  whenPastHardAge: closeOrTrade.default("trade"),
  /**
   * while the lane trades on a stale list, or without one (whenMissing: trade), the vehicles' alarm
   * (STATUS_LIST_STALE, STATUS_LIST_NOT_CHECKED) is repeated at most this often
   */
  alarmRepeatSeconds: int(1, 86_400, "seconds").default(60),
  /** merge the delta overlay into the main list once it holds more entries than this */
  overlayMaxRows: int(1000, 100_000_000, "a number of entries").default(1_000_000),
  /**
   * the offset from UTC the station writes its list versions (yyyyMMddhhmm) in, at which the lane reads
   * them (docs/status-list.md section 3, "Clocks"); not rsu.dialect.utcOffsetMinutes, the RSU's wire time
   */
  versionUtcOffsetMinutes: int(-720, 840, "minutes")
    .refine((m) => m % 15 === 0, {
      error: (i) => `expected a multiple of 15 minutes (time zones are whole quarter hours), got ${i.input}`,
    })
    .default(DEFAULT_VERSION_UTC_OFFSET_MINUTES),
})
  .superRefine((s, ctx) => {
    // an age out of its own range is named once, by that range
    const refused = refusedFields(ctx);
    if (refused.has("hardMaxAgeMinutes") || refused.has("deltaMaxAgeMinutes")) return;
    const delta = s.deltaMaxAgeMinutes ?? STATUS_LIST_AGE_DEFAULTS.deltaMaxAgeMinutes;
    const hard = s.hardMaxAgeMinutes ?? STATUS_LIST_AGE_DEFAULTS.hardMaxAgeMinutes;
    if (hard <= delta)
      ctx.addIssue({
        code: "custom",
        ...compares(["hardMaxAgeMinutes"], ["deltaMaxAgeMinutes"]),
        message: `expected more minutes than deltaMaxAgeMinutes (${delta}): a list is stale before it is past its hard age, ${gotValue(s.hardMaxAgeMinutes, STATUS_LIST_AGE_DEFAULTS.hardMaxAgeMinutes)}`,
      });
  })
  .transform(withDefaults(STATUS_LIST_AGE_DEFAULTS));

/** The audit trail (docs/audit.md): checkpoints, segment files, retention. */
export const AuditSection = section({
  /** a signed checkpoint after this many entries */
  checkpointEvery: int(10, MAX_CHECKPOINT_EVERY, "an entry count").default(1000),
  /** and at least this often, also when the lane is idle (the unsealed tail is never older than this) */
  checkpointIntervalSeconds: int(5, 3600, "seconds").default(60),
  /** a new segment file after the checkpoint that takes the current one past this size */
  segmentMaxMegabytes: int(1, 1024, "megabytes").default(16),
  /** segment files whose last entry is older than this are deleted (never one a kept journal row needs) */
  retentionDays: int(1, 3650, "days").default(400),
  /** the segment file is fdatasync'ed (off the lane thread) this often when something was written */
  syncIntervalMs: int(100, 60_000, "milliseconds").default(1000),
  /** event lines reach the spool (the head copy) within this */
  spoolBatchMs: int(10, 10_000, "milliseconds").default(100),
  /** after the station refused a checkpoint with 409 (AUDIT_ROLLBACK), send again this much later */
  witnessConflictRetrySeconds: int(10, 86_400, "seconds").default(600),
  /** after any other refusal of a checkpoint, send again this much later */
  witnessRetrySeconds: int(1, 3600, "seconds").default(60),
  /** checkpoints queued for the station at most (newer ones wait in the segment files, read when it drains) */
  witnessQueueMax: int(100, 10_000_000, "a checkpoint count").default(50_000),
  /**
   * the lane verifies its own trail and journal in a worker thread a minute after start and then this
   * often (the maintenance page's "last verify"); 0: only after start
   */
  verifyIntervalMinutes: int(0, 10_080, "minutes").default(60),
});

/** Wire capture (docs/capture.md): every byte on each serial port, both directions, to rotating files. */
export const CaptureSection = section({
  enabled: z.boolean({ error: withGot("expected true or false") }).default(false),
  /** directory of the capture files; default <dataDir>/capture */
  dir: z
    .string({ error: "expected a directory path" })
    .min(1, { error: "expected a directory path" })
    .optional(),
  /** a new file is started past this size */
  maxFileMB: int(1, 4096, "megabytes").default(16),
  /** the newest this many files are kept */
  maxFiles: int(1, 10_000, "a file count").default(8),
});

const STATION_URL_ERROR = "expected an http:// or https:// URL, e.g. http://station.local:8080";
const STATION_URL_PARTS =
  "expected the station's base URL without user:password@ (the token goes in station.tokenFile), " +
  "?query or #fragment: the lane appends /api/v1/... to it";

/** An absolute http(s) URL with a host: what src/uplink's station client can call. */
function isHttpUrl(u: string): boolean {
  if (!URL.canParse(u)) return false;
  const url = new URL(u);
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
}

/** `u` with a password in it shown as "***": an error message does not repeat a credential. */
function withoutPassword(u: string): string {
  if (!URL.canParse(u)) return u;
  const url = new URL(u);
  if (url.password === "") return u;
  url.password = "***";
  return url.href;
}

/**
 * The station client appends its paths to the base (src/uplink/station-client.ts): credentials in the URL
 * make fetch throw on every request, and a query or fragment would end up before the path.
 */
function isBaseUrl(u: string): boolean {
  if (!isHttpUrl(u)) return true; // isHttpUrl names it
  const url = new URL(u);
  return url.username === "" && url.password === "" && !u.includes("?") && !u.includes("#");
}

const TARIFF_ERROR = "expected the path of the tariff YAML file";

export const LaneConfigSchema = section({
  lane: LaneSection,
  rsu: RsuSection,
  reader: ReaderSection.optional(),
  booth: BoothSection.prefault({}),
  station: section({
    /** the station's base URL: http or https (what the uplink talks) */
    url: z
      .string({ error: STATION_URL_ERROR })
      .refine(isHttpUrl, {
        error: (i) => `${STATION_URL_ERROR}, got ${JSON.stringify(i.input)}`,
      })
      .refine(isBaseUrl, {
        error: (i) => `${STATION_URL_PARTS}, got ${JSON.stringify(withoutPassword(String(i.input)))}`,
      })
      .refine((u) => !FETCH_BLOCKED_PORTS.has(urlPort(u) ?? 0), {
        error: (i) =>
          `expected a port the lane's HTTP client (fetch) connects to: port ${urlPort(String(i.input))} ` +
          `is a "bad port" of the Fetch Standard, which it never connects to, got ` +
          JSON.stringify(withoutPassword(String(i.input))),
      }),
    /** records per upload POST (halved while the same batch keeps failing: docs/station-api.md) */
    batchSize: int(1, 5000, "a record count").default(500),
    /** per request */
    requestTimeoutMs: int(100, 300_000, "milliseconds").default(10_000),
    /**
     * after 5 failures in a row of one kind of request the uplink stops calling the station for this
     * long, then probes once
     */
    breakerCoolDownMs: int(1, 3_600_000, "milliseconds").default(30_000),
    /** status-list manifest poll interval */
    statusListPollMs: int(1000, 86_400_000, "milliseconds").default(150_000),
    /** a file holding the token sent as `authorization: Bearer <token>` (mode 0600, docs/station-api.md) */
    tokenFile: z.string({ error: "expected the path of a token file" }).min(1).optional(),
  }).optional(),
  statusList: StatusListSection,
  dataDir: z.string({ error: "expected a directory path" }).min(1, { error: "expected a directory path" }),
  journal: JournalSection.prefault({}),
  /** an exit lane's fares (required there: the superRefine below); an entry lane charges nothing and ignores it */
  tariff: z.string({ error: TARIFF_ERROR }).min(1, { error: TARIFF_ERROR }).optional(),
  transaction: TransactionSection.prefault({}),
  capture: CaptureSection.prefault({}),
  outputs: section({
    sink: z.enum(["console", "log"], { error: withGot('expected "console" or "log"') }).default("console"),
  }).prefault({}),
  audit: AuditSection.prefault({}),
  log: section({
    level: z
      .enum(["trace", "debug", "info", "warn", "error"], {
        error: withGot("expected one of trace, debug, info, warn, error"),
      })
      .default("info"),
    // left out: the log goes to stderr; an empty path is a mistake, not a way to say so
    file: z.string({ error: "expected the path of the log file" }).min(1).optional(),
    // card numbers in full in the log (bench debugging); masked by default (src/log.ts)
    fullIds: z.boolean({ error: withGot("expected true or false") }).default(false),
  }).prefault({}),
  service: ServiceSection.prefault({}),
}).superRefine((c, ctx) => {
  if (c.lane.role === "exit" && c.tariff === undefined)
    ctx.addIssue({
      code: "custom",
      ...compares(["tariff"], ["lane", "role"]),
      message: `${TARIFF_ERROR}: an exit lane charges with it`,
    });
  // the list's age is counted from the newest update's issue time (src/status-list/health.ts): a lane
  // that asks for updates no more often than its hard age reaches past-hard-age before every poll, and
  // then closes (whenPastHardAge: close) or trades on a list that old (trade) every cycle. A poll as
  // long as the delta age only makes the list stale for part of each cycle: a note (preflight.ts
  // configNotes), not a refusal.
  // the condition depends on hardMaxAgeMinutes only: a deltaMaxAgeMinutes refused (out of its range, or
  // misread) leaves the issue standing, its message then without delta's value; a poll interval or hard
  // age out of its own range is named once, by that range. The section's ages are left out of `c` when
  // another of its fields was refused (its transform, withDefaults, does not run then).
  const hard = c.statusList.hardMaxAgeMinutes ?? STATUS_LIST_AGE_DEFAULTS.hardMaxAgeMinutes;
  const delta = c.statusList.deltaMaxAgeMinutes ?? STATUS_LIST_AGE_DEFAULTS.deltaMaxAgeMinutes;
  if (
    c.station &&
    !isRefused(ctx, ["station", "statusListPollMs"]) &&
    !isRefused(ctx, ["statusList", "hardMaxAgeMinutes"]) &&
    c.station.statusListPollMs >= hard * 60_000
  ) {
    const { whenPastHardAge } = c.statusList;
    const pollMs = c.station.statusListPollMs;
    const poll = (deltaValue: string) =>
      `expected less than statusList.hardMaxAgeMinutes (${hard} min = ${hard * 60_000} ms), and less than ` +
      `statusList.deltaMaxAgeMinutes${deltaValue} for a list that is never stale: a lane that asks for ` +
      "status-list updates no more often than that finds its list past its hard age before every poll " +
      `(whenPastHardAge: ${whenPastHardAge}), got ${pollMs}`;
    ctx.addIssue({
      code: "custom",
      ...comparesMentioning(
        ["station", "statusListPollMs"],
        [["statusList", "hardMaxAgeMinutes"]],
        [["statusList", "deltaMaxAgeMinutes"]],
        poll(""),
      ),
      message: isRefused(ctx, ["statusList", "deltaMaxAgeMinutes"]) ? poll("") : poll(` (${delta} min)`),
    });
  }
  // one serial device cannot carry both links: each would read the other's frames (a port refused on its
  // own is named once, by its own check)
  if (
    c.reader &&
    !isRefused(ctx, ["reader", "port"]) &&
    !isRefused(ctx, ["rsu", "port"]) &&
    normalize(c.reader.port) === normalize(c.rsu.port)
  )
    ctx.addIssue({
      code: "custom",
      ...compares(["reader", "port"], ["rsu", "port"]),
      message: `expected another device than rsu.port (${c.rsu.port}): the RSU and the booth reader each need their own serial port`,
    });
});

export type LaneConfigInput = z.input<typeof LaneConfigSchema>;
export type LaneConfig = z.output<typeof LaneConfigSchema>;
export type LaneRole = LaneConfig["lane"]["role"];
export type TransactionOptions = LaneConfig["transaction"];
export type ReaderConfig = NonNullable<LaneConfig["reader"]>;
export type BoothConfig = LaneConfig["booth"];

export type JournalConfig = LaneConfig["journal"];

/**
 * The tariff file the lane reads: an exit lane's (the schema requires it there), null for an entry lane,
 * which charges nothing and ignores a `tariff` given (`ignoredTariff`).
 */
export function laneTariffPath(c: LaneConfig): string | null {
  return c.lane.role === "exit" ? (c.tariff ?? null) : null;
}

/** An entry lane's `tariff`, which it never reads (run and run --check say so), or null. */
export function ignoredTariff(c: LaneConfig): string | null {
  return c.lane.role === "entry" ? (c.tariff ?? null) : null;
}
