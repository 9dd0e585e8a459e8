/**
 * Output helpers shared by the maintenance commands: columns aligned by display width (a Chinese plate
 * character takes two columns) and never cut, CSV cells, and text made safe for a terminal. Card numbers
 * are masked with maskCardIds of src/service/format.ts (shared with the page) unless `--full-ids`. Plates and OBU ids come from the OBU, that is from whoever programmed it:
 * they reach people's terminals and spreadsheets only through terminalSafe and csvCell.
 */

import { escapeRawBytesInJson, showRawBytes } from "../../firmware-bridge/frames/gbk-text.js";

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    cp >= 0x20000
  );
}

export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += isWide(ch.codePointAt(0)!) ? 2 : 1;
  return w;
}

/** Pads to `width` display columns; never cuts (a longer value keeps every character and takes more room). */
export function pad(s: string, width: number, align: "left" | "right" = "left"): string {
  const fill = " ".repeat(Math.max(0, width - displayWidth(s)));
  return align === "left" ? s + fill : fill + s;
}

/** C0 controls, DEL and C1 controls: a terminal acts on them (ESC starts an escape sequence). */
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Control characters shown as `\xNN` (ESC as `\x1b`, a newline as `\x0a`), so a terminal prints them; a
 * plate's byte that was no GBK text (the reserved character U+F700 + byte, firmware-bridge/frames/gbk-text.ts)
 * as that byte, `\xff`.
 */
export function terminalSafe(s: string): string {
  return showRawBytes(s.replace(CONTROL_RE, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

/**
 * One CSV cell. Control characters in text are shown as `\xNN`, as terminalSafe shows them (the CSV
 * goes to terminals as well as to files, and a cell with ESC in it is no use in a spreadsheet either); a
 * text cell then starting with = + - or @, which a spreadsheet would read as a formula, gets a leading
 * single quote ("'=1+2"); numbers are written as they are; any other value as JSON (csvJsonCell).
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return String(v);
  if (typeof v !== "string") return csvJsonCell(v);
  let s = terminalSafe(v);
  if (/^[=+\-@]/.test(s)) s = `'${s}`;
  return csvQuoted(s);
}

/** DEL and C1 controls: JSON.stringify writes them as they are (it escapes only C0). */
const DEL_C1_RE = /[\u007f-\u009f]/g;

/**
 * A value as a CSV cell of JSON (`audit export`'s `data` column): JSON.stringify, then a plate byte that
 * was no GBK text (U+F700 + byte) and DEL and C1 controls written as JSON escapes (`\uf7ff`, `\u007f`),
 * so the cell holds no control character and still parses back to the same value (terminalSafe's `\xff`
 * is no JSON escape).
 */
export function csvJsonCell(v: unknown): string {
  const json = escapeRawBytesInJson(JSON.stringify(v)).replace(
    DEL_C1_RE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return csvQuoted(json);
}

const csvQuoted = (s: string): string => (/[",]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export const yuan = (fen: number | null): string => (fen === null ? "-" : (fen / 100).toFixed(2));
