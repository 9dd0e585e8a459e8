/**
 * A one-writer, one-reader ring of byte entries in shared memory, for handing record entries between the
 * lane thread and the record-line worker (./record-lines.ts) without a system call on the lane thread:
 * the writer copies an entry in and moves the write offset, the reader looks when it runs and moves the
 * read offset. Nobody is woken (docs/audit.md, "Cost": waking a worker costs the lane thread more than
 * building the entry itself).
 *
 * Layout: Int32 control words (write offset, read offset, closed, skipped), then the data. An entry is a
 * u32 length and that many bytes, padded to 4; a length of 0xffffffff, or the end of the data, sends the
 * reader back to offset 0. The write offset never catches up with the read offset (equal means empty).
 */

const CTL_WORDS = 4;
const CTL_BYTES = CTL_WORDS * 4;
const W = 0;
const R = 1;
/** set by the writer's owner when the reader should stop (./record-lines.ts close) */
export const RING_CLOSED = 2;
/** entries the reader could not use (counted by the worker) */
export const RING_SKIPPED = 3;
const WRAP = 0xffffffff;

const pad4 = (n: number): number => (n + 3) & ~3;

export class SpscRing {
  readonly sab: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly data: Uint8Array;
  readonly view: DataView;
  /** the data as a Buffer (string writes and reads) */
  readonly buf: Buffer;
  readonly size: number;

  /** A new ring of `size` data bytes (a multiple of 4), or the ring on a buffer another thread made. */
  constructor(sizeOrSab: number | SharedArrayBuffer) {
    this.sab = typeof sizeOrSab === "number" ? new SharedArrayBuffer(CTL_BYTES + pad4(sizeOrSab)) : sizeOrSab;
    this.size = this.sab.byteLength - CTL_BYTES;
    this.ctl = new Int32Array(this.sab, 0, CTL_WORDS);
    this.data = new Uint8Array(this.sab, CTL_BYTES, this.size);
    this.view = new DataView(this.sab, CTL_BYTES, this.size);
    this.buf = Buffer.from(this.sab, CTL_BYTES, this.size);
  }

  /**
   * Writer: the offset of an entry of at most `max` bytes (its bytes go from offset + 4), or -1 when the
   * ring has no room for it. Nothing is visible to the reader until publish().
   */
  claim(max: number): number {
    const need = pad4(4 + max);
    const at = Atomics.load(this.ctl, W);
    const r = Atomics.load(this.ctl, R);
    if (at >= r) {
      if (this.size - at >= need) return at;
      // wrap: the entry goes to 0, and must end before the reader's offset
      if (r <= need) return -1;
      if (at < this.size) this.view.setUint32(at, WRAP);
      return 0;
    }
    return r - at > need ? at : -1;
  }

  /** Writer: makes the entry of `len` bytes at `at` (from claim) visible to the reader. */
  publish(at: number, len: number): void {
    this.view.setUint32(at, len);
    Atomics.store(this.ctl, W, at + pad4(4 + len));
  }

  /** Reader: the offset of the next entry (its length at offset, its bytes from offset + 4), or -1. */
  next(): number {
    let r = Atomics.load(this.ctl, R);
    const w = Atomics.load(this.ctl, W);
    if (r === w) return -1;
    if (r >= this.size || this.view.getUint32(r) === WRAP) {
      r = 0;
      Atomics.store(this.ctl, R, 0);
      if (r === w) return -1;
    }
    return r;
  }

  /** Reader: the entry at `at` (from next) is used; its room goes back to the writer. */
  release(at: number): void {
    Atomics.store(this.ctl, R, at + pad4(4 + this.view.getUint32(at)));
  }

  /** Bytes the writer has published and the reader has not released. */
  used(): number {
    const w = Atomics.load(this.ctl, W);
    const r = Atomics.load(this.ctl, R);
    return w >= r ? w - r : this.size - r + w;
  }
}
