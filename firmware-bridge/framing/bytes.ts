/** Small byte helpers shared by the codecs. Hex is always lowercase. */

export function toHex(buf: Uint8Array, start = 0, end = buf.length): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("hex");
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Parses hex, tolerating spaces, colons and a 0x prefix per token; throws RangeError on anything else. */
export function fromHex(text: string): Buffer {
  const clean = text.replace(/0x/gi, "").replace(/[\s:,-]/g, "");
  if (!HEX_RE.test(clean)) {
    throw new RangeError(`not a hex byte string: "${text.length > 40 ? `${text.slice(0, 40)}...` : text}"`);
  }
  return Buffer.from(clean, "hex");
}

export function isHexOfLength(s: string, bytes: number): boolean {
  return s.length === bytes * 2 && /^[0-9a-f]*$/.test(s);
}
