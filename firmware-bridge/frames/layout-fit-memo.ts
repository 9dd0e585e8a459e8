/**
 * The layout settings that explain a frame's length (./dialect-fit.ts), kept per frame type and DATA length
 * for one dialect. Whether a frame decodes whole, with so many bytes left over or cut short in a field
 * depends only on its type, its length and the dialect when no field's width is read from the frame
 * (`lengthDecidesFit`; no field codec checks content), so after the first frame of a type and length the
 * answer costs a map lookup. Types whose layout has a counted list (variant B B0/B1 PSAM lists) are worked
 * out each time. The map is emptied when it reaches MAX_ENTRIES.
 */
import type { DecodeResult } from "./catalogue.js";
import type { Dialect } from "./dialect.js";
import { type DialectFit, dialectsFitting, dialectsFittingShorter, lengthDecidesFit } from "./dialect-fit.js";

/** Entries kept per kind (longer, shorter); a real RSU sends a handful of type and length pairs. */
const MAX_ENTRIES = 256;

export class LayoutFitMemo {
  private readonly longerFits = new Map<number, readonly DialectFit[]>();
  private readonly shorterFits = new Map<number, readonly DialectFit[]>();
  private readonly byLength = new Map<number, boolean>();

  constructor(readonly dialect: Dialect) {}

  /** `dialectsFitting` for DATA (type byte first); `r` its decode under this dialect, if already done. */
  longer(data: Buffer, r?: DecodeResult): readonly DialectFit[] {
    return this.memo(this.longerFits, data, () => dialectsFitting(data, this.dialect, r));
  }

  /** `dialectsFittingShorter` for DATA (type byte first); `r` its decode under this dialect, if already done. */
  shorter(data: Buffer, r?: DecodeResult): readonly DialectFit[] {
    return this.memo(this.shorterFits, data, () => dialectsFittingShorter(data, this.dialect, r));
  }

  private memo(
    cache: Map<number, readonly DialectFit[]>,
    data: Buffer,
    work: () => readonly DialectFit[],
  ): readonly DialectFit[] {
    if (data.length === 0) return [];
    const code = data[0] as number;
    let decides = this.byLength.get(code);
    if (decides === undefined) {
      decides = lengthDecidesFit(code, this.dialect);
      this.byLength.set(code, decides);
    }
    if (!decides) return work();
    const key = code * 2 ** 32 + data.length;
    let fits = cache.get(key);
    if (fits === undefined) {
      fits = work();
      // a line sending ever new lengths does not grow the map without bound
      if (cache.size >= MAX_ENTRIES) cache.clear();
      cache.set(key, fits);
    }
    return fits;
  }
}
