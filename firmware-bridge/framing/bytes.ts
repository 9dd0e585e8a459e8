/** Small byte helpers shared by the codecs. Hex is always lowercase. */

export function toHex(buf: Uint8Array, start = 0, end = buf.length): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("hex");
}

/** A byte as two hex digits: 0x4c -> "4c" (a frame type, an RSCTL/SEQ, a status byte in a message). */
export function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * The hex digits of `text`, without spaces, colons, commas, dashes and 0x prefixes; throws RangeError
 * on anything else. The count of digits may be odd (a hex stream wrapped anywhere).
 */
export function hexDigits(text: string): string {
  const clean = text.replace(/0x/gi, "").replace(/[\s:,-]/g, "");
  if (!/^[0-9a-fA-F]*$/.test(clean)) {
    throw new RangeError(`not a hex byte string: "${text.length > 40 ? `${text.slice(0, 40)}...` : text}"`);
  }
  return clean;
}

/** Parses hex, tolerating spaces, colons and a 0x prefix per token; throws RangeError on anything else. */
export function fromHex(text: string): Buffer {
  const clean = hexDigits(text);
  if (!HEX_RE.test(clean)) {
    throw new RangeError(`not a hex byte string: "${text.length > 40 ? `${text.slice(0, 40)}...` : text}"`);
  }
  return Buffer.from(clean, "hex");
}

export function isHexOfLength(s: string, bytes: number): boolean {
  return s.length === bytes * 2 && /^[0-9a-f]*$/.test(s);
}
