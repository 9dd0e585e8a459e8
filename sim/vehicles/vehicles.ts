/**
 * Vehicles, OBUs and cards built from scenario specs: defaults filled in, ids drawn from the seed,
 * the card files (0015, 0019) laid out as the card holds them. Pure data; the RSU brings them to life.
 */
import iconv from "iconv-lite";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { toCardUnix } from "../../firmware-bridge/frames/dialect.js";
import { encodeObuStatus } from "../../firmware-bridge/frames/obu-status.js";
import type { VehicleFile } from "../../firmware-bridge/frames/records.js";
import type { Card0015, Card0019 } from "../card/types.js";
import type { Rng } from "../rsu/clock.js";
import type {
  FaultFrame,
  RandomFaultRates,
  Scenario,
  VehicleFault,
  VehicleSpec,
} from "../scenario/schema.js";

export interface ObuModel {
  /** OBU MAC address, 8 hex digits: the OBUID of every frame. */
  obuId: string;
  issuer: string;
  /** Contract serial, 16 digits. */
  serial: string;
  contractType: number;
  contractVersion: number;
  issueDate: string;
  expireDate: string;
  equipmentStatus: number;
  status: number;
  tamper: number;
  deviceType: number;
  vehicleFile: VehicleFile;
}

/** What the card model is created from (sim/card createCardFromSpec). */
export interface CardModelSpec {
  file0015: Card0015;
  file0019: Card0019;
  balance: number;
  offlineSerial: number;
}

export interface VehicleModel {
  id: string;
  index: number;
  /** Arrival in ms after the antenna first opened. */
  at: number;
  zoneMs: number;
  obu: ObuModel;
  /** undefined: the vehicle has no card. */
  card: CardModelSpec | undefined;
  cardId: string | undefined;
  /** false: the card is not in the OBU (`card.inHand`: the driver hands it over at the booth) */
  cardInObu: boolean;
  faults: VehicleFault[];
  retradeWhileInZone: boolean;
  /** traded again while in the zone after the RSU gave up on its B2, B3 or B4 */
  retradeAfterGiveUp: boolean;
  /** the driver drives off instead of coming to the booth: the collector never gets this card */
  drivesOff: boolean;
}

export const DEFAULT_ZONE_MS = 3000;
export const DEFAULT_GAP_MS = 4000;
export const DEFAULT_BALANCE = 10_000;
/**
 * A credit card's (type 23, 记账卡) balance when the scenario gives it none: a large notional balance,
 * so that no ordinary toll is refused for want of money (docs/card-crypto.md §4).
 */
export const CREDIT_NOTIONAL_BALANCE = 1_999_918_332;
const CREDIT_CARD = 23;
const DEFAULT_PROVINCE = "湖南";
const DEFAULT_NETWORK = "4301";

type Fields = Omit<VehicleSpec, "faults"> & { faults?: VehicleFault[] };

/** Later specs win; obu/card/entry merge field by field. */
export function mergeSpecs(...specs: (Partial<Fields> | undefined)[]): Fields {
  const out: Fields = {};
  for (const raw of specs) {
    if (!raw) continue;
    const s = normaliseShorthands(raw);
    for (const [k, v] of Object.entries(s) as [keyof Fields, unknown][]) {
      if (v === undefined) continue;
      if ((k === "obu" || k === "card" || (k === "entry" && v !== null)) && typeof v === "object") {
        const prev = out[k];
        (out as Record<string, unknown>)[k] = {
          ...(prev && typeof prev === "object" ? prev : {}),
          ...(v as object),
        };
      } else {
        (out as Record<string, unknown>)[k] = v;
      }
    }
  }
  return out;
}

/** balance / cardType / entryStation are shorthands: fold them into card / entry so later specs win. */
function normaliseShorthands(s: Partial<Fields>): Partial<Fields> {
  const { balance, cardType, entryStation, ...rest } = s;
  const out: Partial<Fields> = { ...rest };
  if (balance !== undefined || cardType !== undefined) {
    out.card = {
      ...(s.card ?? {}),
      ...(balance !== undefined ? { balance } : {}),
      ...(cardType !== undefined ? { type: cardType } : {}),
    };
  }
  if (entryStation !== undefined && s.entry !== null)
    out.entry = { ...(s.entry ?? {}), station: entryStation };
  return out;
}

export function issuerFromProvince(province: string, network: string): string {
  const name = iconv.encode(province, "gbk");
  const four = Buffer.alloc(4, 0x20);
  name.copy(four, 0, 0, Math.min(4, name.length));
  return `${four.toString("hex")}${network}0001`;
}

export interface BuildContext {
  dialect: Dialect;
  /** Wall clock (epoch ms) the run counts entry times from. */
  wallStart: number;
  ids: Rng;
}

const pad = (n: number, w: number): string => String(n).padStart(w, "0");

