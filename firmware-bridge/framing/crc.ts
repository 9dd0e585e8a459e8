/**
 * Checksums used on the RSU link.
 *
 * - Variant A (legacy): BCC = XOR of every byte from RSCTL to the end of DATA, before escaping.
 * - Variant B (national): CRC-16/X-25 (poly 0x1021 reflected = 0x8408, init 0xFFFF, refin/refout,
 *   xorout 0xFFFF) over VER..DATA, sent high byte first. The CRC of each of the six public national
 *   sample frames verifies with it (docs/protocol.md §7, test/cli/decode.test.ts); check value for
 *   "123456789" is 0x906E.
 */

export function bcc(buf: Uint8Array, start = 0, end = buf.length): number {
  let x = 0;
  for (let i = start; i < end; i++) x ^= buf[i] as number;
  return x;
}

const X25_TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x8408 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** A 16-bit CRC as logs and `etc-lane decode` print it: 4 hex digits. */
export const crcHex = (crc: number): string => crc.toString(16).padStart(4, "0");

export function crc16x25(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc = (crc >>> 8) ^ (X25_TABLE[(crc ^ (buf[i] as number)) & 0xff] as number);
  }
  return (crc ^ 0xffff) & 0xffff;
}
