/**
 * The reader deframer (docs/reader.md §2.2). It owns its buffer and never throws. A candidate starts at
 * an STX; once its 6-byte header is in, LEN says how long it is, and it is checked against the cap at
 * once. Once all 6 + LEN bytes are buffered it is checked in place, ETX first (one byte), then the CRC;
 * only a frame that passes is copied out, as one block cut with `@serialport/parser-byte-length`. A chunk
 * is never a frame: bytes are only ever frames once STX, LEN, CRC and ETX all check out.
 *
 * A candidate that fails (LEN below 3 or over the cap, CRC wrong, ETX missing, or silence for longer
 * than the inter-byte timeout before it is complete) costs only its STX byte: everything after that
 * byte is scanned again, so a false STX inside noise or payload never hides the real frame behind it.
 * Every discarded byte is reported in a `discarded` event with its reason and counted. An oversize
 * candidate is blamed for the span its LEN announces, as its bytes arrive (in later `push()` calls too):
 * every candidate starting in it that fails is part of it, even one reaching past its end, except one
 * whose LEN and ETX check out and only its CRC fails (judged on its own, with its header). The span ends
 * early at the first good frame found in it (a corrupted LEN costs no frame), and at the inter-byte
 * timeout (`tick()`, even with nothing held: a frame's bytes never pause that long).
 *
 * The inter-byte timeout is applied only by `tick()`, which the owner calls from its timer
 * (firmware-bridge/framing/half-frame-timer.ts). `push()` appends and scans and never expires: bytes that
 * reach JavaScript late because the event loop was busy still complete the frame they belong to, and a
 * stale candidate they do not complete fails on its own ETX or CRC.
 */
import { ByteLengthParser } from "@serialport/parser-byte-length";
import { crc16x25 } from "../framing/crc.js";
import { ETX, HEADER_LENGTH, MIN_LEN, type ReaderWireFrame, STX } from "./frame.js";

export type ReaderDiscardReason =
  /** bytes outside any frame candidate */
  | "noise"
  /** a candidate whose CRC did not match */
  | "checksum"
  /** a candidate whose LEN exceeds the maximum frame length */
  | "oversize"
  /** a candidate with LEN below 3 or no ETX where LEN puts it */
  | "malformed"
  /** a half frame followed by silence longer than the inter-byte timeout */
  | "truncated";

/**
 * Bytes of a failed candidate still to be rescanned (counted from buf[0]) and why it failed, for their
 * discard reason; `outer`: the failed candidate a nested frame that failed only its CRC sits in, whose
 * reason its bytes after that frame keep.
 */
interface Blame {
  reason: ReaderDiscardReason;
  bytes: number;
  outer?: Blame;
}

export type ReaderDeframerEvent =
  | { readonly kind: "frame"; readonly frame: ReaderWireFrame }
  | {
      readonly kind: "discarded";
      readonly reason: ReaderDiscardReason;
      readonly bytes: Buffer;
      /**
       * A candidate that failed its CRC: its 6 header bytes as received (SEQ at 3, CMD at 4), so a reader
       * can answer BAD_CHECKSUM echoing them.
       */
      readonly header?: Buffer;
      /** A candidate that failed its CRC: the CRC its bytes carry and the one they give. */
      readonly crc?: { readonly frame: number; readonly computed: number };
    };

export interface ReaderDeframerCounters {
  frames: number;
  /** Every byte not part of a good frame, whatever the reason. */
  discardedBytes: number;
  /** Noise bytes (no candidate) among them. */
  noiseBytes: number;
  /** Candidates dropped, by reason. */
  checksumErrors: number;
  oversize: number;
  malformed: number;
  truncated: number;
}

export interface ReaderDeframerOptions {
  /**
   * Largest frame accepted, STX..ETX. Default 1024. The driver's options allow
   * MIN_READER_FRAME_LENGTH (512)..65544 (options.ts; the largest frame LEN can describe is 65541);
   * the deframer takes the value it is given.
   */
  maxFrameLength?: number;
  /** A half frame is dropped after this much silence (ms). Default 50. */
  interByteTimeoutMs?: number;
}

