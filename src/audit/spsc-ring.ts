/**
 * A one-writer, one-reader ring of byte entries in shared memory, for handing record entries between the
 * lane thread and the record-line worker (./record-lines.ts) without a system call on the lane thread:
 * the writer copies an entry in and moves the write offset, the reader looks when it runs and moves the
 * read offset. Nobody is woken (docs/audit.md, "Cost": waking a worker costs the lane thread more than
 * building the entry itself).
 *
 * Layout: Int32 control words (write offset, read offset, closed), then the data. An entry is a
 * u32 length and that many bytes, padded to 4; a length of 0xffffffff, or the end of the data, sends the
 * reader back to offset 0. The write offset never catches up with the read offset (equal means empty).
 */

const CTL_WORDS = 3;
const CTL_BYTES = CTL_WORDS * 4;
const W = 0;
const R = 1;
/** set by the writer's owner when the reader should stop (./record-lines.ts close) */
export const RING_CLOSED = 2;
const WRAP = 0xffffffff;

const pad4 = (n: number): number => (n + 3) & ~3;

export class SpscRing {
  readonly sab: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly data: Uint8Array;
  readonly view: DataView;
  /** the data as a Buffer (string writes and reads) */
  readonly buf: Buffer;
  /** the data as 32-bit words (entries start on a multiple of 4: comparing fields in place) */
  readonly words: Int32Array;
  readonly size: number;

  /**
   * A new ring of `size` data bytes (a multiple of 4), or the ring on a buffer another thread made. A new
   * ring's memory is written through once here: the operating system gives a page its memory at its first
   * write, and on the project VM that first write into a page cost about 12 us (up to 41) for most pages,
   * on the lane thread once per 146 records until the jobs ring had wrapped (docs/audit.md, "Cost").
   */
  constructor(sizeOrSab: number | SharedArrayBuffer) {
    this.sab = typeof sizeOrSab === "number" ? new SharedArrayBuffer(CTL_BYTES + pad4(sizeOrSab)) : sizeOrSab;
    if (typeof sizeOrSab === "number") new Uint8Array(this.sab).fill(0);
    this.size = this.sab.byteLength - CTL_BYTES;
    this.ctl = new Int32Array(this.sab, 0, CTL_WORDS);
    this.data = new Uint8Array(this.sab, CTL_BYTES, this.size);
    this.view = new DataView(this.sab, CTL_BYTES, this.size);
    this.buf = Buffer.from(this.sab, CTL_BYTES, this.size);
    this.words = new Int32Array(this.sab, CTL_BYTES, this.size >> 2);
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

  /** Reader: where the next entry is read from (see entryFrom). */
  readOffset(): number {
    return Atomics.load(this.ctl, R);
  }

  /** Reader: the offset of the next entry (its length at offset, its bytes from offset + 4), or -1. */
  next(): number {
    return this.entryFrom(Atomics.load(this.ctl, R));
  }

  /**
   * Reader: the offset of the entry at reading position `from` (the read offset, or endOf an entry read
   * before it and not released yet), or -1 when nothing more is published. Entries read this way stay the
   * reader's until releaseTo(): several can be used in place, then given back at once.
   */
  entryFrom(from: number): number {
    const w = Atomics.load(this.ctl, W);
    if (from === w) return -1;
    if (from >= this.size || this.view.getUint32(from) === WRAP) return w === 0 ? -1 : 0;
    return from;
  }

  /** The reading position after the entry at `at`. */
  endOf(at: number): number {
    return at + pad4(4 + this.view.getUint32(at));
  }

  /** Reader: the entry at `at` (from next) is used; its room goes back to the writer. */
  release(at: number): void {
    Atomics.store(this.ctl, R, this.endOf(at));
  }

  /** Reader: everything before reading position `pos` (an endOf) goes back to the writer. */
  releaseTo(pos: number): void {
    Atomics.store(this.ctl, R, pos);
  }

  /** Bytes the writer has published and the reader has not released. */
  used(): number {
    const w = Atomics.load(this.ctl, W);
    const r = Atomics.load(this.ctl, R);
    return w >= r ? w - r : this.size - r + w;
  }
}