export function buildVehicle(spec: Fields, index: number, at: number, ctx: BuildContext): VehicleModel {
  const network = spec.card?.network ?? spec.entry?.network ?? DEFAULT_NETWORK;
  const province = spec.obu?.province ?? DEFAULT_PROVINCE;
  const issuer = spec.obu?.issuer ?? issuerFromProvince(province, network);
  const plate = spec.plate ?? `湘A${pad(10000 + index, 5)}`;
  const plateColor = spec.plateColor ?? 0;
  const vehicleClass = spec.class ?? 1;
  const userType = spec.userType ?? 0;
  let obuId = spec.obu?.obuId;
  while (!obuId || obuId === "00000000" || obuId === "ffffffff") obuId = ctx.ids.hex(4);
  const cardPresent = spec.card?.present !== false;
  const statusSpec = spec.obu?.status;
  const status =
    typeof statusSpec === "number" ? statusSpec : encodeObuStatus({ cardPresent, ...(statusSpec ?? {}) });
  const cardType = spec.card?.type ?? 22;
  const obu: ObuModel = {
    obuId,
    issuer,
    serial: spec.obu?.serial ?? `${network}00${pad(index + 1, 10)}`.slice(0, 16),
    contractType: spec.obu?.contractType ?? 0,
    contractVersion: spec.obu?.contractVersion ?? 0x50,
    issueDate: spec.obu?.issueDate ?? "20230101",
    expireDate: spec.obu?.expireDate ?? "20330101",
    equipmentStatus: spec.obu?.equipmentStatus ?? 0,
    status,
    tamper: spec.obu?.tamper ?? 0,
    deviceType: spec.obu?.deviceType ?? 1,
    vehicleFile: {
      plate,
      plateColor,
      vehicleClass,
      userType,
      length: 48,
      width: 18,
      height: 15,
      wheels: 4,
      axles: 2,
      wheelbase: 27,
      loadOrSeats: vehicleClass <= 4 ? 5 : 10_000,
      description: "",
      engineNo: "",
      extension: "00".repeat(20),
    },
  };
  let card: CardModelSpec | undefined;
  let cardId: string | undefined;
  if (cardPresent || spec.card?.inHand === true) {
    const serial = spec.card?.serial ?? `${network}${cardType}${pad(index + 1, 10)}`.slice(0, 16);
    const file0015: Card0015 = {
      issuerId: spec.card?.issuer ?? issuer,
      cardType,
      cardVersion: spec.card?.version ?? 0x40,
      cardNetwork: network,
      cardSerial: serial,
      startDate: spec.card?.startDate ?? "20230101",
      expireDate: spec.card?.expireDate ?? "20330101",
      plate,
      userType: spec.card?.userType ?? userType,
      plateColor,
      vehicleClass,
    };
    card = {
      file0015,
      file0019: entryRecord(spec, plate, vehicleClass, network, ctx),
      balance: spec.card?.balance ?? (cardType === CREDIT_CARD ? CREDIT_NOTIONAL_BALANCE : DEFAULT_BALANCE),
      offlineSerial: spec.card?.offlineSerial ?? 1,
    };
    cardId = `${network}${serial}`;
  }
  return {
    id: spec.id ?? `v${index + 1}`,
    index,
    at,
    zoneMs: spec.zoneMs ?? DEFAULT_ZONE_MS,
    obu,
    card,
    cardId,
    cardInObu: cardPresent,
    faults: spec.faults ?? [],
    retradeWhileInZone: spec.retradeWhileInZone ?? false,
    retradeAfterGiveUp: spec.retradeAfterGiveUp ?? false,
    drivesOff: spec.drivesOff ?? false,
  };
}

function entryRecord(
  spec: Fields,
  plate: string,
  vehicleClass: number,
  network: string,
  ctx: BuildContext,
): Card0019 {
  const header = { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0 };
  const tail = { flagStations: "00".repeat(9), collectorId: "000000", shift: 0, reserved: "00000000" };
  if (spec.entry === null) {
    return {
      ...header,
      network: "0000",
      station: "0000",
      lane: 0,
      time: 0,
      vehicleClass: 0,
      status: 0,
      plate: "",
      ...tail,
    };
  }
  const e = spec.entry ?? {};
  const when = e.time !== undefined ? Date.parse(e.time) : ctx.wallStart - (e.minutesAgo ?? 60) * 60_000;
  return {
    ...header,
    network: e.network ?? network,
    station: e.station ?? "0101",
    lane: e.lane ?? 1,
    time: toCardUnix(ctx.dialect, when),
    vehicleClass: e.vehicleClass ?? vehicleClass,
    status: e.status ?? 0x03,
    plate,
    ...tail,
  };
}

const FRAMES: FaultFrame[] = ["B2", "B3", "B4", "B5"];

