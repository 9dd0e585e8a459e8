/**
 * ISO 7816-4 APDUs as bytes: the command the lane's booth sends through a reader and the answer it
 * gets back (a card's or a PSAM's), and what the simulated card and PSAM parse. One encoder for both sides.
 */

/** A command APDU: header (4 bytes hex), then Lc + data when there is data, then Le when given. */
export function commandApdu(header: string, data?: Buffer, le?: number): Buffer {
  const h = Buffer.from(header, "hex");
  if (h.length !== 4) throw new Error(`APDU header must be 4 bytes: ${header}`);
  const parts: Buffer[] = [h];
  if (data && data.length > 0) parts.push(Buffer.from([data.length]), data);
  if (le !== undefined) parts.push(Buffer.from([le & 0xff]));
  return Buffer.concat(parts);
}

/** The status word of an R-APDU as 4 hex digits ("9000"); "" for an answer shorter than 2 bytes. */
export function swOf(r: Buffer): string {
  return r.length < 2 ? "" : r.subarray(r.length - 2).toString("hex");
}

/** The data of an R-APDU (without SW1 SW2). */
export function dataOf(r: Buffer): Buffer {
  return r.subarray(0, Math.max(0, r.length - 2));
}
