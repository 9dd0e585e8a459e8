/**
 * ISO 7816-4 short APDUs for the simulated card and PSAM: parsing the four command cases, building
 * responses (data ‖ SW1 SW2), and the status words the PBOC e-purse uses.
 */
import { commandApdu } from "../../firmware-bridge/reader/apdu.js";

export const SW = {
  ok: 0x9000,
  wrongLength: 0x6700,
  noCurrentEf: 0x6986,
  conditionsNotSatisfied: 0x6985,
  invalidState: 0x6901, // command not accepted (no transaction in progress)
  wrongData: 0x6a80,
  fileNotFound: 0x6a82,
  recordNotFound: 0x6a83,
  wrongP1P2: 0x6a86,
  keyNotFound: 0x6a88,
  wrongOffset: 0x6b00,
  insNotSupported: 0x6d00,
  claNotSupported: 0x6e00,
  macInvalid: 0x9302,
  insufficientBalance: 0x9401,
  /** The transaction counter (the card's offline serial, or a PSAM's terminal serial) is at its maximum. */
  counterExhausted: 0x9402,
  keyIndexNotSupported: 0x9403,
  macTacUnavailable: 0x9406,
} as const;

/** 6Cxx: wrong Le, xx = the length that is available. */
export function swWrongLe(available: number): number {
  return 0x6c00 | (available & 0xff);
}

export interface Command {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data (empty for cases 1 and 2). */
  data: Buffer;
  /** Expected length; undefined when absent; 256 for a Le byte of 00. */
  le: number | undefined;
}

/** Parse a short APDU (cases 1-4). Returns undefined when the length bytes do not add up. */
export function parseCommand(b: Buffer): Command | undefined {
  if (b.length < 4) return undefined;
  const [cla, ins, p1, p2] = [b[0] ?? 0, b[1] ?? 0, b[2] ?? 0, b[3] ?? 0];
  if (b.length === 4) return { cla, ins, p1, p2, data: Buffer.alloc(0), le: undefined };
  const l = b[4] ?? 0;
  if (b.length === 5) return { cla, ins, p1, p2, data: Buffer.alloc(0), le: l === 0 ? 256 : l };
  if (l === 0) return undefined; // extended APDUs are not used by these cards
  if (b.length === 5 + l) return { cla, ins, p1, p2, data: Buffer.from(b.subarray(5)), le: undefined };
  if (b.length === 6 + l) {
    const le = b[5 + l] ?? 0;
    return { cla, ins, p1, p2, data: Buffer.from(b.subarray(5, 5 + l)), le: le === 0 ? 256 : le };
  }
  return undefined;
}

export function respond(sw: number, data?: Buffer): Buffer {
  const tail = Buffer.from([(sw >> 8) & 0xff, sw & 0xff]);
  return data && data.length > 0 ? Buffer.concat([data, tail]) : tail;
}

/** Split a response into its data and status word. */
export function splitResponse(r: Buffer): { data: Buffer; sw: number } {
  if (r.length < 2) return { data: Buffer.alloc(0), sw: 0 };
  return { data: r.subarray(0, r.length - 2), sw: r.readUInt16BE(r.length - 2) };
}

export function swHex(sw: number): string {
  return sw.toString(16).padStart(4, "0");
}

/** Build a command APDU (the encoder the lane's booth uses too: firmware-bridge/reader/apdu.ts). */
export const buildCommand = commandApdu;
