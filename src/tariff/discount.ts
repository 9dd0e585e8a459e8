/** The ETC discount on a fee: integer arithmetic, rounded half up to whole fen. */

/** fen x (100 - percent) / 100, rounded half up, in integers only. */
export function applyDiscount(feeFen: number, discountPercent: number): number {
  if (!Number.isSafeInteger(feeFen) || feeFen < 0)
    throw new RangeError(`fee must be whole fen >= 0, got ${feeFen}`);
  if (!Number.isInteger(discountPercent) || discountPercent < 0 || discountPercent > 100) {
    throw new RangeError(`discount must be a whole percent 0..100, got ${discountPercent}`);
  }
  const scaled = feeFen * (100 - discountPercent); // <= 1e8 * 100: exact in a double
  return Math.floor((scaled + 50) / 100);
}
