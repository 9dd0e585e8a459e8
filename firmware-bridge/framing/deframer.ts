/**
 * The streaming deframer both variants share. It owns its buffer, resynchronises on `FF FF`,
 * enforces a maximum frame length and an inter-byte timeout, never throws, and reports every
 * discarded byte run and checksum failure as a typed event with a counter. The inter-byte timeout is
 * applied by `tick()`, which the owner calls from its timer (./half-frame-timer.ts); `push()` only
 * appends and scans.
 *
 * A variant supplies two things: where the next frame start is, and how to parse a candidate that
 * starts at offset 0. A candidate that fails tells the scanner where to rescan from; that point is
 * always inside the candidate (variant B rescans from STX+1), so a frame is lost only when
 * corruption touches its own bytes. Bytes of a failed candidate that turn out to be noise when
 * rescanned carry the candidate's reason (as the reader's deframer does, docs/reader.md §2.2), so one
 * bad frame is one discarded run, not a checksum failure followed by the same bytes as noise. A candidate
 * nested in a failed one (an `FF FF` inside a national body) that fails and ends inside it is part of that
 * bad frame too: not counted, no event, its bytes under the outer reason; only a nested candidate
 * reaching beyond the failed one is judged on its own.
 *
 * How far a failed candidate reaches: a checksum failure, its whole frame; a bad header (national LEN
 * with its reserved bytes set), its 8 header bytes; a half frame dropped at the inter-byte timeout, every
 * byte buffered; a too-long one, the span its header announces (national: LEN; legacy: up to the next FF,
 * its ETX), blamed as it arrives, even in later `push()` calls. Inside a too-long span every nested
 * candidate that fails is part of it, even one reaching beyond it or failing only its checksum, and the
 * span ends early at the first good frame found in it, and at the inter-byte timeout (`tick()`, even with
 * nothing held: a frame's bytes never pause that long), so a corrupted LEN announcing a huge span costs
 * the bytes up to the next good frame or pause and never a frame. A good frame found inside any failed candidate
 * is always delivered. docs/protocol.md "Receiving: the deframer" says the same.
 */
import type {
  Deframer,
  DeframerCounters,
  DeframerEvent,
  DeframerOptions,
  DiscardReason,
  WireFrame,
} from "./types.js";

export type StartScan =
  /** no start in sight: every byte up to `noiseUntil` is noise (the rest may begin a start) */
  | { found: false; noiseUntil: number }
  /** a start at `index` (bytes before it are noise); `complete` false when STX is cut short */
  | { found: true; index: number };

export type ParseResult =
  | { kind: "need-more" }
  | { kind: "frame"; frame: WireFrame; consumed: number; keepLast: boolean }
  | {
      kind: "fail";
      reason: DiscardReason;
      /** rescan from here; everything before it is discarded */
      rescanAt: number;
      /**
       * where the candidate ends (default `rescanAt`): bytes before it rescanned as noise carry `reason`,
       * and a candidate nested in it that fails and ends by here is part of it
       */
      end?: number;
      /**
       * too-long only: where the span its header announces ends, past `end` and possibly past the bytes
       * buffered; `Infinity`: at the variant's terminator (`terminatorAt`). Its bytes carry `reason` as they
       * arrive, unless the candidate was itself nested in a failed one.
       */
      span?: number;
      /** the byte at `rescanAt` is the candidate's ETX (variant A): never reported, it may begin the next STX */
      keepLast?: boolean;
      checksum?: { expected: number; actual: number; candidateEnd: number };
    };

export const DEFAULT_MAX_FRAME_LENGTH = 1024;
export const DEFAULT_INTER_BYTE_TIMEOUT_MS = 50;

export abstract class StreamDeframer implements Deframer {
  protected readonly maxFrameLength: number;
  readonly interByteTimeoutMs: number;
  private buf: Buffer = Buffer.alloc(0);
  private lastByteAt = Number.NEGATIVE_INFINITY;
  /** leading bytes of `buf` that belong to the previous frame (variant A's ETX), not noise */
  private freeLead = 0;
  /** why the next discarded run is being discarded, when it follows a failed candidate */
  private pendingReason: DiscardReason | undefined;
  /** the rest of a failed candidate being rescanned: its first `bytes` bytes of `buf`, and why it failed */
  private blame: { reason: DiscardReason; bytes: number } | undefined;
  /**
   * The discarded event at `index` of the events being built, still as the pieces of the buffer it is made
   * of: copied into one Buffer once, when the event is complete (`endRun`), not once per adjacent piece
   * (a run of 0xFF in one read comes as thousands of pieces).
   */
  private run: { index: number; pieces: Buffer[] } | undefined;
  private readonly c: DeframerCounters = {
    frames: 0,
    discardedBytes: 0,
    discardedRuns: 0,
    checksumErrors: 0,
    timeouts: 0,
    tooLong: 0,
    malformed: 0,
  };

