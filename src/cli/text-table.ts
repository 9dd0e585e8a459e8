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
  const rows = cells.map((r) => r.map(terminalSafe));
  const widths: number[] = [];
  for (const r of rows)
    for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, displayWidth(r[i] as string));
  return rows.map((r) =>
    r
      .map((c, i) => padDisplay(c, widths[i] ?? 0, right.has(i) ? "right" : "left"))
      .join("  ")
      .trimEnd(),
  );
}