export const DEFAULT_READER_MAX_FRAME = 1024;
export const DEFAULT_READER_INTER_BYTE_MS = 50;

export class ReaderDeframer {
  private readonly maxFrameLength: number;
  /** The silence (ms) after which `tick()` drops a half frame. */
  readonly interByteTimeoutMs: number;
  /** Unconsumed bytes; after a scan, an open candidate starts at buf[0] (an STX) whenever it is not empty. */
  private buf: Buffer = Buffer.alloc(0);
  private lastByteAt = Number.NEGATIVE_INFINITY;
  /** Bytes of a failed candidate still to be rescanned, and why it failed (for their discard reason). */
  private blame: Blame | undefined;
  /** The discarded run the call in progress is still extending: its event's index and its parts. */
  private run: { index: number; parts: Buffer[] } | undefined;
  private readonly c: ReaderDeframerCounters = {
    frames: 0,
    discardedBytes: 0,
    noiseBytes: 0,
    checksumErrors: 0,
    oversize: 0,
    malformed: 0,
    truncated: 0,
  };

  constructor(opts: ReaderDeframerOptions = {}) {
    this.maxFrameLength = opts.maxFrameLength ?? DEFAULT_READER_MAX_FRAME;
    this.interByteTimeoutMs = opts.interByteTimeoutMs ?? DEFAULT_READER_INTER_BYTE_MS;
  }

  get counters(): Readonly<ReaderDeframerCounters> {
    return this.c;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.buf.length;
  }

  /**
   * Feed bytes as they arrive; `now` is a monotonic ms clock. Never throws, and never expires a half
   * frame, however long ago its bytes came: that is `tick()`'s, from the owner's timer.
   */
  push(chunk: Uint8Array, now: number): ReaderDeframerEvent[] {
    const events: ReaderDeframerEvent[] = [];
    try {
      if (chunk.length === 0) return events;
      this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
      this.lastByteAt = now;
      this.scan(events, false);
    } catch {
      // Written not to throw; if it ever does, drop the buffer rather than the process.
      this.drop(events, this.buf.length, "malformed");
    }
    return this.seal(events);
  }

  /**
   * Expire a stalled half frame without new data (the owner calls this from its timer), and end an
   * oversize span still open, even with nothing held: a frame's bytes never pause for the inter-byte
   * timeout, so what comes after the silence is judged on its own.
   */
  tick(now: number): ReaderDeframerEvent[] {
    const events: ReaderDeframerEvent[] = [];
    if (now - this.lastByteAt <= this.interByteTimeoutMs) return this.seal(events);
    if (this.buf.length > 0) this.scan(events, true);
    this.blame = undefined;
    return this.seal(events);
  }

  /**
   * Milliseconds until a half frame would expire or an oversize span would end, or undefined when
   * neither is pending.
   */
  msUntilExpiry(now: number): number | undefined {
    if (this.buf.length === 0 && this.blame === undefined) return undefined;
    return Math.max(0, this.lastByteAt + this.interByteTimeoutMs - now + 1);
  }

  /**
   * Drop everything held (after a reconnect the old bytes mean nothing), as one run under the reason
   * `tick()` gives the open candidate: that of the failed candidate or oversize span it sits in (not
   * counted again), else `truncated` (counted). An open span ends.
   */
  reset(): ReaderDeframerEvent[] {
    const events: ReaderDeframerEvent[] = [];
    if (this.buf.length > 0) {
      // After a scan, anything held is an open candidate.
      const within = this.nestedIn(this.buf.length, "truncated");
      if (within === undefined) this.c.truncated++;
      this.drop(events, this.buf.length, within ?? "truncated");
    }
    this.blame = undefined;
    return this.seal(events);
  }

