/**
 * The APDU list carried by CARD_APDU_LIST / PSAM_APDU_LIST (docs/reader.md §3.3):
 *
 *   COUNT (1) | { LEN (2, BE) | APDU (LEN) } x COUNT
 *
 * The functional reader APIs use a 1-byte item length; ours has two because a short R-APDU can be
 * 258 bytes (256 data bytes and SW1 SW2).
 */

export const MAX_LIST_ITEMS = 255;

export function encodeApduList(items: readonly Uint8Array[]): Buffer {
  if (items.length > MAX_LIST_ITEMS)
    throw new RangeError(`APDU list of ${items.length} items: at most ${MAX_LIST_ITEMS}`);
  let n = 1;
  for (const it of items) {
    if (it.length > 0xffff) throw new RangeError(`APDU list item of ${it.length} bytes`);
    n += 2 + it.length;
  }
  const out = Buffer.allocUnsafe(n);
  out[0] = items.length;
  let o = 1;
  for (const it of items) {
    out.writeUInt16BE(it.length, o);
    out.set(it, o + 2);
    o += 2 + it.length;
  }
  return out;
}

/** Decodes a list; undefined when the lengths do not add up to exactly the data. */
export function decodeApduList(data: Buffer): Buffer[] | undefined {
  if (data.length < 1) return undefined;
  const count = data[0] as number;
  const out: Buffer[] = [];
  let o = 1;
  for (let i = 0; i < count; i++) {
    if (o + 2 > data.length) return undefined;
    const len = data.readUInt16BE(o);
    if (o + 2 + len > data.length) return undefined;
    out.push(Buffer.from(data.subarray(o + 2, o + 2 + len)));
    o += 2 + len;
  }
  return o === data.length ? out : undefined;
}
