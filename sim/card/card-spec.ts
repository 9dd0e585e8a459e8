/**
 * Build simulated cards and PSAMs from plain objects (scenario files). Everything is validated with
 * the field name in the error (E705_CARD_SPEC_INVALID).
 */
import iconv from "iconv-lite";
import { z } from "zod";
import { EtcError } from "../../firmware-bridge/errors.js";
import { layoutFor } from "../../src/booth/record-0019.js";
import {
  decode0015,
  decode0016,
  empty0019,
  encode0015,
  encode0016,
  encode0019,
  holderIdNumberIssue,
  holderNameBytes,
  NO_HOLDER,
} from "./card-files.js";
import { CardErrorCodes } from "./crypto/errors.js";
import type { CardKeys } from "./crypto/keys.js";
import { CARD_TYPE, record0019In, SimCard, type SimCardOptions } from "./sim-card.js";
import type { Card0019 } from "./types.js";

const yyyymmdd = z.string().regex(/^[0-9]{8}$/, "expected yyyymmdd");
const hexN = (n: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${n}}$`), `expected ${n} hex digits`);

const record0019Schema = z
  .object({
    applicationType: z.number().int().min(0).max(255),
    recordLength: z.number().int().min(0).max(255),
    lockFlag: z.number().int().min(0).max(255),
    network: hexN(4),
    station: hexN(4),
    lane: z.number().int().min(0).max(255),
    time: z.number().int().min(0).max(0xffffffff),
    vehicleClass: z.number().int().min(0).max(255),
    status: z.number().int().min(0).max(255),
    flagStations: hexN(18),
    collectorId: hexN(6),
    shift: z.number().int().min(0).max(255),
    plate: z.string(),
    reserved: hexN(8),
  })
  .partial()
  .strict();

/** The cardholder file 0016 (card-files.ts): every field defaults to NO_HOLDER's (zero, empty). */
const holderSchema = z
  .strictObject({
    identity: z.number().int().min(0).max(255),
    staff: z.number().int().min(0).max(255),
    /** GB2312, at most 20 bytes (10 Chinese characters). */
    name: z.string().superRefine((s, ctx) => {
      const b = holderNameBytes(s);
      if (typeof b === "string") ctx.addIssue({ code: "custom", message: b });
    }),
    /** Printable ASCII, at most 32 characters. */
    idNumber: z.string().superRefine((s, ctx) => {
      const issue = holderIdNumberIssue(s);
      if (issue) ctx.addIssue({ code: "custom", message: issue });
    }),
    idType: z.number().int().min(0).max(255),
  })
  .partial();

export const cardSpecSchema = z
  .object({
    /** 20 digits (network 4 + serial 16); or give network and serial. */
    cardId: z
      .string()
      .regex(/^[0-9]{20}$/, "expected 20 digits")
      .optional(),
    network: z
      .string()
      .regex(/^[0-9]{4}$/, "expected 4 digits")
      .optional(),
    serial: z
      .string()
      .regex(/^[0-9]{16}$/, "expected 16 digits")
      .optional(),
    /** 16 hex digits; or `province`. */
    issuerId: hexN(16).optional(),
    /** Two Chinese characters (4 bytes GB2312), e.g. "湖南": issuer id = name ‖ network ‖ 0001. */
    province: z.string().optional(),
    /** "stored-value" (0x16), "credit" (0x17), or the 0015 card type byte itself (0..255). */
    type: z
      .union([z.enum(["stored-value", "credit"]), z.number().int().min(0).max(255)])
      .default("stored-value"),
    /**
     * Card version (0015 byte 9): 0x40 and above are 2019 national-network cards (0019 record AA, 43 bytes);
     * older versions have the legacy layouts (src/booth/record-0019.ts).
     */
    version: z.number().int().min(0).max(255).default(0x40),
    balance: z.number().int().min(0).max(0xffffffff),
    /** The EP offline serial the next purchase uses; at FFFF the counter is exhausted (INIT answers 9402). */
    offlineSerial: z.number().int().min(0).max(0xffff).default(0),
    startDate: yyyymmdd.default("20200101"),
    expireDate: yyyymmdd.default("20991231"),
    plate: z.string().default(""),
    userType: z.number().int().min(0).max(255).default(0),
    plateColor: z.number().int().min(0).max(255).default(0),
    vehicleClass: z.number().int().min(0).max(255).default(1),
    /**
     * The 0019 record (fields default to a "not entered" record); or `file0019` in hex: the 43-byte AA
     * image (86 hex digits), or the whole record in the card's layout (src/booth/record-0019.ts: 126 hex
     * digits for legacy63, 120 for guangdong60), as `cardToSpec` writes it.
     */
    record0019: record0019Schema.optional(),
    file0019: z
      .string()
      .regex(/^(?:[0-9a-fA-F]{2})+$/, "expected hex digits")
      .optional(),
    /** The cardholder file 0016 under the MF; default no holder (every byte zero). */
    holder: holderSchema.optional(),
  })
  .strict();

export type CardSpec = z.input<typeof cardSpecSchema>;

function specError(message: string): EtcError {
  return new EtcError(CardErrorCodes.CardSpecInvalid, `card spec: ${message}`);
}

function issuerFromProvince(province: string, network: string): string {
  const name = iconv.encode(province, "gbk");
  if (name.length !== 4) throw specError(`province: "${province}" must be 2 characters (4 bytes GB2312)`);
  return `${name.toString("hex")}${network}0001`;
}

/** Build a card from a plain object; the card's keys are diversified from `keys`. */
export function createCardFromSpec(
  spec: unknown,
  keys: CardKeys,
  opts: Omit<SimCardOptions, "keys"> = {},
): SimCard {
  const r = cardSpecSchema.safeParse(spec);
  if (!r.success) {
    const i = r.error.issues[0];
    throw specError(`${i && i.path.length > 0 ? `${i.path.join(".")}: ` : ""}${i?.message ?? "invalid"}`);
  }
  const s = r.data;
  let network = s.network;
  let serial = s.serial;
  if (s.cardId !== undefined) {
    if (
      (network !== undefined && network !== s.cardId.slice(0, 4)) ||
      (serial !== undefined && serial !== s.cardId.slice(4))
    ) {
      throw specError(`cardId ${s.cardId} disagrees with network/serial`);
    }
    network = s.cardId.slice(0, 4);
    serial = s.cardId.slice(4);
  }
  if (network === undefined || serial === undefined)
    throw specError("cardId, or network and serial, are required");
  if (s.issuerId === undefined && s.province === undefined)
    throw specError("issuerId or province is required");
  if (s.issuerId !== undefined && s.province !== undefined)
    throw specError("give issuerId or province, not both");
  const issuerId = (s.issuerId ?? issuerFromProvince(s.province ?? "", network)).toLowerCase();
  const cardType =
    s.type === "stored-value" ? CARD_TYPE.storedValue : s.type === "credit" ? CARD_TYPE.credit : s.type;

  let file0015: Buffer;
  let file0019: Buffer;
  try {
    file0015 = encode0015({
      issuerId,
      cardType,
      cardVersion: s.version,
      cardNetwork: network,
      cardSerial: serial,
      startDate: s.startDate,
      expireDate: s.expireDate,
      plate: s.plate,
      userType: s.userType,
      plateColor: s.plateColor,
      vehicleClass: s.vehicleClass,
    });
    if (s.file0019 !== undefined && s.record0019 !== undefined)
      throw specError("give record0019 or file0019, not both");
    if (s.file0019 !== undefined) {
      file0019 = Buffer.from(s.file0019, "hex");
      try {
        record0019In(layoutFor(s.version, network), file0019);
      } catch (e) {
        throw specError(`file0019: ${(e as Error).message}`);
      }
    } else {
      const rec: Card0019 = { ...empty0019(s.plate), ...lowerHex(s.record0019 ?? {}) };
      file0019 = encode0019(rec);
      try {
        record0019In(layoutFor(s.version, network), file0019);
      } catch (e) {
        throw specError(`record0019: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    if (e instanceof EtcError && e.code === CardErrorCodes.CardSpecInvalid) throw e;
    throw specError((e as Error).message);
  }
  decode0015(file0015);
  const file0016 = encode0016({ ...NO_HOLDER, ...s.holder });
  return new SimCard(
    { file0015, file0019, file0016, balance: s.balance, offlineSerial: s.offlineSerial },
    { ...opts, keys },
  );
}

