/**
 * The cards, the PSAM and the ledger: what a C6/C3 asks for, the composite purchase the card and PSAM
 * perform (torn before or after the debit when a fault says so), and the ledger line for every purchase
 * a card actually made. Cards come from the CardEnvironment (./cards.ts) and are kept by card id for the
 * whole run, so a card's balance, offline serial and 0019 move on with every purchase.
 */
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { FILE_0019_LENGTH } from "../card/card-files.js";
import type {
  Card0019,
  CardSnapshot,
  PurchaseOutcome,
  PurchaseResult,
  SimCardApi,
  SimPsamApi,
  TearPoint,
} from "../card/types.js";
import type { LedgerEntry, LedgerSink } from "../ledger/ledger.js";
import type { VehicleModel } from "../vehicles/vehicles.js";
import type { CardEnvironment } from "./cards.js";
import type { Rng } from "./clock.js";
import type { SimContext } from "./context.js";
import { fieldBytes } from "./raw-fields.js";
import type { VState } from "./traffic.js";

/** What a C6 or C3 asks the card to do. */
export interface PurchaseRequest {
  amount: number;
  transTime: string;
  /** The 0019 the C6/C3 carries, decoded (for the ledger and logs). */
  record: Card0019;
  /**
   * The same as the 43-byte AA record the card is given, byte for byte as the lane sent it: a national
   * C6's 43 bytes; else `AA 29 00` + the Station body (a 36-byte one with a zero reserve); a legacy
   * C6/C3 whose 0019 time is 0 gets the RSU's clock there (withRecordTime). The card
   * checks its header (UPDATE CAPP DATA CACHE answers 6A80 to anything but `AA 29`).
   */
  recordBytes: Buffer | undefined;
  /**
   * The first-level divisor the RSU gives the PSAM for MAC1: the lane's C6/C3 divisor factor, or the
   * card's own when the check is off or the frame has none. A wrong one makes the card refuse DEBIT.
   */
  divisor: string | undefined;
  /**
   * National C6 OBUTradeType: 00 EF04 + purchase, 01 EF04 only, 02 purchase only (any other value is
   * refused). Undefined for legacy C6 and for C3, which carry none: a purchase.
   */
  tradeType: number | undefined;
  /** The EF04Info (91 bytes, hex) a national C6 carries: what 00 and 01 write to the OBU's EF04. */
  ef04: string | undefined;
}

/** The 0019 header a Station without one is given: application type AA, record length 41, unlocked. */
const AA_HEADER = Buffer.from([0xaa, 0x29, 0x00]);

/** Where the 4-byte time is in the 43-byte AA record: after the header 3, network 2, station 2, lane 1. */
const RECORD_0019_TIME_OFFSET = 8;

/**
 * `req` with its 0019 time set to `time`, in the decoded record and in the bytes the card is given (the
 * legacy RSU stamps a record whose time is 0 with its clock, the time B5 WrFileTime reports). The MAC1
 * and TAC inputs hold no 0019 field (docs/card-crypto.md §1.3), so they do not change.
 */
export function withRecordTime(req: PurchaseRequest, time: number): PurchaseRequest {
  let recordBytes = req.recordBytes;
  if (recordBytes !== undefined) {
    recordBytes = Buffer.from(recordBytes);
    recordBytes.writeUInt32BE(time, RECORD_0019_TIME_OFFSET);
  }
  return { ...req, record: { ...req.record, time }, recordBytes };
}

/** National C6 OBUTradeType values (firmware-bridge/frames/national-frames.ts C6). */
export const OBU_TRADE_TYPE = { ef04AndPurchase: 0x00, ef04Only: 0x01, purchaseOnly: 0x02 } as const;

export class Purchases {
  private psamApi: SimPsamApi | undefined;
  private readonly cardsById = new Map<string, SimCardApi>();
  private readonly entries: LedgerEntry[] = [];
  /** Each OBU's EF04 image (hex) as a C6 last wrote it; an OBU not written has 91 zero bytes. */
  private readonly ef04ByObu = new Map<string, string>();

  constructor(
    private readonly ctx: SimContext,
    private readonly env: CardEnvironment,
    private readonly cardRng: Rng,
    private readonly sink: LedgerSink | undefined,
    /**
     * The lane's divisor factors are used as hardware uses them: a C6/C3's goes to the PSAM for MAC1, and
     * a C1's must be the OBU issuer's for the RSU to read the vehicle file (./transaction.ts). False: the
     * RSU uses the right ones whatever the frames carry.
     */
    readonly checkDivFactor: boolean,
  ) {}

  /** Powers the PSAM up (the RSU's first terminal id trades). */
  insertPsam(terminalNo: string): void {
    this.psamApi = this.env.createPsam(terminalNo);
  }

  get psam(): SimPsamApi | undefined {
    return this.psamApi;
  }

  /** The vehicle's card, created the first time a vehicle carrying that card id enters. */
  ensureCard(m: VehicleModel): void {
    if (!m.card || !m.cardId || this.cardsById.has(m.cardId)) return;
    const rng = this.cardRng;
    this.cardsById.set(
      m.cardId,
      this.env.createCard(m.card, () => Buffer.from(rng.hex(4), "hex")),
    );
  }