/** Faults drawn from per-vehicle rates: at most one "leave" kind, then independent wire faults. */
export function drawRandomFaults(rates: RandomFaultRates | undefined, rng: Rng): VehicleFault[] {
  if (!rates) return [];
  const out: VehicleFault[] = [];
  for (const kind of ["leave-before-b3", "leave-before-b4", "leave-during-debit", "b5-lost"] as const) {
    if (rng.chance(rates[kind] ?? 0)) {
      out.push(kind === "b5-lost" ? { kind, lingerMs: 3000, b5: "error" } : { kind });
      break;
    }
  }
  const frame = (): FaultFrame => FRAMES[rng.int(0, FRAMES.length - 1)] as FaultFrame;
  if (rng.chance(rates.garble ?? 0)) out.push({ kind: "garble", frame: frame(), mode: "bytes", times: 1 });
  if (rng.chance(rates["bad-checksum"] ?? 0)) out.push({ kind: "bad-checksum", frame: frame(), times: 1 });
  if (rng.chance(rates.duplicate ?? 0)) out.push({ kind: "duplicate", frame: frame() });
  if (rng.chance(rates.slow ?? 0)) out.push({ kind: "slow", frame: frame(), delayMs: rng.int(60, 400) });
  return out;
}

/**
 * When each scenario vehicle arrives (ms after the first C4 01, unscaled), in the scenario's order: its
 * `at`, else the previous one's plus `traffic.gapMs` (the first at 0).
 */
export function explicitArrivals(scenario: Scenario): number[] {
  const gap = scenario.traffic?.gapMs ?? DEFAULT_GAP_MS;
  let at = 0;
  return (scenario.traffic?.vehicles ?? []).map((v, i) => {
    at = v.at ?? (i === 0 ? 0 : at + gap);
    return at;
  });
}

/**
 * The run's traffic: explicit vehicles first (in order of `at`), then Poisson arrivals. `next()` hands
 * out vehicles lazily so an unbounded random stream costs nothing.
 */
export class TrafficPlan {
  private readonly explicit: VehicleModel[];
  private randomLeft: number;
  private lastAt: number;
  private index: number;
  private readonly arrivals: Rng;
  private readonly faultRng: Rng;
  private readonly fieldRng: Rng;

  constructor(
    private readonly scenario: Scenario,
    private readonly ctx: BuildContext,
    rng: Rng,
  ) {
    this.arrivals = rng.fork("arrivals");
    this.faultRng = rng.fork("faults");
    this.fieldRng = rng.fork("fields");
    const arrivals = explicitArrivals(scenario);
    this.explicit = (scenario.traffic?.vehicles ?? []).map((v, i) => {
      const at = arrivals[i] ?? 0;
      const spec = mergeSpecs(scenario.defaults as Partial<Fields>, v as Partial<Fields>);
      // The vehicle's own faults, else `defaults.faults` (both in spec), else a random draw.
      if (!spec.faults) spec.faults = drawRandomFaults(scenario.faults?.random, this.faultRng);
      return buildVehicle(spec, i, at, ctx);
    });
    this.explicit.sort((a, b) => a.at - b.at || a.index - b.index);
    this.index = this.explicit.length;
    this.lastAt = this.explicit.reduce((m, v) => Math.max(m, v.at), 0);
    const r = scenario.traffic?.random;
    this.randomLeft = r ? (r.count ?? Number.POSITIVE_INFINITY) : 0;
  }

  /** Vehicles still to come; Infinity for an unbounded random stream. */
  get remaining(): number {
    return this.explicit.length + this.randomLeft;
  }

  next(): VehicleModel | undefined {
    const e = this.explicit.shift();
    if (e) return e;
    const r = this.scenario.traffic?.random;
    if (!r || this.randomLeft <= 0) return undefined;
    this.randomLeft--;
    this.lastAt += this.arrivals.exponential(60_000 / r.ratePerMinute);
    const balance = r.balance
      ? this.fieldRng.int(r.balance[0], r.balance[1]) // min <= max (sim/scenario/schema.ts)
      : undefined;
    const credit = r.creditShare !== undefined && this.fieldRng.chance(r.creditShare);
    const merged = mergeSpecs(
      this.scenario.defaults as Partial<Fields>,
      r.template as Partial<Fields>,
      credit ? { cardType: CREDIT_CARD } : {},
    );
    // The balance range is for stored-value cards: a credit card, by the type the merged spec gives it
    // (`creditShare`, the template's or the defaults' cardType 23), keeps its notional balance. Drawn all
    // the same, so a seed gives the same traffic as before.
    const spec =
      balance !== undefined && merged.card?.type !== CREDIT_CARD ? mergeSpecs(merged, { balance }) : merged;
    if (!spec.faults) spec.faults = drawRandomFaults(this.scenario.faults?.random, this.faultRng);
    return buildVehicle(spec, this.takeIndex(), Math.round(this.lastAt), this.ctx);
  }

  /**
   * The next vehicle index of the run (it makes the default card serial, OBU contract serial, plate and
   * id): the plan's random vehicles and the vehicles added at run time (../rsu/traffic.ts `add`) take
   * theirs from this one counter, after the scenario's vehicles, so no two vehicles of a run share them.
   */
  takeIndex(): number {
    return this.index++;
  }
}