function lowerHex<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = { ...o };
  for (const k of ["network", "station", "flagStations", "collectorId", "reserved"]) {
    const v = out[k];
    if (typeof v === "string") out[k] = v.toLowerCase();
  }
  return out as T;
}

/**
 * The spec that rebuilds a card in its current state (balance, serial, 0019 as the whole record in its
 * layout, byte for byte, the 0016 holder); the 0018 records and the proof of the last transaction are not kept.
 */
export function cardToSpec(card: SimCard): CardSpec {
  const snap = card.snapshot();
  const f = snap.file0015;
  return {
    cardId: snap.cardId,
    issuerId: f.issuerId,
    // another card type byte is written as the number: left out, the rebuilt card would be stored-value
    type:
      f.cardType === CARD_TYPE.storedValue
        ? "stored-value"
        : f.cardType === CARD_TYPE.credit
          ? "credit"
          : f.cardType,
    version: f.cardVersion,
    balance: snap.balance,
    offlineSerial: snap.offlineSerial,
    startDate: f.startDate,
    expireDate: f.expireDate,
    plate: f.plate,
    userType: f.userType,
    plateColor: f.plateColor,
    vehicleClass: f.vehicleClass,
    file0019: card.record0019().toString("hex"),
    holder: decode0016(card.record0016()),
  };
}
