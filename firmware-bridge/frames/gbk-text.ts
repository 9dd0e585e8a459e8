/**
 * GB2312/GBK text that gives back the bytes it was read from (docs/protocol.md §2, "GB2312 text"). A plate
 * an OBU or card holds is not always GBK text: padded with FF, or with a corrupted byte. Such a byte is
 * decoded to a reserved private-use character, U+F700 + the byte (U+F780..U+F7FF for bytes 80..FF; a byte
 * below 80 is always ASCII text), and that character encodes back to exactly that byte. No GBK character
 * decodes into U+F700..U+F7FF (GBK's user-defined areas map to U+E000..U+E864), so the plate the lane reads
 * from B3/B4 is written into a C6/C3 Station byte for byte. Encoding any other character GBK cannot hold is
 * refused (`encodeGbk` names it), never written as 3F ("?").
 *
 * Shown to people, a reserved character is written as the byte it stands for, `\xff` (`showRawBytes`);
 * JSON output writes it as its escape, `\uf7ff` (`escapeRawBytesInJson`), the same string to a parser.
 */
import iconv from "iconv-lite";

/** The reserved character for byte `b` (80..FF) is RAW_BYTE_BASE + b. */
export const RAW_BYTE_BASE = 0xf700;
const RAW_MIN = RAW_BYTE_BASE + 0x80;
const RAW_MAX = RAW_BYTE_BASE + 0xff;
const RAW_RE = /[\uf780-\uf7ff]/g;
const HAS_RAW = /[\uf780-\uf7ff]/;

const isRaw = (code: number): boolean => code >= RAW_MIN && code <= RAW_MAX;

/** GBK bytes as text: each unit that is a GBK character and encodes back to the same bytes, the rest as reserved characters. */
export function decodeGbk(bytes: Buffer): string {
  const whole = iconv.decode(bytes, "gbk");
  if (!whole.includes("\ufffd") && !HAS_RAW.test(whole) && iconv.encode(whole, "gbk").equals(bytes))
    return whole;
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    // a single byte (80 is the euro sign in GBK) or a lead byte with its trail byte
    const one = unit(bytes, i, 1);
    if (one !== undefined) {
      out += one;
      i++;
      continue;
    }
    const two = unit(bytes, i, 2);
    if (two !== undefined) {
      out += two;
      i += 2;
      continue;
    }
    out += String.fromCharCode(RAW_BYTE_BASE + b);
    i++;
  }
  return out;
}

/** The one character bytes[i, i+n) decode to, when it encodes back to exactly those bytes. */
function unit(bytes: Buffer, i: number, n: number): string | undefined {
  if (i + n > bytes.length) return undefined;
  const u = bytes.subarray(i, i + n);
  const s = iconv.decode(u, "gbk");
  if (s.length !== 1 || s === "\ufffd" || isRaw(s.charCodeAt(0))) return undefined;
  return iconv.encode(s, "gbk").equals(u) ? s : undefined;
}

/**
 * Text as GBK bytes, each reserved character as its byte. A character GBK cannot encode (and that is not
 * reserved) gives `{ bad }`: the character, for the caller's error naming the field.
 */
export function encodeGbk(text: string): Buffer | { bad: string } {
  const parts: Buffer[] = [];
  let run = "";
  const flush = (): string | undefined => {
    if (run === "") return undefined;
    const enc = iconv.encode(run, "gbk");
    if (iconv.decode(enc, "gbk") !== run) {
      const bad = [...run].find((c) => iconv.decode(iconv.encode(c, "gbk"), "gbk") !== c);
      return bad ?? run;
    }
    parts.push(enc);
    run = "";
    return undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isRaw(code)) {
      run += text[i];
      continue;
    }
    const bad = flush();
    if (bad !== undefined) return { bad };
    parts.push(Buffer.of(code - RAW_BYTE_BASE));
  }
  const bad = flush();
  if (bad !== undefined) return { bad };
  return Buffer.concat(parts);
}

/** `U+XXXX` of a character (a surrogate pair as its code point). */
export function codePointName(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/** For people: each reserved character written as the byte it stands for, `\xff`. */
export function showRawBytes(s: string): string {
  return s.replace(RAW_RE, (c) => `\\x${(c.charCodeAt(0) - RAW_BYTE_BASE).toString(16)}`);
}

/** For JSON text: each reserved character written as its escape `\uf7ff` (parsed back to the same string). */
export function escapeRawBytesInJson(json: string): string {
  return json.replace(RAW_RE, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