  /** The card in the vehicle's OBU (a card the driver holds for the booth is not on the air). */
  cardOf(v: VState): SimCardApi | undefined {
    return v.m.cardId && v.m.cardInObu ? this.cardsById.get(v.m.cardId) : undefined;
  }

  cards(): CardSnapshot[] {
    return [...this.cardsById.values()].map((c) => c.snapshot());
  }

  ledger(): LedgerEntry[] {
    return [...this.entries];
  }

  close(): void {
    this.sink?.close();
  }

  /** The OBU's EF04 image (91 bytes, hex) as the last C6 with OBUTradeType 00 or 01 wrote it. */
  ef04(obuId: string): string | undefined {
    return this.ef04ByObu.get(obuId);
  }

  /** A C6 with OBUTradeType 00 or 01 writes its EF04Info to the OBU's EF04. */
  writeEf04(obuId: string, ef04: string): void {
    this.ef04ByObu.set(obuId, ef04);
  }

  /**
   * The amount, time, 0019 image, divisor factor, trade type and EF04 data a C6 or C3 carries; `data` is
   * the frame's DATA as received, where the 0019 bytes are taken from.
   */
  request(f: Extract<Frame, { type: "C6" | "C3" }>, data: Buffer): PurchaseRequest {
    const hdr = { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0x00 };
    let div: string | undefined;
    let amount = 0;
    let transTime: string;
    let record: Card0019;
    let tradeType: number | undefined;
    let ef04: string | undefined;
    const g = f as Record<string, unknown>;
    if (f.type === "C6") {
      amount = f.consumeMoney;
      transTime = f.purchaseTime;
      div = (g.cardDivFactor ?? g.obuDivFactor) as string | undefined;
      const st = f.station as unknown as Record<string, unknown>;
      record = ("applicationType" in st ? { ...st } : { ...hdr, ...st }) as unknown as Card0019;
      tradeType = g.obuTradeType as number | undefined;
      ef04 = g.ef04Info as string | undefined;
    } else {
      transTime = (g.purchaseTime ?? g.enTime) as string;
      div = g.cardDivFactor as string | undefined;
      record = { ...hdr, ...(f.station as object) } as unknown as Card0019;
    }
    record.reserved ??= "00000000";
    const station = fieldBytes(data, this.ctx.dialect, "station");
    const recordBytes =
      station === undefined || station.length === FILE_0019_LENGTH
        ? station
        : Buffer.concat([AA_HEADER, station, Buffer.alloc(FILE_0019_LENGTH - 3 - station.length)]);
    return {
      amount,
      transTime,
      record,
      recordBytes,
      divisor: this.checkDivFactor ? div : undefined,
      tradeType,
      ef04,
    };
  }

  /** The card and PSAM run the composite purchase; `tear` cuts it before or after the debit. */
  perform(card: SimCardApi, psam: SimPsamApi, req: PurchaseRequest, tear: TearPoint): PurchaseOutcome {
    return card.purchase(
      psam,
      {
        amount: req.amount,
        transTime: req.transTime,
        record0019: req.record,
        ...(req.recordBytes === undefined ? {} : { record0019Bytes: req.recordBytes }),
        ...(req.divisor === undefined ? {} : { issuerDivisor: req.divisor }),
      },
      tear,
    );
  }

  /** A purchase the card made: one ledger line (in memory, in the sink, as an event). */
  record(
    v: VState,
    command: "C6" | "C3",
    r: PurchaseResult,
    record: Card0019,
    outcome: LedgerEntry["outcome"],
  ): void {
    const f15 = this.cardOf(v)?.snapshot().file0015;
    const entry: LedgerEntry = {
      seq: this.entries.length + 1,
      vehicleId: v.m.id,
      obuId: v.m.obu.obuId,
      obuSerial: v.m.obu.serial,
      plate: v.m.obu.vehicleFile.plate,
      cardId: v.m.cardId ?? "",
      issuerId: f15?.issuerId ?? "",
      cardNetwork: f15?.cardNetwork ?? "",
      cardSerial: f15?.cardSerial ?? "",
      cardType: f15?.cardType ?? 0,
      amount: r.balanceBefore - r.balanceAfter,
      tac: r.tac,
      mac2: r.mac2,
      iccPaySerial: r.iccPaySerial,
      psamNo: r.psamNo,
      psamTransSerial: r.psamTransSerial,
      transTime: r.transTime,
      transType: r.transType,
      keyVersion: r.keyVersion,
      algId: r.algId,
      balanceBefore: r.balanceBefore,
      balanceAfter: r.balanceAfter,
      command,
      outcome,
      station: { network: record.network, station: record.station, lane: record.lane, status: record.status },
    };
    this.entries.push(entry);
    this.sink?.append(entry);
    this.ctx.event({ type: "ledger", at: this.ctx.rel(), entry });
  }
}