  /**
   * Consume `buf` as far as it goes. With `flush` (silence past the inter-byte timeout) an incomplete
   * candidate fails as truncated and its bytes after STX are rescanned, until nothing is left open.
   */
  private scan(events: ReaderDeframerEvent[], flush: boolean): void {
    for (;;) {
      if (this.buf.length === 0) return;
      const i = this.buf.indexOf(STX);
      if (i < 0) {
        this.drop(events, this.buf.length, "noise");
        return;
      }
      if (i > 0) this.drop(events, i, "noise");
      // A candidate at buf[0].
      if (this.buf.length < HEADER_LENGTH) {
        if (!flush) return;
        this.fail(events, "truncated", this.buf.length);
        continue;
      }
      const len = this.buf.readUInt16BE(1);
      if (len < MIN_LEN) {
        this.fail(events, "malformed", HEADER_LENGTH);
        continue;
      }
      const total = HEADER_LENGTH + len;
      if (total > this.maxFrameLength) {
        // Judged by its header as a nested candidate; if it counts on its own, its announced span is blamed.
        this.fail(events, "oversize", HEADER_LENGTH, undefined, total);
        continue;
      }
      if (this.buf.length < total) {
        if (!flush) return;
        this.fail(events, "truncated", this.buf.length);
        continue;
      }
      // All of it is here: DATA (len - 3), CRC (2), ETX (1). Checked in place, ETX first.
      if (this.buf[total - 1] !== ETX) {
        this.fail(events, "malformed", total);
        continue;
      }
      const crcAt = total - 3;
      const crc = { frame: this.buf.readUInt16BE(crcAt), computed: crc16x25(this.buf, 1, crcAt) };
      if (crc.frame !== crc.computed) {
        this.fail(events, "checksum", total, crc);
        continue;
      }
      const raw = cut(this.buf, total);
      // A good frame inside an oversize span ends it: the LEN that announced the span was wrong.
      if (inOversize(this.blame)) this.blame = undefined;
      this.c.frames++;
      events.push({
        kind: "frame",
        frame: {
          seq: raw[3] as number,
          cmd: raw[4] as number,
          p: raw[5] as number,
          data: raw.subarray(HEADER_LENGTH, crcAt),
          raw,
        },
      });
      this.consume(total);
    }
  }

  /**
   * The candidate at buf[0] failed after `candidate` of its bytes were looked at: drop its STX only and
   * rescan what followed it. `span` (oversize): the bytes its LEN announces, blamed as they arrive if it
   * is judged on its own.
   */
  private fail(
    events: ReaderDeframerEvent[],
    reason: ReaderDiscardReason,
    candidate: number,
    crc?: { frame: number; computed: number },
    span = candidate,
  ): void {
    const within = this.nestedIn(candidate, reason);
    if (within !== undefined) {
      this.drop(events, 1, within);
      return;
    }
    // a frame nested in a failed candidate: once past it, the rest of that candidate keeps its reason; a
    // frame failing only its CRC inside an oversize span keeps the span after it, even reaching past it
    const outer = this.enclosing(candidate) ?? oversizeSpan(this.blame);
    if (reason === "checksum") this.c.checksumErrors++;
    else if (reason === "oversize") this.c.oversize++;
    else if (reason === "malformed") this.c.malformed++;
    else if (reason === "truncated") this.c.truncated++;
    if (reason === "checksum") {
      // Reported on its own (not merged), with the header, before the rest is rescanned.
      this.c.discardedBytes++;
      events.push({
        kind: "discarded",
        reason,
        bytes: Buffer.from(this.buf.subarray(0, 1)),
        header: Buffer.from(this.buf.subarray(0, HEADER_LENGTH)),
        ...(crc ? { crc } : {}),
      });
      this.advanceBlame(1);
      this.buf = this.buf.subarray(1);
    } else {
      this.drop(events, 1, reason);
    }
    // The rest of the failed candidate is rescanned; bytes of it that turn out to be noise are
    // reported under the candidate's reason (one judged here ends past any outer candidate, but a frame
    // that failed only its CRC inside one: the outer keeps its reason after it).
    this.blame = {
      reason,
      bytes: Math.max(0, span - 1),
      ...(outer !== undefined && outer.bytes > 0 ? { outer } : {}),
    };
  }

  /** The innermost failed candidate (or oversize span) that a candidate of `candidate` bytes ends within. */
  private enclosing(candidate: number): Blame | undefined {
    let b = this.blame;
    while (b !== undefined && candidate > b.bytes) b = b.outer;
    return b;
  }

