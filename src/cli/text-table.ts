import { terminalSafe } from "./format.js";

/**
 * Aligned terminal text with Chinese in it: a CJK character takes two columns, so padding counts display
 * columns, not string length (a plate such as 湘A12345 is 8 columns wide, 7 characters long).
 */

/** Columns a string takes in a terminal (East Asian wide and fullwidth characters count two). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    w +=
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x20000 && c <= 0x3fffd)
        ? 2
        : 1;
  }
  return w;
}

export function padDisplay(s: string, width: number, align: "left" | "right" = "left"): string {
  const pad = " ".repeat(Math.max(0, width - displayWidth(s)));
  return align === "left" ? s + pad : pad + s;
}

/**
 * Rows of cells -> aligned lines (two spaces between columns; `right` columns right-aligned). Control
 * characters in a cell are shown escaped (./format.ts terminalSafe).
 */
export function table(cells: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths = columnWidths(cells);
  return cells.map((r) => tableLine(r, widths, right));
}

/**
 * The width of each column of `rows` as table() sizes it (the widest cell, escaped), grown from `widths`:
 * for a table too long to hold in memory, measured in a first pass over its rows and printed row by row
 * with tableLine in a second.
 */
export function columnWidths(rows: Iterable<readonly string[]>, widths: number[] = []): number[] {
  for (const r of rows)
    for (let i = 0; i < r.length; i++)
      widths[i] = Math.max(widths[i] ?? 0, displayWidth(terminalSafe(r[i] as string)));
  return widths;
}

/** One row of a table whose columns are `widths` wide; a wider cell is never cut (it pushes the rest right). */
export function tableLine(
  cells: readonly string[],
  widths: readonly number[],
  right: ReadonlySet<number> = new Set(),
): string {
  return cells
    .map((c, i) => padDisplay(terminalSafe(c), widths[i] ?? 0, right.has(i) ? "right" : "left"))
    .join("  ")
    .trimEnd();
}