  constructor(opts: DeframerOptions = {}) {
    this.maxFrameLength = opts.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
    this.interByteTimeoutMs = opts.interByteTimeoutMs ?? DEFAULT_INTER_BYTE_TIMEOUT_MS;
  }

  get counters(): Readonly<DeframerCounters> {
    return this.c;
  }

  get buffered(): number {
    return this.buf.length - this.freeLead;
  }

  protected abstract scanStart(buf: Buffer): StartScan;
  protected abstract parseAt0(buf: Buffer): ParseResult;
  /**
   * Where a failed candidate whose span is open (`span: Infinity`) ends: the index of its terminator in
   * `buf`, which is kept as a good frame's last byte is (it may begin the next start), or -1 when it has
   * not arrived. Only a variant that returns such a span needs it.
   */
  protected terminatorAt(_buf: Buffer): number {
    return -1;
  }

  /**
   * Appends and scans; never expires (./types.ts): bytes that reach JavaScript late because the event
   * loop was busy may still complete the half frame they follow. Only `tick()` expires.
   */
  push(chunk: Uint8Array, now: number): DeframerEvent[] {
    const events: DeframerEvent[] = [];
    try {
      if (chunk.length === 0) return events;
      this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
      this.lastByteAt = now;
      this.scan(events, false);
    } catch (err) {
      // The scanner is written not to throw; if it ever does, drop the buffer rather than the process.
      this.discard(events, this.buf.length, "malformed");
      this.c.malformed++;
      void err;
    }
    this.endRun(events);
    return events;
  }

  /**
   * The inter-byte timeout has run out at `now`: a half frame held is dropped, and a too-long span still
   * open ends, even with nothing held (a frame's bytes never pause that long, so what comes after the
   * silence is not its own: it is judged on its own).
   */
  tick(now: number): DeframerEvent[] {
    const events: DeframerEvent[] = [];
    if (now - this.lastByteAt <= this.interByteTimeoutMs) return events;
    if (this.buffered > 0) this.expire(events);
    this.blame = undefined;
    this.endRun(events);
    return events;
  }

  reset(): DeframerEvent[] {
    const events: DeframerEvent[] = [];
    if (this.buffered > 0) this.discard(events, this.buf.length, "noise");
    this.buf = Buffer.alloc(0);
    this.freeLead = 0;
    this.pendingReason = undefined;
    this.blame = undefined;
    this.endRun(events);
    return events;
  }

  /**
   * Milliseconds until a half frame would expire or a too-long span would end, or undefined when neither
   * is pending.
   */
  msUntilExpiry(now: number): number | undefined {
    if (this.buffered === 0 && this.blame === undefined) return undefined;
    return Math.max(0, this.lastByteAt + this.interByteTimeoutMs - now + 1);
  }

  private expire(events: DeframerEvent[]): void {
    this.pendingReason = "timeout";
    this.scan(events, true);
    this.pendingReason = undefined;
    // One half frame dropped, unless every byte held was the rest of a failed candidate (a too-long frame
    // still arriving, in its span; a candidate nested in a bad frame): that one is already counted, and
    // its bytes went under its reason.
    if (events.some((e) => e.kind === "discarded" && e.reason === "timeout")) this.c.timeouts++;
  }

