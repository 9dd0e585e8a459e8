/**
 * Every reader command and its reply, declared once (docs/reader.md §3): opcode, what P carries, the
 * request and reply DATA codecs, and which timeout applies. The host driver encodes requests and decodes
 * replies with these; the simulated reader (sim/reader) decodes requests and encodes replies with the
 * same declarations, so both sides agree to the byte. Decoders never throw: undefined means malformed.
 */
import { decodeApduList, encodeApduList } from "./apdu-list.js";

export interface DataCodec<T> {
  encode(value: T): Buffer;
  decode(data: Buffer): T | undefined;
}

/** Which timeout of ReaderTimeouts applies; list commands multiply it by the item count. */
export type TimeoutName = "infoMs" | "signalMs" | "activateMs" | "cardApduMs" | "psamResetMs" | "psamApduMs";

export interface ReaderCommandDef<Req, Rep> {
  readonly name: string;
  readonly code: number;
  readonly title: string;
  /** P of the command: a PSAM slot (1..n), or 0. */
  readonly p: "slot" | "zero";
  readonly request: DataCodec<Req>;
  readonly reply: DataCodec<Rep>;
  readonly timeout: TimeoutName;
  /** The timeout is per APDU of the list. */
  readonly perItem?: boolean;
}

function defineCommand<Req, Rep>(def: ReaderCommandDef<Req, Rep>): ReaderCommandDef<Req, Rep> {
  return def;
}

// ---- DATA codecs -------------------------------------------------------------------------------

/** No DATA: decodes to null; any DATA is malformed. */
const none: DataCodec<null> = {
  encode: () => Buffer.alloc(0),
  decode: (d) => (d.length === 0 ? null : undefined),
};

/** Raw bytes (an APDU, an R-APDU, an ATR); at least `min` of them. */
function bytes(min: number): DataCodec<Buffer> {
  return {
    encode: (b) => Buffer.from(b),
    decode: (d) => (d.length >= min ? Buffer.from(d) : undefined),
  };
}

const apduList: DataCodec<Buffer[]> = {
  encode: (items) => encodeApduList(items),
  decode: (d) => decodeApduList(d),
};

export interface ReaderInfo {
  /** Version of this framing the reader speaks (1). */
  protocolVersion: number;
  /** PSAM slots, numbered 1..psamSlots. */
  psamSlots: number;
  /** Largest frame the reader accepts and sends, STX..ETX. */
  maxFrameLength: number;
  vendor: string;
  model: string;
  firmware: string;
  serial: string;
}

function putText(parts: Buffer[], s: string): void {
  const b = Buffer.from(s, "utf8");
  if (b.length > 255) throw new RangeError(`reader info text longer than 255 bytes: ${s.slice(0, 20)}...`);
  parts.push(Buffer.from([b.length]), b);
}

const info: DataCodec<ReaderInfo> = {
  encode(v) {
    const head = Buffer.alloc(4);
    head[0] = v.protocolVersion;
    head[1] = v.psamSlots;
    head.writeUInt16BE(v.maxFrameLength, 2);
    const parts = [head];
    for (const s of [v.vendor, v.model, v.firmware, v.serial]) putText(parts, s);
    return Buffer.concat(parts);
  },
  decode(d) {
    if (d.length < 8) return undefined;
    const texts: string[] = [];
    let o = 4;
    for (let i = 0; i < 4; i++) {
      const n = d[o];
      if (n === undefined || o + 1 + n > d.length) return undefined;
      texts.push(d.toString("utf8", o + 1, o + 1 + n));
      o += 1 + n;
    }
    if (o !== d.length) return undefined;
    const [vendor, model, firmware, serial] = texts as [string, string, string, string];
    return {
      protocolVersion: d[0] as number,
      psamSlots: d[1] as number,
      maxFrameLength: d.readUInt16BE(2),
      vendor,
      model,
      firmware,
      serial,
    };
  },
};

export type Led = "off" | "green" | "red";
export interface SignalRequest {
  /** Beep length in ms (0: no beep). */
  beepMs: number;
  /** undefined: leave the LED as it is. */
  led?: Led;
}
const LED_CODES: Record<Led, number> = { off: 0, green: 1, red: 2 };
const LED_KEEP = 0xff;

const signal: DataCodec<SignalRequest> = {
  encode(v) {
    const out = Buffer.alloc(3);
    out.writeUInt16BE(v.beepMs, 0);
    out[2] = v.led === undefined ? LED_KEEP : LED_CODES[v.led];
    return out;
  },
  decode(d) {
    if (d.length !== 3) return undefined;
    const code = d[2] as number;
    const led = (Object.keys(LED_CODES) as Led[]).find((k) => LED_CODES[k] === code);
    if (led === undefined && code !== LED_KEEP) return undefined;
    return { beepMs: d.readUInt16BE(0), ...(led ? { led } : {}) };
  },
};

/** What CARD_ACTIVATE found. */
export type CardKind = "cpu-contactless" | "cpu-contact" | "m1" | "other";
const CARD_KIND_CODES: Record<CardKind, number> = {
  "cpu-contactless": 1,
  "cpu-contact": 2,
  m1: 3,
  other: 0xff,
};

export interface CardActivation {
  cardType: CardKind;
  /** UID (contactless) or an empty buffer (contact). */
  uid: Buffer;
  /** ATS (contactless ISO 14443-4) or ATR (contact). */
  ats: Buffer;
}