  /**
   * Whether the candidate at buf[0], failing for `reason` after `candidate` of its bytes, is part of the
   * failed candidate it sits in, and then the reason its bytes keep; undefined when it is judged on its
   * own. A candidate nested in a failed one (an 02 in its DATA or CRC) that fails and ends inside it is
   * part of that bad frame: no count, no event of its own, its STX keeps the outer reason and so do the
   * bytes after it, as in the RSU deframer (firmware-bridge/framing/deframer.ts). One that reaches beyond
   * it (a real frame the outer LEN swallowed) is judged on its own, unless it starts inside an oversize
   * span: the span was never checked, so whatever fails in it, wherever it ends, is part of it (a real
   * frame in it comes out only whole, and ends it). One whose LEN and ETX check out and only its CRC
   * fails is always judged on its own, even inside an oversize span: a real frame that came corrupted
   * behind a false STX, far likelier than a false STX with an ETX where its LEN ends (1 in 256). Its
   * header is what a reader answers BAD_CHECKSUM with.
   */
  private nestedIn(candidate: number, reason: ReaderDiscardReason): ReaderDiscardReason | undefined {
    const held = this.blame;
    if (held === undefined || reason === "checksum") return undefined;
    return this.enclosing(candidate) !== undefined || inOversize(held) ? held.reason : undefined;
  }

  /** Drop the first `n` bytes, reporting them as one run per reason. */
  private drop(events: ReaderDeframerEvent[], n: number, reason: ReaderDiscardReason): void {
    if (n <= 0) return;
    let rest = n;
    let at = 0;
    while (rest > 0) {
      let r = reason;
      let k = rest;
      if (reason === "noise" && this.blame && this.blame.bytes > 0) {
        r = this.blame.reason;
        k = Math.min(rest, this.blame.bytes);
      }
      const bytes = Buffer.from(this.buf.subarray(at, at + k));
      this.c.discardedBytes += k;
      if (r === "noise") this.c.noiseBytes += k;
      const at0 = events.length - 1;
      const last = events[at0];
      if (last?.kind === "discarded" && last.reason === r) {
        // Joined once, by seal(): concatenating here would copy a long run once per failed candidate.
        if (this.run?.index !== at0) {
          this.sealRun(events);
          this.run = { index: at0, parts: [last.bytes] };
        }
        this.run.parts.push(bytes);
      } else {
        events.push({ kind: "discarded", reason: r, bytes });
      }
      at += k;
      rest -= k;
      this.advanceBlame(k);
    }
    this.buf = this.buf.subarray(n);
  }

  /** The events of one call, each discarded run's parts joined. */
  private seal(events: ReaderDeframerEvent[]): ReaderDeframerEvent[] {
    this.sealRun(events);
    return events;
  }

  private sealRun(events: ReaderDeframerEvent[]): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    const ev = events[run.index];
    if (ev?.kind === "discarded") events[run.index] = { ...ev, bytes: Buffer.concat(run.parts) };
  }

  private consume(n: number): void {
    this.advanceBlame(n);
    this.buf = this.buf.subarray(n);
  }

  private advanceBlame(n: number): void {
    for (let b = this.blame; b !== undefined; b = b.outer) b.bytes -= n;
    while (this.blame !== undefined && this.blame.bytes <= 0) this.blame = this.blame.outer;
  }
}

/** Whether the bytes at buf[0] lie inside an oversize candidate's span (`blame` or one it sits in). */
function inOversize(blame: Blame | undefined): boolean {
  return oversizeSpan(blame) !== undefined;
}

/** The oversize span the bytes at buf[0] lie in (`blame` or one it sits in), if any. */
function oversizeSpan(blame: Blame | undefined): Blame | undefined {
  for (let b = blame; b !== undefined; b = b.outer) if (b.reason === "oversize" && b.bytes > 0) return b;
  return undefined;
}

/** The accepted frame's `n` bytes at the front of `buf`, as a block of its own (not a view of `buf`). */
function cut(buf: Buffer, n: number): Buffer {
  const parser = new ByteLengthParser({ length: n });
  parser.write(buf.subarray(0, n));
  const block: Buffer | null = parser.read();
  return block ?? Buffer.from(buf.subarray(0, n));
}
