/**
 * The reader deframer as it was before it checked candidates in place (firmware-bridge/reader/deframer.ts
 * at b8f60d0, unchanged but for its imports, its name and the rules both now share for a failed candidate
 * nested in a failed one: no count, no event, the outer reason; for an oversize candidate: its whole
 * announced span blamed, every candidate failing in it part of it but one failing only its CRC, the span
 * ended by a good frame and by the inter-byte timeout; and for reset(): the bytes held under the reason
 * the timer would give them): each candidate read in its two parts by
 * a fresh `ByteLengthParser`, its LEN bytes copied before the ETX check. Kept only as the oracle of
 * ./framing.property.test.ts, which checks that the current deframer gives exactly the same events.
 * Its push() still expires a stale half frame first; the property calls tick() before every push, so
 * that never differs.
 */
import { ByteLengthParser } from "@serialport/parser-byte-length";
import { crc16x25 } from "../../firmware-bridge/framing/crc.js";
import type {
  ReaderDeframerEvent,
  ReaderDeframerOptions,
  ReaderDiscardReason,
} from "../../firmware-bridge/reader/deframer.js";
import { ETX, HEADER_LENGTH, MIN_LEN, STX } from "../../firmware-bridge/reader/frame.js";

/** As the current deframer's: a failed candidate's bytes still to rescan, and the one it sits in. */
interface Blame {
  reason: ReaderDiscardReason;
  bytes: number;
  outer?: Blame;
}

type ReaderDeframerCounters = {
  frames: number;
  discardedBytes: number;
  noiseBytes: number;
  checksumErrors: number;
  oversize: number;
  malformed: number;
  truncated: number;
};

const DEFAULT_READER_MAX_FRAME = 1024;
const DEFAULT_READER_INTER_BYTE_MS = 50;

type Phase =
  | { kind: "hunt" }
  | { kind: "header"; parser: ByteLengthParser; fed: number }
  | { kind: "body"; parser: ByteLengthParser; fed: number; header: Buffer; len: number };

export class ReferenceReaderDeframer {
  private readonly maxFrameLength: number;
  private readonly interByteTimeoutMs: number;
  /** Unconsumed bytes; while a candidate is open it starts at buf[0]. */
  private buf: Buffer = Buffer.alloc(0);
  private phase: Phase = { kind: "hunt" };
  private lastByteAt = Number.NEGATIVE_INFINITY;
  /** Bytes of a failed candidate still to be rescanned, and why it failed (for their discard reason). */
  private blame: Blame | undefined;
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

  /** Feed bytes as they arrive; `now` is a monotonic ms clock. Never throws. */
  push(chunk: Uint8Array, now: number): ReaderDeframerEvent[] {
    const events: ReaderDeframerEvent[] = [];
    try {
      if (now - this.lastByteAt > this.interByteTimeoutMs) {
        if (this.buf.length > 0) this.scan(events, true);
        this.blame = undefined;
      }
      if (chunk.length === 0) return events;
      this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
      this.lastByteAt = now;
      this.scan(events, false);
    } catch {
      // Written not to throw; if it ever does, drop the buffer rather than the process.
      this.drop(events, this.buf.length, "malformed");
      this.phase = { kind: "hunt" };
    }
    return events;
  }

  /** Expire a stalled half frame without new data (the owner calls this from its timer). */
  tick(now: number): ReaderDeframerEvent[] {
    const events: ReaderDeframerEvent[] = [];
    if (now - this.lastByteAt <= this.interByteTimeoutMs) return events;
    if (this.buf.length > 0) this.scan(events, true);
    this.blame = undefined;
    return events;
  }

  /** Milliseconds until a half frame would expire or an oversize span would end, or undefined. */
  msUntilExpiry(now: number): number | undefined {
    if (this.buf.length === 0 && this.blame === undefined) return undefined;
    return Math.max(0, this.lastByteAt + this.interByteTimeoutMs - now + 1);
  }

  /** Drop everything held (after a reconnect the old bytes mean nothing). */
  reset(): ReaderDeframerEvent[] {
    const events: ReaderDeframerEvent[] = [];
    if (this.buf.length > 0) {
      const open = this.phase.kind !== "hunt";
      // an open candidate nested in a failed one or in an oversize span is part of it, as at the timer
      const within = open ? this.nestedIn(this.buf.length, "truncated") : undefined;
      if (open && within === undefined) this.c.truncated++;
      this.drop(events, this.buf.length, open ? (within ?? "truncated") : "noise");
    }
    this.phase = { kind: "hunt" };
    this.blame = undefined;
    return events;
  }

