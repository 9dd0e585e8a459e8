/**
 * The lane configuration (one YAML file per lane process), validated at start-up. Every timeout and
 * tuning value lives here with its default and allowed range (style.md 11); an invalid file is refused
 * with the field path and what was expected.
 */
import { z } from "zod";

const HEX4 = /^[0-9A-Fa-f]{4}$/;

const hex4 = (what: string) =>
  z
    .string({ error: `expected ${what} as a 4-hex-digit string in quotes, e.g. "4301"` })
    .regex(HEX4, { error: `expected ${what} as 4 hex digits as on the wire, e.g. "4301"` })
    .transform((s) => s.toLowerCase());

const int = (min: number, max: number, what = "an integer") =>
  z
    .number({ error: `expected ${what} in ${min}..${max}` })
    .int({ error: `expected ${what} in ${min}..${max}` })
    .min(min, { error: `expected ${what} in ${min}..${max}` })
    .max(max, { error: `expected ${what} in ${min}..${max}` });

export const LaneSection = z.strictObject({
  network: hex4("the road network number"),
  station: hex4("the station number"),
  lane: int(0, 99, "a lane number"),
  role: z.enum(["entry", "exit"], { error: 'expected "entry" or "exit"' }),
});

export const DialectSection = z.strictObject({
  /** Variant A C6/C3 Station width. */
  stationLength: z.union([z.literal(36), z.literal(40)], { error: "expected 36 or 40" }).optional(),
  /** Variant A B4 LastStation width. */
  lastStationLength: z.union([z.literal(39), z.literal(43)], { error: "expected 39 or 43" }).optional(),
  /** ErrorCode of a heartbeat B2 (both are accepted on receive). */
  heartbeatCode: z
    .union([z.literal(0x80), z.literal(0x08)], { error: "expected 128 (0x80) or 8" })
    .optional(),
  timeBase: z.enum(["local-as-utc", "utc"], { error: 'expected "local-as-utc" or "utc"' }).optional(),
  utcOffsetMinutes: int(-720, 840, "minutes").optional(),
  /** Variant B: B4 carries the 91-byte EF04 block. */
  b4Ef04: z.boolean({ error: "expected true or false" }).optional(),
  /** Variant B: B2 carries a 1-byte AntennaID after ErrorCode (docs/protocol.md, national notes). */
  b2AntennaId: z.boolean({ error: "expected true or false" }).optional(),
});

export const RsuTimingSection = z.strictObject({
  /** Expected heartbeat period of the RSU (variant A B2/0x80: 3-60 s; variant B: 10 s). */
  heartbeatPeriodMs: int(1000, 120_000, "milliseconds").default(10_000),
  /** Heartbeat periods without any RSU byte before the link is declared down. */
  missedHeartbeats: int(1, 20, "a count").default(3),
  /** How long to wait for B0 after C0 before sending C0 again. */
  initTimeoutMs: int(50, 60_000, "milliseconds").default(2000),
  /** Pause between failed start-up attempts. */
  initRetryMs: int(10, 600_000, "milliseconds").default(3000),
});

export const C0Section = z.strictObject({
  /** Minimum re-read time for the same OBU (unit per dialect); national C0 sends it as BSTInterval. */
  waitTime: int(0, 255).default(1),
  txPower: int(0, 31).default(21),
  pllChannelId: int(0, 2).default(0),
  /** Variant A: 0 traditional, 1 composite for both card kinds, 2 credit traditional + stored-value composite. */
  transClass: int(0, 2).default(1),
  /** Variant B: 01 composite. */
  transMode: int(0, 255).default(1),
});

export const RsuSection = z.strictObject({
  /** Serial device path (prefer /dev/serial/by-id/...) or tcp://host:port. */
  port: z.string({ error: "expected a serial device path or tcp://host:port" }).min(1, {
    error: "expected a serial device path or tcp://host:port",
  }),
  baudRate: int(1200, 921_600, "a baud rate").default(115_200),
  protocol: z.enum(["legacy", "national"], { error: 'expected "legacy" or "national"' }),
  dialect: DialectSection.default({}),
  timing: RsuTimingSection.prefault({}),
  c0: C0Section.prefault({}),
  /** How an entry lane writes the entry record: C6 with amount 0, or C3 where the dialect uses it. */
  entryWrite: z.enum(["c6", "c3"], { error: 'expected "c6" or "c3"' }).default("c6"),
  /** C2 StopType for an OBU that already traded here recently: 1 (search again) or 3 (lane dialect). */
  alreadyTradedStopType: z.union([z.literal(1), z.literal(3)], { error: "expected 1 or 3" }).default(1),
});