const activation: DataCodec<CardActivation> = {
  encode(v) {
    if (v.uid.length > 255 || v.ats.length > 255) throw new RangeError("UID and ATS are at most 255 bytes");
    return Buffer.concat([
      Buffer.from([CARD_KIND_CODES[v.cardType], v.uid.length]),
      v.uid,
      Buffer.from([v.ats.length]),
      v.ats,
    ]);
  },
  decode(d) {
    if (d.length < 3) return undefined;
    const code = d[0] as number;
    const cardType =
      (Object.keys(CARD_KIND_CODES) as CardKind[]).find((k) => CARD_KIND_CODES[k] === code) ?? "other";
    const uidLen = d[1] as number;
    const atsAt = 2 + uidLen;
    if (atsAt >= d.length) return undefined;
    const atsLen = d[atsAt] as number;
    if (atsAt + 1 + atsLen !== d.length) return undefined;
    return {
      cardType,
      uid: Buffer.from(d.subarray(2, atsAt)),
      ats: Buffer.from(d.subarray(atsAt + 1)),
    };
  },
};

/** PSAM reset: which protocol the reader should use. */
export type PsamProtocol = "auto" | "t0" | "t1";
const PROTOCOL_CODES: Record<PsamProtocol, number> = { auto: 0, t0: 1, t1: 2 };
const psamReset: DataCodec<PsamProtocol> = {
  encode: (v) => Buffer.from([PROTOCOL_CODES[v]]),
  decode: (d) =>
    d.length === 1
      ? (Object.keys(PROTOCOL_CODES) as PsamProtocol[]).find((k) => PROTOCOL_CODES[k] === d[0])
      : undefined,
};

// ---- commands ----------------------------------------------------------------------------------

export const INFO = defineCommand({
  name: "INFO",
  code: 0x01,
  title: "reader info (also the keep-alive probe)",
  p: "zero",
  request: none,
  reply: info,
  timeout: "infoMs",
});

export const SIGNAL = defineCommand({
  name: "SIGNAL",
  code: 0x02,
  title: "beep and LED",
  p: "zero",
  request: signal,
  reply: none,
  timeout: "signalMs",
});

export const CARD_ACTIVATE = defineCommand({
  name: "CARD_ACTIVATE",
  code: 0x10,
  title: "power the field, select and activate the card (UID, type, ATS)",
  p: "zero",
  request: none,
  reply: activation,
  timeout: "activateMs",
});

export const CARD_HALT = defineCommand({
  name: "CARD_HALT",
  code: 0x11,
  title: "deactivate the card (field reset)",
  p: "zero",
  request: none,
  reply: none,
  timeout: "activateMs",
});

export const CARD_APDU = defineCommand({
  name: "CARD_APDU",
  code: 0x12,
  title: "one APDU to the card",
  p: "zero",
  request: bytes(4),
  reply: bytes(2),
  timeout: "cardApduMs",
});

export const CARD_APDU_LIST = defineCommand({
  name: "CARD_APDU_LIST",
  code: 0x13,
  title: "APDUs to the card in order, stopping after the first whose SW is not 9000",
  p: "zero",
  request: apduList,
  reply: apduList,
  timeout: "cardApduMs",
  perItem: true,
});

export const PSAM_RESET = defineCommand({
  name: "PSAM_RESET",
  code: 0x20,
  title: "cold-reset the PSAM in slot P (ATR)",
  p: "slot",
  request: psamReset,
  reply: bytes(2),
  timeout: "psamResetMs",
});

export const PSAM_APDU = defineCommand({
  name: "PSAM_APDU",
  code: 0x21,
  title: "one APDU to the PSAM in slot P",
  p: "slot",
  request: bytes(4),
  reply: bytes(2),
  timeout: "psamApduMs",
});

export const PSAM_APDU_LIST = defineCommand({
  name: "PSAM_APDU_LIST",
  code: 0x22,
  title: "APDUs to the PSAM in slot P, stopping after the first whose SW is not 9000",
  p: "slot",
  request: apduList,
  reply: apduList,
  timeout: "psamApduMs",
  perItem: true,
});

// biome-ignore lint/suspicious/noExplicitAny: the registry holds every command whatever its types
export type AnyReaderCommand = ReaderCommandDef<any, any>;

export const READER_COMMANDS: readonly AnyReaderCommand[] = [
  INFO,
  SIGNAL,
  CARD_ACTIVATE,
  CARD_HALT,
  CARD_APDU,
  CARD_APDU_LIST,
  PSAM_RESET,
  PSAM_APDU,
  PSAM_APDU_LIST,
];

export const COMMANDS_BY_CODE: ReadonlyMap<number, AnyReaderCommand> = (() => {
  const m = new Map<number, AnyReaderCommand>();
  for (const c of READER_COMMANDS) {
    if (m.has(c.code)) throw new Error(`duplicate reader command code ${c.code}`);
    m.set(c.code, c);
  }
  return m;
})();

// ---- unsolicited reader frames -----------------------------------------------------------------

/** CARD_EVENT: SEQ 0, P 1 = a card arrived, 0 = the card left; no DATA. */
export const CARD_EVENT = { name: "CARD_EVENT", code: 0x80, inserted: 0x01, removed: 0x00 } as const;

/**
 * WAIT ("still working"): SEQ of the command in progress, P 0, DATA = 2 bytes BE, the milliseconds the
 * reader expects still to need (0: unknown). The host extends that command's deadline.
 */
export const WAIT = {
  name: "WAIT",
  code: 0x81,
  encode(ms: number): Buffer {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.round(ms))));
    return b;
  },
  decode(d: Buffer): number | undefined {
    return d.length === 2 ? d.readUInt16BE(0) : undefined;
  },
} as const;
