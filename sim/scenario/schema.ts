/**
 * The scenario file (YAML): what traffic the simulated RSU sees and which faults it injects.
 * Validated with zod; every error names the field by its path (`vehicles[2].card.balance`).
 * See docs/simulator.md for the format with examples.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { codePointName, encodeGbk } from "../../firmware-bridge/frames/gbk-text.js";
import { RSU_SEEDS, seedSchema } from "../seed.js";

const hexN = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `expected ${bytes * 2} hex digits`)
    .transform((s) => s.toLowerCase());
const digits = (n: number) => z.string().regex(new RegExp(`^\\d{${n}}$`), `expected ${n} decimal digits`);
const yyyymmdd = z.string().regex(/^\d{8}$/, "expected a date yyyymmdd");
/** YAML turns 0101 into 101 and "0101" into a string: accept a number too and pad it. */
const code4 = z.union([z.string(), z.number().int().nonnegative()]).transform((v, ctx) => {
  const s = typeof v === "number" ? String(v).padStart(4, "0") : v;
  if (!/^[0-9a-fA-F]{4}$/.test(s)) {
    ctx.addIssue({
      code: "custom",
      message: `expected 4 hex/BCD digits (e.g. "4301"), got ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  }
  return s.toLowerCase();
});
/**
 * The card network: 4 decimal digits, as it goes into the card and OBU serials built from it when they
 * are not given (sim/vehicles/vehicles.ts), which are decimal (BCD on the wire).
 */
const BCD4_MESSAGE = 'expected 4 decimal digits (BCD, e.g. "4301"): it makes the card and OBU serials';
const cardNetwork = code4.refine((s) => /^\d{4}$/.test(s), { message: BCD4_MESSAGE });
/**
 * The longest wait a timer keeps (2^31 - 1 ms, about 24.8 days): Node runs a longer one after 1 ms. A
 * scenario time beyond it is refused, naming the field (sim/rsu/time-limits.ts for times the time scale
 * stretches); a longer wait the simulator works out itself runs as a chain of timers
 * (sim/rsu/context.ts `after`).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const ms = z
  .number()
  .nonnegative()
  .max(MAX_TIMER_MS, { message: `expected 0..${MAX_TIMER_MS} ms (the longest timer, about 24.8 days)` });

/** Bytes the plate fields hold: B3 PlateNumber, 0015 and 0019 plate (docs/protocol.md §3). */
const PLATE_BYTES = 12;
/** GBK text the frames can carry: a character GBK cannot hold is named (the frames never write "?"). */
const gbkText = (maxBytes?: number) =>
  z
    .string()
    .min(1)
    .superRefine((s, ctx) => {
      const enc = encodeGbk(s);
      if (!Buffer.isBuffer(enc))
        ctx.addIssue({
          code: "custom",
          message: `expected GB2312 text: "${s}" has a character GBK cannot encode, ${codePointName(enc.bad)} "${enc.bad}"`,
        });
      else if (maxBytes !== undefined && enc.length > maxBytes)
        ctx.addIssue({
          code: "custom",
          message: `"${s}" needs ${enc.length} bytes in GB2312, the field holds ${maxBytes}`,
        });
    });

/**
 * RSU information frames a vehicle's per-frame fault can target: those the RSU sends for the vehicle's
 * OBU. B0 is not one (it belongs to no vehicle), so a fault on it could never fire.
 */
export const FaultFrame = z.enum(["B2", "B3", "B4", "B5", "B8"], {
  error: (i) =>
    `expected one of B2, B3, B4, B5, B8 (a frame the RSU sends for the vehicle's OBU${
      i.input === "B0" ? "; B0 belongs to no vehicle" : ""
    }), got ${JSON.stringify(i.input)}`,
});
export type FaultFrame = z.infer<typeof FaultFrame>;

export const VehicleFaultSchema = z.discriminatedUnion("kind", [
  /** The OBU leaves right after the lane's C1 to B2: B3 carries ErrorCode 01 (no DSRC response). */
  z.strictObject({ kind: z.literal("leave-before-b3") }),
  /** The OBU leaves right after the lane's C1 to B3: B4 carries ErrorCode 01. */
  z.strictObject({ kind: z.literal("leave-before-b4") }),
  /** Torn before DEBIT: B5 ErrorCode 01, no money taken; C8 then finds no such transaction. */
  z.strictObject({ kind: z.literal("leave-during-debit") }),
  /**
   * Torn after DEBIT: the card paid and wrote 0019 but the RSU lost the answer. B5 carries ErrorCode 01
   * (or, with `b5: none`, no B5 is sent at all); the OBU stays in range `lingerMs` for a C8.
   */
  z.strictObject({
    kind: z.literal("b5-lost"),
    lingerMs: ms.default(3000),
    b5: z.enum(["error", "none"]).default("error"),
  }),
  /** The first transmission of `frame` is garbled (random bytes overwritten, or junk before it). */
  z.strictObject({
    kind: z.literal("garble"),
    frame: FaultFrame,
    mode: z.enum(["bytes", "noise"]).default("bytes"),
    times: z.number().int().min(1).max(4).default(1),
  }),
  /** The first `times` transmissions of `frame` carry a wrong BCC/CRC. */
  z.strictObject({
    kind: z.literal("bad-checksum"),
    frame: FaultFrame,
    times: z.number().int().min(1).max(4).default(1),
  }),
  /** `frame` goes out twice back to back (same RSCTL/SEQ and bytes). */
  z.strictObject({ kind: z.literal("duplicate"), frame: FaultFrame }),
  /** Extra delay before `frame` (all of this vehicle's frames when omitted). */
  z.strictObject({ kind: z.literal("slow"), frame: FaultFrame.optional(), delayMs: ms }),
  /** The RSU reboots instead of sending `frame`: B0 with RSCTL 0x98 after `bootMs`, needs C0 again. */
  z.strictObject({ kind: z.literal("reboot"), before: FaultFrame, bootMs: ms.optional() }),
  /** The RSU's port closes instead of sending `frame`, and reopens `durationMs` later. */
  z.strictObject({
    kind: z.literal("unplug"),
    before: FaultFrame,
    durationMs: ms.default(2000),
  }),
]);
export type VehicleFault = z.infer<typeof VehicleFaultSchema>;

/** A fault, or just its kind as a string for the kinds without parameters ("leave-before-b3"). */
const FaultEntry = z.preprocess((v) => (typeof v === "string" ? { kind: v } : v), VehicleFaultSchema);

const ObuStatusBitsSchema = z.strictObject({
  cardPresent: z.boolean().optional(),
  contactless: z.boolean().optional(),
  logicCard: z.boolean().optional(),
  cardError: z.boolean().optional(),
  locked: z.boolean().optional(),
  tampered: z.boolean().optional(),
  batteryLow: z.boolean().optional(),
});

const ObuSchema = z.strictObject({
  /** OBU MAC (OBUID in frames), 8 hex digits; random from the seed when omitted. */
  obuId: hexN(4).optional(),
  /** Issuer identifier, 16 hex digits; built from `province` and the card network when omitted. */
  issuer: hexN(8).optional(),
  /** Province name (2 Chinese characters, GB2312) for the issuer id: "湖南". */
  province: gbkText().optional(),
  /** OBU contract serial, 16 digits (its status-list id). */
  serial: digits(16).optional(),
  contractType: z.number().int().min(0).max(255).optional(),
  contractVersion: z.number().int().min(0).max(255).optional(),
  issueDate: yyyymmdd.optional(),
  expireDate: yyyymmdd.optional(),
  equipmentStatus: z.number().int().min(0).max(255).optional(),
  /** OBUStatus byte: a number, or the bits by name. cardPresent defaults to whether a card is present. */
  status: z.union([z.number().int().min(0).max(255), ObuStatusBitsSchema]).optional(),
  tamper: z.number().int().min(0).max(255).optional(),
  /** National B2 DeviceType: 1 dual-chip OBU (default), 2 single-chip, 3 CPC. */
  deviceType: z.number().int().min(1).max(3).optional(),
});

const CardSchema = z.strictObject({
  /** false: the OBU has no card (OBUStatus bit 7 set, no B4 card data). */
  present: z.boolean().optional(),
  /**
   * With `present: false`: the driver carries this card and hands it over at the booth. The card exists
   * in the card store (the booth reader reads it); the OBU still reports no card.
   */
  inHand: z.boolean().optional(),
  /** 22 stored value (储值卡), 23 credit (记账卡). */
  type: z.union([z.literal(22), z.literal(23)]).optional(),
  balance: z.number().int().nonnegative().optional(),
  network: cardNetwork.optional(),
  serial: digits(16).optional(),
  issuer: hexN(8).optional(),
  version: z.number().int().min(0).max(255).optional(),
  startDate: yyyymmdd.optional(),
  expireDate: yyyymmdd.optional(),
  userType: z.number().int().min(0).max(255).optional(),
  /** EP offline serial: the next purchase uses this value. */
  offlineSerial: z.number().int().min(0).max(0xffff).optional(),
});

const EntrySchema = z.strictObject({
  network: code4.optional(),
  station: code4.optional(),
  lane: z.number().int().min(0).max(255).optional(),
  /** When the vehicle entered: an ISO date-time, or minutes before the run started (default 60). */
  time: z.string().datetime({ offset: true }).optional(),
  minutesAgo: z.number().nonnegative().optional(),
  /** 01 MTC entry, 02 MTC exit, 03 ETC entry (default), 04 ETC exit. */
  status: z.number().int().min(0).max(255).optional(),
  vehicleClass: z.number().int().min(0).max(255).optional(),
});

const VehicleFields = {
  id: z.string().min(1).optional(),
  /** Arrival, ms after the antenna first opens (C4 01). Default: previous arrival + traffic.gapMs. */
  at: ms.optional(),
  /** How long the OBU stays in the communication zone (ms). */
  zoneMs: ms.optional(),
  /** GB2312, at most 12 bytes. */
  plate: gbkText(PLATE_BYTES).optional(),
  plateColor: z.number().int().min(0).max(255).optional(),
  class: z.number().int().min(0).max(255).optional(),
  userType: z.number().int().min(0).max(255).optional(),
  /** Shorthands for card.balance, card.type, entry.station. */
  balance: z.number().int().nonnegative().optional(),
  cardType: z.union([z.literal(22), z.literal(23)]).optional(),
  entryStation: code4.optional(),
  obu: ObuSchema.optional(),
  card: CardSchema.optional(),
  /** The 0019 entry record; `null` leaves 0019 blank (no entry information). */
  entry: EntrySchema.nullable().optional(),
  faults: z.array(FaultEntry).optional(),
  /** Trade this OBU again if it is still in the zone after its transaction ended (default false). */
  retradeWhileInZone: z.boolean().optional(),
  /**
   * The RSU gave up on this OBU's B2, B3 or B4 (the lane never answered it; nothing debited, no EF04
   * written): the OBU got no release (EVENT_REPORT), answers the next BST and is traded again if still in
   * the zone, as a new transaction (default false: the RSU keeps it out until it leaves, as it does a
   * traded one). A give-up on a B5 or B8 never brings a new transaction: the card may have paid.
   */
  retradeAfterGiveUp: z.boolean().optional(),
  /**
   * The driver drives off instead of coming to the booth when the lane stops the vehicle: the simulated
   * collector (sim/booth/collector.ts) never gets this vehicle's card (default false).
   */
  drivesOff: z.boolean().optional(),
};
export const VehicleSpecSchema = z.strictObject(VehicleFields);

type PartialVehicle = { card?: { network?: string }; entry?: { network?: string } | null } | undefined;

/**
 * A vehicle without card.network takes its entry.network for its card network, and so for its card and
 * OBU serials (sim/vehicles/vehicles.ts): that one must then be decimal too. `specs` are the specs a
 * vehicle is merged from, first to last (later wins), with the path each was given at; the issue names
 * the entry.network that is used. Undefined when there is nothing wrong.
 */
export function entryNetworkIssue(
  specs: { spec: PartialVehicle; path: (string | number)[] }[],
): { path: (string | number)[]; message: string } | undefined {
  let network: { value: string; path: (string | number)[] } | undefined;
  for (const { spec, path } of specs) {
    if (spec?.card?.network !== undefined) return undefined;
    if (spec?.entry === null) network = undefined;
    else if (spec?.entry?.network !== undefined)
      network = { value: spec.entry.network, path: [...path, "entry", "network"] };
  }
  if (!network || /^\d{4}$/.test(network.value)) return undefined;
  return {
    path: network.path,
    message: `the card network too (no card.network): ${BCD4_MESSAGE}; give card.network, got "${network.value}"`,
  };
}
/**
 * The 0019 entry time is 4 bytes of seconds since 1970 (sim/vehicles/vehicles.ts writes it with the
 * dialect's card time base, `cardTimeBase`). Accepted: a day inside that range at either end, so any UTC offset fits.
 */
const ENTRY_TIME_MIN_MS = Date.UTC(1970, 0, 2);
const ENTRY_TIME_MAX_MS = Date.UTC(2106, 1, 6); // 2^32 - 1 seconds is 2106-02-07T06:28:15Z
const ENTRY_TIME_RANGE =
  "the 0019 entry time is 4 bytes of seconds since 1970: expected a time from 1970-01-02 to 2106-02-06 (UTC)";
const DEFAULT_MINUTES_AGO = 60;

type TimedVehicle =
  | { entry?: { time?: string; minutesAgo?: number } | null; entryStation?: string }
  | undefined;

/**
 * The entry time a vehicle merged from `specs` (first to last, later wins) gets must fit the 4-byte 0019
 * time. `startMs` is the wall clock the run counts `minutesAgo` from. The issue names the field that sets
 * the time: `entry.time`, else `entry.minutesAgo`, else `startTime` (the default 60 minutes before it).
 * Undefined when there is nothing wrong, or when the vehicle has no entry record (`entry: null`).
 */
export function entryTimeIssue(
  specs: { spec: TimedVehicle; path: (string | number)[] }[],
  startMs: number,
): { path: (string | number)[]; message: string } | undefined {
  let time: { value: string; path: (string | number)[] } | undefined;
  let ago: { value: number; path: (string | number)[] } | undefined;
  let blank = false;
  for (const { spec, path } of specs) {
    if (spec?.entry === null) {
      blank = true;
      time = undefined;
      ago = undefined;
      continue;
    }
    // an entry, or the entryStation shorthand, gives the vehicle an entry record again (vehicles.ts)
    if (spec?.entry || spec?.entryStation !== undefined) blank = false;
    if (spec?.entry?.time !== undefined) time = { value: spec.entry.time, path: [...path, "entry", "time"] };
    if (spec?.entry?.minutesAgo !== undefined)
      ago = { value: spec.entry.minutesAgo, path: [...path, "entry", "minutesAgo"] };
  }
  if (blank) return undefined;
  const fits = (when: number) => when >= ENTRY_TIME_MIN_MS && when <= ENTRY_TIME_MAX_MS;
  const shown = (when: number) => (Number.isFinite(when) ? new Date(when).toISOString() : String(when));
  if (time) {
    const when = Date.parse(time.value);
    return fits(when) ? undefined : { path: time.path, message: `${ENTRY_TIME_RANGE}, got "${time.value}"` };
  }
  const minutes = ago?.value ?? DEFAULT_MINUTES_AGO;
  const when = startMs - minutes * 60_000;
  if (fits(when)) return undefined;
  return {
    path: ago?.path ?? ["startTime"],
    message: `${ENTRY_TIME_RANGE}; ${minutes} minutes${ago ? "" : " (the default entry.minutesAgo)"} before the start ${shown(startMs)} is ${shown(when)}`,
  };
}
export type VehicleSpec = z.infer<typeof VehicleSpecSchema>;
export type VehicleSpecInput = z.input<typeof VehicleSpecSchema>;

const RandomFaultRates = z.strictObject({
  "leave-before-b3": z.number().min(0).max(1).optional(),
  "leave-before-b4": z.number().min(0).max(1).optional(),
  "leave-during-debit": z.number().min(0).max(1).optional(),
  "b5-lost": z.number().min(0).max(1).optional(),
  garble: z.number().min(0).max(1).optional(),
  "bad-checksum": z.number().min(0).max(1).optional(),
  duplicate: z.number().min(0).max(1).optional(),
  slow: z.number().min(0).max(1).optional(),
});
export type RandomFaultRates = z.infer<typeof RandomFaultRates>;

export const RsuEventSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("reboot"), at: ms, bootMs: ms.optional() }),
  z.strictObject({ kind: z.literal("unplug"), at: ms, durationMs: ms.default(2000) }),
  /** Heartbeats stop for `durationMs` (for good when omitted); everything else keeps working. */
  z.strictObject({ kind: z.literal("heartbeat-stop"), at: ms, durationMs: ms.optional() }),
  /** Junk bytes on the line (not a frame). */
  z.strictObject({ kind: z.literal("noise"), at: ms, bytes: z.number().int().min(1).max(64).default(8) }),
]);
export type RsuEvent = z.infer<typeof RsuEventSchema>;

export const ScenarioSchema = z
  .strictObject({
    name: z.string().default("scenario"),
    description: z.string().optional(),
    /** Used when neither the CLI nor the API gives a seed; RSU_SEEDS (sim/seed.ts). */
    seed: seedSchema(RSU_SEEDS).optional(),
    /** Wall-clock start (ISO). Entry times are relative to it; default: the real time at start. */
    startTime: z.string().datetime({ offset: true }).optional(),
    rsu: z
      .strictObject({
        /** PSAM terminal numbers (12 hex digits), first is the one that trades; 1 or 2. */
        psamTerminalIds: z.array(hexN(6)).min(1).max(2).optional(),
        manufacturerId: z.number().int().min(0).max(255).optional(),
        rsuId: hexN(3).optional(),
        version: hexN(2).optional(),
        algId: z.number().int().min(0).max(255).optional(),
        /** How long a traded OBU is not traded again (ms); legacy C0 WaitTime (seconds) overrides when > 0. */
        recentSuccessMs: ms.optional(),
        /** Antenna open without C4 01 (some RSUs open it on C0). Default false. */
        antennaOnAtInit: z.boolean().optional(),
      })
      .optional(),
    /** Defaults applied to every vehicle (explicit and random). */
    defaults: z.strictObject(VehicleFields).optional(),
    traffic: z
      .strictObject({
        /** Gap between explicit vehicles without `at` (ms). */
        gapMs: ms.optional(),
        vehicles: z.array(VehicleSpecSchema).optional(),
        /** Poisson arrivals after the explicit vehicles. */
        random: z
          .strictObject({
            ratePerMinute: z.number().positive(),
            /** How many random vehicles; unbounded (the run never "finishes") when omitted. */
            count: z.number().int().nonnegative().optional(),
            /** Fields for every random vehicle (over `defaults`). */
            template: z.strictObject(VehicleFields).optional(),
            /** Random balance range in fen, [min, max], of stored-value cards (credit cards: notional). */
            balance: z
              .tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])
              // reversed, every vehicle got the first (sim/vehicles/vehicles.ts drew from [min, max(min, max)])
              .refine(([min, max]) => min <= max, {
                error: (i) => `expected [min, max] with min <= max, got ${JSON.stringify(i.input)}`,
              })
              .optional(),
            /** Share of credit (23) cards, 0..1. */
            creditShare: z.number().min(0).max(1).optional(),
          })
          .optional(),
      })
      .optional(),
    faults: z
      .strictObject({
        /**
         * Per-vehicle probabilities, drawn from the seed for every scenario vehicle with no faults of its
         * own, in `defaults` or in the random template (not for `addVehicle`).
         */
        random: RandomFaultRates.optional(),
        /** RSU-level faults at times (ms after the antenna first opens). */
        events: z.array(RsuEventSchema).optional(),
      })
      .optional(),
  })
  .superRefine((s, ctx) => {
    const defaults = { spec: s.defaults, path: ["defaults"] };
    const merged = (s.traffic?.vehicles ?? []).map((v, i) => [
      defaults,
      { spec: v, path: ["traffic", "vehicles", i] },
    ]);
    if (s.traffic?.random)
      merged.push([defaults, { spec: s.traffic.random.template, path: ["traffic", "random", "template"] }]);
    // The run's start: startTime, else the real time at start (close to now).
    const startMs = s.startTime !== undefined ? Date.parse(s.startTime) : Date.now();
    for (const specs of merged) {
      for (const issue of [entryNetworkIssue(specs), entryTimeIssue(specs, startMs)])
        if (issue) ctx.addIssue({ code: "custom", ...issue });
    }
  });
export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

function formatIssues(err: z.ZodError, source: string): string {
  const lines = err.issues.map((i) => {
    const path = i.path
      .map((p, k) => (typeof p === "number" ? `[${p}]` : k === 0 ? String(p) : `.${String(p)}`))
      .join("");
    return `  ${path || "(top level)"}: ${i.message}`;
  });
  return `invalid scenario ${source}:\n${lines.join("\n")}`;
}

/** Validate a parsed scenario object; throws EtcError(ConfigInvalid) listing every bad field. */
export function parseScenario(input: unknown, source = "(inline)"): Scenario {
  const r = ScenarioSchema.safeParse(input ?? {});
  if (!r.success) throw new EtcError(ErrorCodes.ConfigInvalid, formatIssues(r.error, source), { source });
  return r.data;
}

export function parseScenarioYaml(text: string, source = "(inline)"): Scenario {
  let obj: unknown;
  try {
    obj = parseYaml(text);
  } catch (e) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `scenario ${source} is not valid YAML: ${(e as Error).message}`,
      { source },
    );
  }
  return parseScenario(obj, source);
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new EtcError(ErrorCodes.ConfigInvalid, `cannot read scenario ${path}: ${(e as Error).message}`, {
      source: path,
    });
  }
  return parseScenarioYaml(text, path);
}