export const TransactionSection = z.strictObject({
  /** Wait for the OBU's next frame (B3 after C1, B4 after C1) before the OBU counts as gone. */
  obuTimeoutMs: int(100, 30_000, "milliseconds").default(2000),
  /** Wait for B5 after C6/C3 before the debit counts as uncertain. */
  b5TimeoutMs: int(100, 30_000, "milliseconds").default(1000),
  /** Wait for B8 after C8. */
  b8TimeoutMs: int(100, 30_000, "milliseconds").default(1000),
  /** An OBU or card that traded here within this window is not traded again. */
  recentTradeWindowMs: int(0, 86_400_000, "milliseconds").default(300_000),
  /**
   * After a restart that found debits in flight (the previous process died between C6 and recording the
   * answer): listen for the RSU's B5 retransmissions before C0 resets the RSU, until this long after the
   * newest debit was sent (B5 after the air time, then 3 repeats 120 ms apart: over within about 500 ms).
   */
  recoveryListenMs: int(0, 5000, "milliseconds").default(800),
  /** A card with an unsettled (suspect) debit is sent to manual handling for this long. */
  unsettledHoldMs: int(0, 7 * 86_400_000, "milliseconds").default(86_400_000),
  /** Exit: entries older than this are "timeout vehicles" (超时车辆); 0 disables the check. */
  maxTripHours: int(0, 24 * 30, "hours").default(0),
  /** OBU battery low: "warn" trades and shows a notice; "stop" sends the vehicle to manual. */
  lowBattery: z.enum(["warn", "stop"], { error: 'expected "warn" or "stop"' }).default("warn"),
});

/** Wire capture (docs/capture.md): every byte on each serial port, both directions, to rotating files. */
export const CaptureSection = z.strictObject({
  enabled: z.boolean({ error: "expected true or false" }).default(false),
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

export const LaneConfigSchema = z.strictObject({
  lane: LaneSection,
  rsu: RsuSection,
  reader: z.strictObject({ port: z.string().min(1) }).optional(),
  station: z
    .strictObject({
      url: z.url({ error: "expected a URL, e.g. http://station.local:8080" }),
      /** records per upload POST */
      batchSize: int(1, 5000, "a record count").default(500),
      /** per request */
      requestTimeoutMs: int(100, 300_000, "milliseconds").default(10_000),
      /** after 5 failures in a row the uplink stops calling the station for this long, then probes once */
      breakerCoolDownMs: int(1, 3_600_000, "milliseconds").default(30_000),
      /** status-list manifest poll interval */
      statusListPollMs: int(1000, 86_400_000, "milliseconds").default(150_000),
    })
    .optional(),
  statusList: z.strictObject({
    /** PEM file with the station's public key (bundles are signed). */
    publicKey: z.string({ error: "expected the path of a PEM public key file" }).min(1),
    /** staleness alarm when the full list is older than this (from its issue time) */
    fullMaxAgeMinutes: int(1, 525_600, "minutes").default(2880),
    /** staleness alarm when the newest delta (or the full list, before any) is older than this */
    deltaMaxAgeMinutes: int(1, 525_600, "minutes").default(30),
    /** merge the delta overlay into the main list once it holds more entries than this */
    overlayMaxRows: int(1000, 100_000_000, "a number of entries").default(1_000_000),
  }),
  dataDir: z.string({ error: "expected a directory path" }).min(1, { error: "expected a directory path" }),
  tariff: z.string({ error: "expected the path of the tariff YAML file" }).min(1),
  transaction: TransactionSection.prefault({}),
  capture: CaptureSection.prefault({}),
  outputs: z
    .strictObject({
      sink: z.enum(["console", "log"], { error: 'expected "console" or "log"' }).default("console"),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error"]).default("info"),
      file: z.string().optional(),
    })
    .prefault({}),
});

export type LaneConfigInput = z.input<typeof LaneConfigSchema>;
export type LaneConfig = z.output<typeof LaneConfigSchema>;
export type LaneRole = LaneConfig["lane"]["role"];
export type TransactionOptions = LaneConfig["transaction"];