  /**
   * Consume `buf` as far as it goes. With `flush` (silence past the inter-byte timeout) an incomplete
   * candidate fails as truncated and its bytes after STX are rescanned, until nothing is left open.
   */
  private scan(events: ReaderDeframerEvent[], flush: boolean): void {
    for (;;) {
      const ph = this.phase;
      if (ph.kind === "hunt") {
        if (this.buf.length === 0) return;
        const i = this.buf.indexOf(STX);
        if (i < 0) {
          this.drop(events, this.buf.length, "noise");
          return;
        }
        if (i > 0) this.drop(events, i, "noise");
        this.phase = { kind: "header", parser: new ByteLengthParser({ length: HEADER_LENGTH }), fed: 0 };
        continue;
      }
      const block = this.feed(ph);
      if (!block) {
        if (!flush) return;
        this.fail(events, "truncated");
        continue;
      }
      if (ph.kind === "header") {
        const len = block.readUInt16BE(1);
        if (len < MIN_LEN) {
          this.fail(events, "malformed");
          continue;
        }
        if (HEADER_LENGTH + len > this.maxFrameLength) {
          this.fail(events, "oversize", undefined, HEADER_LENGTH + len);
          continue;
        }
        this.phase = {
          kind: "body",
          parser: new ByteLengthParser({ length: len }),
          fed: HEADER_LENGTH,
          header: block,
          len,
        };
        continue;
      }
      // body: DATA (len - 3), CRC (2), ETX (1)
      const raw = Buffer.concat([ph.header, block]);
      const crcAt = HEADER_LENGTH + ph.len - MIN_LEN;
      if (raw[crcAt + 2] !== ETX) {
        this.fail(events, "malformed");
        continue;
      }
      const crc = { frame: raw.readUInt16BE(crcAt), computed: crc16x25(raw, 1, crcAt) };
      if (crc.frame !== crc.computed) {
        this.fail(events, "checksum", crc);
        continue;
      }
      if (inOversizeSpan(this.blame)) this.blame = undefined;
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
      this.consume(raw.length);
      this.phase = { kind: "hunt" };
    }
  }

  /**
   * Give the part's parser exactly the bytes it still lacks (as far as `buf` has them) and return the
   * block once it is whole. Feeding no more than the remainder keeps one block per read().
   */
  private feed(ph: Exclude<Phase, { kind: "hunt" }>): Buffer | undefined {
    const start = ph.kind === "header" ? 0 : HEADER_LENGTH;
    const size = ph.kind === "header" ? HEADER_LENGTH : ph.len;
    const want = start + size - ph.fed;
    const n = Math.min(want, this.buf.length - ph.fed);
    if (n > 0) {
      ph.parser.write(this.buf.subarray(ph.fed, ph.fed + n));
      ph.fed += n;
    }
    const block: Buffer | null = ph.parser.read();
    return block ?? undefined;
  }

  /** The open candidate failed: drop its STX only and rescan what followed it. */
  private fail(
    events: ReaderDeframerEvent[],
    reason: ReaderDiscardReason,
    crc?: { frame: number; computed: number },
    span?: number,
  ): void {
    const ph = this.phase;
    const candidate = ph.kind === "hunt" ? 1 : ph.fed;
    this.phase = { kind: "hunt" };
    const held = this.blame;
    // the innermost failed candidate this one ends within (a CRC-only frame's span, or the one it sits in)
    let enclosing = held;
    while (enclosing !== undefined && candidate > enclosing.bytes) enclosing = enclosing.outer;
    const within = this.nestedIn(candidate, reason);
    if (within !== undefined) {
      // A failed candidate nested in a failed one, unless only its CRC failed: the rule added since (the
      // current deframer's fail()).
      this.drop(events, 1, within);
      return;
    }
    // a frame nested in a failed candidate: once past it, the rest of that candidate keeps its reason (and
    // one failing only its CRC in an oversize span keeps the span, even reaching past it)
    let inSpan: Blame | undefined = held;
    while (inSpan !== undefined && !(inSpan.reason === "oversize" && inSpan.bytes > 0)) inSpan = inSpan.outer;
    const outer = enclosing ?? inSpan;
    if (reason === "checksum") this.c.checksumErrors++;
    else if (reason === "oversize") this.c.oversize++;
    else if (reason === "malformed") this.c.malformed++;
    else if (reason === "truncated") this.c.truncated++;
    if (reason === "checksum" && ph.kind === "body") {
      // Reported on its own (not merged), with the header, before the rest is rescanned.
      this.c.discardedBytes++;
      events.push({
        kind: "discarded",
        reason,
        bytes: Buffer.from(this.buf.subarray(0, 1)),
        header: ph.header,
        ...(crc ? { crc } : {}),
      });
      this.advanceBlame(1);
      this.buf = this.buf.subarray(1);
    } else {
      this.drop(events, 1, reason);
    }
    // The rest of the failed candidate is rescanned; bytes of it that turn out to be noise are
    // reported under the candidate's reason.
    this.blame = {
      reason,
      bytes: Math.max(0, (span ?? candidate) - 1),
      ...(outer !== undefined && outer.bytes > 0 ? { outer } : {}),
    };
  }

  /**
   * The reason a candidate of `candidate` bytes failing for `reason` keeps as part of the failed one it
   * sits in (inside one that it ends within, or anywhere in an oversize span; never one failing only its
   * CRC), or undefined when it counts on its own.
   */
  private nestedIn(candidate: number, reason: ReaderDiscardReason): ReaderDiscardReason | undefined {
    const held = this.blame;
    if (held === undefined || reason === "checksum") return undefined;
    let enclosing: Blame | undefined = held;
    while (enclosing !== undefined && candidate > enclosing.bytes) enclosing = enclosing.outer;
    return enclosing !== undefined || inOversizeSpan(held) ? held.reason : undefined;
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
      const last = events[events.length - 1];
      if (last?.kind === "discarded" && last.reason === r) {
        events[events.length - 1] = { ...last, bytes: Buffer.concat([last.bytes, bytes]) };
      } else {
        events.push({ kind: "discarded", reason: r, bytes });
      }
      at += k;
      rest -= k;
      this.advanceBlame(k);
    }
    this.buf = this.buf.subarray(n);
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

function inOversizeSpan(blame: Blame | undefined): boolean {
  for (let b = blame; b !== undefined; b = b.outer) if (b.reason === "oversize" && b.bytes > 0) return true;
  return false;
}