  /** Scan `buf` from 0. With `flush`, an incomplete candidate fails (timeout) instead of waiting. */
  private scan(events: DeframerEvent[], flush: boolean): void {
    for (;;) {
      if (this.buf.length === 0) return;
      if (this.blame?.bytes === Number.POSITIVE_INFINITY) {
        // The rest of a candidate whose span is open: its bytes up to its terminator, kept as a good
        // frame's is.
        const t = this.terminatorAt(this.buf);
        if (t < 0) {
          this.discard(events, this.buf.length, this.blame.reason);
          return;
        }
        this.blame.bytes = t;
        this.discard(events, t, this.blame.reason);
        this.blame = undefined;
        this.freeLead = 1;
        continue;
      }
      const start = this.scanStart(this.buf);
      if (!start.found) {
        if (start.noiseUntil > 0) this.discard(events, start.noiseUntil, this.pendingReason ?? "noise");
        if (flush && this.buf.length > 0) this.discard(events, this.buf.length, "timeout");
        return;
      }
      if (start.index > 0) this.discard(events, start.index, this.pendingReason ?? "noise");
      let r = this.parseAt0(this.buf);
      if (r.kind === "need-more") {
        if (!flush) return;
        // A stalled candidate: every byte buffered is its, rescanned from inside it (a frame found in them
        // is still delivered; a candidate that fails in them is part of this one).
        r = { kind: "fail", reason: "timeout", rescanAt: 1, end: this.buf.length };
      }
      if (r.kind === "frame") {
        this.c.frames++;
        events.push({ kind: "frame", frame: r.frame });
        // A good frame inside a too-long span ends it: the header that announced the span lied (a
        // corrupted LEN); what follows the frame is judged on its own.
        if (this.blame?.reason === "too-long") this.blame = undefined;
        else this.advanceBlame(r.consumed - (r.keepLast ? 1 : 0));
        this.pendingReason = flush ? "timeout" : undefined;
        if (r.keepLast) {
          this.buf = this.buf.subarray(r.consumed - 1);
          this.freeLead = 1;
        } else {
          this.buf = this.buf.subarray(r.consumed);
          this.freeLead = 0;
        }
        continue;
      }
      const rescanAt = Math.max(1, r.rescanAt);
      const end = r.end ?? rescanAt;
      if (this.blame !== undefined && (end <= this.blame.bytes || this.blame.reason === "too-long")) {
        // A candidate nested in a failed one (national: an FF FF inside its body) that fails and ends
        // inside it is part of that bad frame: no count, no event, its bytes keep the outer reason. One
        // that reaches beyond it (a real frame the outer LEN swallowed) is judged on its own, below,
        // unless it starts inside a too-long span: that span was never checked, so whatever fails in it,
        // wherever it ends, is part of it (a real frame in it comes out only whole, and ends it).
        this.discard(events, rescanAt, this.blame.reason);
        if (r.keepLast && this.buf.length > 0) this.freeLead = 1;
        if (!flush) this.pendingReason = undefined;
        continue;
      }
      if (r.checksum) {
        this.c.checksumErrors++;
        events.push({
          kind: "checksum-error",
          candidate: Buffer.from(this.buf.subarray(0, r.checksum.candidateEnd)),
          expected: r.checksum.expected,
          actual: r.checksum.actual,
        });
      } else if (r.reason === "too-long") {
        this.c.tooLong++;
      } else if (r.reason === "malformed") {
        this.c.malformed++;
      }
      // (a timeout is counted once per expiry, by expire())
      this.discard(events, rescanAt, r.reason, false);
      if (r.keepLast && this.buf.length > 0) this.freeLead = 1;
      const rest = Math.max(0, (r.span ?? end) - rescanAt);
      if (rest > 0) this.blame = { reason: r.reason, bytes: Math.max(rest, this.blame?.bytes ?? 0) };
      if (!flush) this.pendingReason = undefined;
    }
  }

  /**
   * Drop the first `n` bytes of the buffer, reporting those that were not a previous frame's ETX. Bytes
   * that are the rest of a failed candidate are reported under its reason unless `blameable` is false
   * (the bytes of a candidate of their own).
   */
  private discard(events: DeframerEvent[], n: number, reason: DiscardReason, blameable = true): void {
    const lead = Math.min(n, this.freeLead);
    this.advanceBlame(lead);
    let at = lead;
    while (at < n) {
      const blamed = blameable && this.blame !== undefined;
      const k = blamed ? Math.min(n - at, this.blame?.bytes ?? 0) : n - at;
      // a view: report() copies it when its event is complete (the buffer is never written in place)
      this.report(events, this.buf.subarray(at, at + k), blamed ? (this.blame?.reason ?? reason) : reason);
      this.advanceBlame(k);
      at += k;
    }
    this.freeLead -= lead;
    this.buf = this.buf.subarray(n);
  }

  /**
   * One discarded run; adjacent bytes dropped for the same reason are one run. `bytes` is a view of the
   * buffer: the run's pieces are collected and copied into its event's own Buffer once (`endRun`).
   */
  private report(events: DeframerEvent[], bytes: Buffer, reason: DiscardReason): void {
    this.c.discardedBytes += bytes.length;
    const last = events[events.length - 1];
    if (last?.kind === "discarded" && last.reason === reason && this.run?.index === events.length - 1) {
      this.run.pieces.push(bytes);
    } else {
      this.endRun(events);
      this.c.discardedRuns++;
      events.push({ kind: "discarded", reason, bytes });
      this.run = { index: events.length - 1, pieces: [bytes] };
    }
  }

  /** The discarded run being built is complete: its event gets its bytes, copied out of the buffer once. */
  private endRun(events: DeframerEvent[]): void {
    const run = this.run;
    if (run === undefined) return;
    this.run = undefined;
    const ev = events[run.index];
    if (ev?.kind !== "discarded") return;
    const bytes = run.pieces.length === 1 ? Buffer.from(run.pieces[0] as Buffer) : Buffer.concat(run.pieces);
    events[run.index] = { kind: "discarded", reason: ev.reason, bytes };
  }

  /** `n` bytes left the front of the buffer: the failed candidate's rest shrinks by as many. */
  private advanceBlame(n: number): void {
    if (!this.blame) return;
    this.blame.bytes -= n;
    if (this.blame.bytes <= 0) this.blame = undefined;
  }
}
