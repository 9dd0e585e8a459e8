/**
 * One reader command in flight at a time (docs/reader.md §6). Commands queue in call order. For each:
 * the SEQ is assigned before the write, so a reply that races the write's resolution still matches;
 * the deadline starts once the transport took the bytes, and is never more than `maxCommandMs` after
 * the write (a list's timeout, per APDU times the count, included); a write the transport has not completed within
 * the command's timeout plus the same again (never more than `maxCommandMs`; a reader that stopped
 * reading, a port pushing back) times the command out as a lost reply would; a WAIT frame for that SEQ
 * moves the deadline (never past `maxCommandMs` from the write), also when it arrives before the
 * write's promise resolved (the reader has the frame, whatever the port's drain says); a reply must echo
 * SEQ and CMD, anything else is a stale or stray reply, counted, logged and dropped; a BAD_CHECKSUM status (the reader got our
 * frame corrupted and did nothing) is resent under a new SEQ up to `nakRetries` times, except for a
 * command sent with `noResend`, which it fails as an answer lost (E813, executed "unknown"); an
 * AbortSignal ends the wait at once. No command is ever resent for any other reason: a reply lost on the
 * line is a timeout. A write that failed is "not executed" only when the transport says no byte went out
 * (`details.nothingWritten`, firmware-bridge/errors.ts); any other write failure may have come after the
 * frame reached the reader. A frame from the reader byte-identical to one the host wrote lately is the
 * line echoing the host (a loopback plug, RS-485 local echo), never a reply: counted in `echoes`, logged
 * once, and it re-arms nothing; the one exception is a command whose OK reply is necessarily its request's
 * bytes (CARD_HALT: P 0, no DATA either way), where taking the echo as the reply changes nothing.
 */
import { ErrorCodes, EtcError, wroteNothing } from "../errors.js";
import type { Logger } from "../log.js";
import { type AnyReaderCommand, WAIT } from "./commands.js";
import type { ReaderDiscardReason } from "./deframer.js";
import { type Executed, ReaderErrorCodes, readerError } from "./errors.js";
import { encodeReaderFrame, nextCommandSeq, type ReaderWireFrame } from "./frame.js";
import type { ReaderOptions } from "./options.js";
import type { ReaderChannel, ReceivedReaderFrame } from "./reader-channel.js";
import { ReaderStatus, statusError, statusName } from "./status.js";

export interface CommandRequest {
  readonly def: AnyReaderCommand;
  /** P: the PSAM slot, or 0. */
  readonly p: number;
  readonly data: Buffer;
  /**
   * Deadline after the write (before any WAIT), cut to `maxCommandMs`. Until the transport took the
   * bytes, the command has twice this (at most `maxCommandMs`) from the moment it was handed to the port.
   */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Allowed before the link is up (the INFO probe of a (re)connect). */
  readonly whileConnecting?: boolean;
  /**
   * Never resent (card-reader.ts CommandOptions): a BAD_CHECKSUM with its SEQ and CMD fails it, executed
   * "unknown", as no reply would.
   */
  readonly noResend?: boolean;
}

export interface CommandRunnerCounters {
  commands: number;
  replies: number;
  timeouts: number;
  /** WAIT frames that extended a deadline. */
  waits: number;
  /** WAIT frames for no command in flight. */
  strayWaits: number;
  /** Replies whose SEQ is not the command in flight's (late replies of timed-out or aborted commands). */
  staleReplies: number;
  /** Replies with the right SEQ and the wrong CMD. */
  mismatchedReplies: number;
  /** Frames byte-identical to one the host wrote lately: the line echoing the host, not replies. */
  echoes: number;
  /** Commands resent after a BAD_CHECKSUM status. */
  nakResends: number;
  aborted: number;
  /** Non-OK statuses by name. */
  statuses: Record<string, number>;
}

export interface CommandRunnerInit {
  channel: ReaderChannel;
  options: ReaderOptions;
  log: Logger;
  now: () => number;
  /** May a command be written now? (`whileConnecting` asks for the transport only.) */
  canSend(whileConnecting: boolean): boolean;
  /** Why nothing can be sent, for the LinkDown message. */
  downReason(): string;
  /**
   * A command got no reply in time; `discardedBytes`: bytes from the reader dropped as not frames
   * (a bad checksum, oversize, ...) while it waited (0: the reader said nothing usable or nothing);
   * `echoes`: frames that were its own bytes coming back (the line echoes the host).
   */
  onSilence(discardedBytes: number, echoes: number): void;
  /** A valid frame arrived from the reader. */
  onAlive(): void;
  /** Name of the port, for messages. */
  name: string;
}

interface Job {
  readonly req: CommandRequest;
  readonly label: string;
  readonly resolve: (f: ReaderWireFrame) => void;
  readonly reject: (e: EtcError) => void;
  seq: number;
  /** Bytes have been handed to the transport at least once: the command may have run. */
  written: boolean;
  nakResends: number;
  /** When the current attempt was handed to the port. */
  handedAt: number;
  /** Write time of the current attempt; undefined until the transport took it. */
  writtenAt: number | undefined;
  deadline: number;
  /** Bytes from the reader dropped as not frames during the current attempt's wait, by reason. */
  discarded: Map<ReaderDiscardReason, number>;
  /** The latest deadline a WAIT asked for in the current attempt; the write's completion keeps it. */
  waitUntil: number | undefined;
  /** Echoes of this job's own frames received during the current attempt's wait. */
  echoes: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  settled: boolean;
  onAbort: (() => void) | undefined;
}

export class CommandRunner {
  private readonly i: CommandRunnerInit;
  private readonly queue: Job[] = [];
  private current: Job | undefined;
  private seq = 0;
  /** The last frames written (newest last), to tell the line's echo of them from a reply. */
  private readonly recent: Buffer[] = [];
  /** The first echo was logged at warn level: later ones go to the debug log only. */
  private echoLogged = false;
  private readonly c: CommandRunnerCounters = {
    commands: 0,
    replies: 0,
    timeouts: 0,
    waits: 0,
    strayWaits: 0,
    staleReplies: 0,
    mismatchedReplies: 0,
    echoes: 0,
    nakResends: 0,
    aborted: 0,
    statuses: {},
  };

  constructor(init: CommandRunnerInit) {
    this.i = init;
  }

  get counters(): Readonly<CommandRunnerCounters> {
    return { ...this.c, statuses: { ...this.c.statuses } };
  }

  /** A command is in flight or queued. */
  get busy(): boolean {
    return this.current !== undefined || this.queue.length > 0;
  }

  /** Queue a command; resolves with its OK reply frame, rejects with a reader EtcError. */
  run(req: CommandRequest): Promise<ReaderWireFrame> {
    const label = `${req.def.name}${req.def.p === "slot" ? ` slot ${req.p}` : ""}`;
    return new Promise<ReaderWireFrame>((resolve, reject) => {
      const job: Job = {
        req,
        label,
        resolve,
        reject,
        seq: 0,
        written: false,
        nakResends: 0,
        handedAt: 0,
        writtenAt: undefined,
        deadline: 0,
        discarded: new Map(),
        waitUntil: undefined,
        echoes: 0,
        timer: undefined,
        settled: false,
        onAbort: undefined,
      };
      if (req.signal?.aborted) {
        this.c.aborted++;
        reject(
          readerError(ReaderErrorCodes.Aborted, `${this.i.name}: ${label} aborted before it was sent`, "no"),
        );
        return;
      }
      if (req.signal) {
        job.onAbort = () => this.abort(job);
        req.signal.addEventListener("abort", job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.pump();
    });
  }

  /** Fail the command in flight and everything queued (link lost, reader closed). */
  failAll(code: typeof ReaderErrorCodes.LinkDown | typeof ReaderErrorCodes.Aborted, why: string): void {
    const jobs = [...(this.current ? [this.current] : []), ...this.queue.splice(0)];
    for (const job of jobs) {
      const executed: Executed = job.written ? "unknown" : "no";
      if (code === ReaderErrorCodes.Aborted) this.c.aborted++;
      this.finish(job, readerError(code, `${this.i.name}: ${job.label} not answered: ${why}`, executed));
    }
  }

  /**
   * Bytes from the reader that were not a frame (reader-channel.ts discards$): counted against the command
   * in flight, so its timeout says a reply may have come and been dropped, rather than "no reply".
   */
  onDiscard(reason: ReaderDiscardReason, bytes: number): void {
    const job = this.current;
    if (!job?.written) return;
    job.discarded.set(reason, (job.discarded.get(reason) ?? 0) + bytes);
  }

  /** Offer a frame from the reader; CARD_EVENT frames are the owner's, everything else ends here. */
  onFrame(rf: ReceivedReaderFrame): void {
    const f = rf.frame;
    const job = this.current;
    if (this.recent.some((b) => b.equals(f.raw))) {
      this.onEcho(f, job);
      return;
    }
    this.i.onAlive();
    if (f.cmd === WAIT.code) {
      if (!job || f.seq !== job.seq) {
        this.c.strayWaits++;
        this.i.log.info({ seq: f.seq, current: job?.seq }, "WAIT for no command in flight: dropped");
        return;
      }
      this.c.waits++;
      const hint = WAIT.decode(f.data) ?? 0;
      // A WAIT before the write's promise resolved (a drain that reports late): the reader has the frame,
      // so it counts; the cap runs from when the frame was handed to the port, which is no later than
      // the write, so it never goes past maxCommandMs after the write either.
      const hardEnd = (job.writtenAt ?? job.handedAt) + this.i.options.maxCommandMs;
      const wanted = Math.min(hardEnd, rf.at + Math.max(this.i.options.stillWorkingMs, hint));
      job.waitUntil = Math.max(job.waitUntil ?? 0, wanted);
      if (wanted > job.deadline) this.arm(job, wanted);
      return;
    }
    if (!job || f.seq !== job.seq) {
      this.c.staleReplies++;
      this.i.log.warn(
        { seq: f.seq, cmd: f.cmd, status: statusName(f.p), expected: job?.seq },
        job ? "reply with a stale sequence number: dropped" : "reply with no command in flight: dropped",
      );
      return;
    }
    if (f.cmd !== job.req.def.code) {
      this.c.mismatchedReplies++;
      this.i.log.warn(
        { seq: f.seq, cmd: f.cmd, expected: job.req.def.code },
        "reply for another command: dropped",
      );
      return;
    }
    this.c.replies++;
    if (f.p === ReaderStatus.ok) {
      this.finish(job, undefined, f);
      return;
    }
    const name = statusName(f.p);
    this.c.statuses[name] = (this.c.statuses[name] ?? 0) + 1;
    if (f.p === ReaderStatus.badChecksum && job.req.noResend === true) {
      // A NAK names its frame by SEQ and CMD only: a corrupted frame that carried this command's (line
      // noise, a copy cut short) may have been NAKed after the reader ran the command itself. Sent again,
      // the command would answer for its second run only; so it is not, and may have run.
      this.i.log.warn(
        { cmd: job.label, seq: f.seq },
        "reader answered BAD_CHECKSUM to a command never resent: failed as an answer lost (it may have run)",
      );
      this.finish(
        job,
        readerError(
          ReaderErrorCodes.LineErrors,
          `${this.i.name}: ${job.label}: the reader answered BAD_CHECKSUM (status ${name}) and the command is never resent: it may have run`,
          "unknown",
          { status: name, noResend: true },
        ),
      );
      return;
    }
    if (f.p === ReaderStatus.badChecksum && job.nakResends < this.i.options.nakRetries) {
      job.nakResends++;
      this.c.nakResends++;
      this.i.log.warn(
        { cmd: job.label, seq: f.seq, attempt: job.nakResends },
        "reader got the command corrupted: resent",
      );
      // The reader ran nothing of this attempt, nor of the earlier ones (each NAKed too): the job is
      // unwritten again until send() hands the resend to the port, so a resend the port refuses before
      // any byte goes out is executed "no".
      job.written = false;
      this.send(job);
      return;
    }
    const e = statusError(f.p);
    // BAD_CHECKSUM, BUSY and the like mean the reader did nothing with this attempt; an earlier attempt
    // of the same job was NAKed too, so nothing ran.
    this.finish(
      job,
      readerError(e.code, `${this.i.name}: ${job.label}: ${e.text} (status ${name})`, e.executed, {
        status: name,
        ...(f.data.length > 0 ? { replyData: Buffer.from(f.data) } : {}),
      }),
    );
  }

  /** The host's own frame came back: not the reader's, so no reply and no sign of life. */
  private onEcho(f: ReaderWireFrame, job: Job | undefined): void {
    this.c.echoes++;
    if (job?.written && f.seq === job.seq) job.echoes++;
    const fields = { seq: f.seq, cmd: f.cmd, hex: f.raw.toString("hex") };
    if (!this.echoLogged) {
      this.echoLogged = true;
      this.i.log.warn(
        fields,
        "the reader line echoes our own frames (a loopback plug, RS-485 local echo, a tty not set raw?): a frame byte-identical to the command we sent came back; not taken as a reply; each one is counted in echoes, this is logged once",
      );
    } else {
      this.i.log.debug(fields, "echo of our own frame: dropped");
    }
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return;
    const job = this.queue.shift() as Job;
    this.current = job;
    this.c.commands++;
    if (!this.i.canSend(job.req.whileConnecting === true)) {
      this.finish(
        job,
        readerError(
          ReaderErrorCodes.LinkDown,
          `${this.i.name}: ${job.label} not sent: ${this.i.downReason()}`,
          "no",
        ),
      );
      return;
    }
    this.send(job);
  }

  private send(job: Job): void {
    this.seq = nextCommandSeq(this.seq);
    job.seq = this.seq;
    job.writtenAt = undefined;
    job.waitUntil = undefined;
    job.echoes = 0;
    job.discarded.clear();
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
    let raw: Buffer;
    try {
      raw = encodeReaderFrame(job.seq, job.req.def.code, job.req.p, job.req.data);
    } catch (e) {
      this.finish(
        job,
        readerError(
          ReaderErrorCodes.BadRequest,
          `${this.i.name}: ${job.label}: ${(e as Error).message}`,
          "no",
        ),
      );
      return;
    }
    if (!okReplyIsRequest(job.req)) {
      this.recent.push(raw);
      if (this.recent.length > RECENT_FRAMES) this.recent.shift();
    }
    const seq = job.seq;
    // From here the reader may execute it: a frame cut short on the line fails the reader's CRC and is
    // never executed, but one that got through may have been.
    const wasWritten = job.written;
    job.written = true;
    // A write that never completes (the reader stopped reading, a USB CDC port pushing back, a full pty
    // buffer) must not hold the command, and every command queued behind it, for ever: it has its
    // timeout as an allowance for the write, then its timeout, from now; once the transport took the
    // bytes the deadline is the write time plus the timeout.
    job.handedAt = this.i.now();
    this.arm(job, job.handedAt + Math.min(this.i.options.maxCommandMs, 2 * job.req.timeoutMs));
    this.i.channel.write(raw, { seq, cmd: job.req.def.code, p: job.req.p, data: job.req.data, raw }).then(
      (at) => {
        if (job.settled || job.seq !== seq) return;
        job.writtenAt = at;
        // a WAIT that came before this point keeps the deadline it asked for (capped already); the
        // command's own timeout (a list's: per APDU times the count) never goes past maxCommandMs
        const own = at + Math.min(job.req.timeoutMs, this.i.options.maxCommandMs);
        this.arm(job, Math.max(own, job.waitUntil ?? 0));
      },
      (err: unknown) => {
        if (job.settled || job.seq !== seq) return;
        // Only a refusal made before any byte went out (port not open) proves that this attempt never
        // reached the reader; a write or drain that failed may have failed after the whole frame was on
        // the line (firmware-bridge/transport/serial.ts, tcp.ts), and the reader may have executed it.
        const nothing = wroteNothing(err);
        if (nothing) job.written = wasWritten;
        const msg = (err as Error).message;
        this.finish(
          job,
          readerError(
            ReaderErrorCodes.LinkDown,
            nothing
              ? `${this.i.name}: ${job.label} not sent: ${msg}`
              : `${this.i.name}: ${job.label}: the write failed, the reader may have received it: ${msg}`,
            nothing && !wasWritten ? "no" : "unknown",
            {},
            { cause: err },
          ),
        );
      },
    );
  }

  private arm(job: Job, deadline: number): void {
    if (job.timer) clearTimeout(job.timer);
    job.deadline = deadline;
    job.timer = setTimeout(() => this.onTimeout(job), Math.max(0, deadline - this.i.now()));
  }

  /**
   * The command got no reply in time: it fails (E806), then the silence is counted, and only then is the
   * next queued command sent. Counting first matters: when the count trips `silentLimit` the link goes
   * down and everything queued fails unsent (E807, executed no); sending first would write the next
   * command (a DEBIT) to a port that is closing and fail it "unknown".
   */
  private onTimeout(job: Job): void {
    job.timer = undefined;
    if (job.settled) return;
    this.c.timeouts++;
    const now = this.i.now();
    if (job.writtenAt === undefined) {
      // The port never took the bytes; some of them may be out, so the reader may have run it.
      const waited = Math.round(now - job.handedAt);
      this.i.log.warn(
        { cmd: job.label, seq: job.seq, waitedMs: waited, writePending: true },
        "reader command timed out: its write never completed",
      );
      this.finish(
        job,
        readerError(
          ReaderErrorCodes.Timeout,
          job.waitUntil === undefined
            ? `${this.i.name}: ${job.label} (seq ${job.seq}) timed out after ${waited} ms: the port did not take the frame (the reader is not reading)`
            : `${this.i.name}: ${job.label} (seq ${job.seq}) timed out after ${waited} ms: the reader sent WAIT, then no reply (the port never reported the write complete)`,
          "unknown",
          { seq: job.seq, writePending: true },
        ),
        undefined,
        false,
      );
    } else {
      const waited = Math.round(now - job.writtenAt);
      const dropped = discardedText(job.discarded);
      const echoed =
        job.echoes > 0
          ? `; our own frame came back ${job.echoes} time(s): the line echoes what we send (a loopback plug, RS-485 local echo?)`
          : "";
      this.i.log.warn(
        {
          cmd: job.label,
          seq: job.seq,
          waitedMs: waited,
          ...(dropped ? { discarded: dropped } : {}),
          ...(job.echoes > 0 ? { echoes: job.echoes } : {}),
        },
        "reader command timed out",
      );
      this.finish(
        job,
        readerError(
          ReaderErrorCodes.Timeout,
          dropped
            ? `${this.i.name}: ${job.label} (seq ${job.seq}) got no usable reply after ${waited} ms: ${dropped} from the reader discarded meanwhile (a reply may have come corrupted or too long)${echoed}`
            : `${this.i.name}: ${job.label} (seq ${job.seq}) got no reply after ${waited} ms${echoed}`,
          "unknown",
          {
            seq: job.seq,
            ...(dropped ? { discarded: Object.fromEntries(job.discarded) } : {}),
            ...(job.echoes > 0 ? { echoes: job.echoes } : {}),
          },
        ),
        undefined,
        false,
      );
    }
    this.i.onSilence(discardedTotal(job.discarded), job.echoes);
    this.pump();
  }

  private abort(job: Job): void {
    if (job.settled) return;
    this.c.aborted++;
    const inQueue = this.queue.indexOf(job);
    if (inQueue >= 0) this.queue.splice(inQueue, 1);
    const executed: Executed = job.written ? "unknown" : "no";
    this.finish(job, readerError(ReaderErrorCodes.Aborted, `${this.i.name}: ${job.label} aborted`, executed));
  }

  /** Settles the job; then the next queued command is sent, unless `next` is false (the caller pumps). */
  private finish(job: Job, err: EtcError | undefined, frame?: ReaderWireFrame, next = true): void {
    if (job.settled) return;
    job.settled = true;
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
    if (job.onAbort) job.req.signal?.removeEventListener("abort", job.onAbort);
    if (this.current === job) this.current = undefined;
    if (frame) job.resolve(frame);
    else job.reject(err ?? new EtcError(ErrorCodes.LinkAborted, "reader command ended without a result"));
    if (next) this.pump();
  }
}

/** How many written frames are kept to recognise their echo (an echo comes back while the next is unsent). */
const RECENT_FRAMES = 4;

/**
 * The command's OK reply is necessarily byte-identical to the request (P 0 and no DATA either way:
 * CARD_HALT), so its echo cannot be told from that reply; taking the echo as the reply is harmless there.
 */
function okReplyIsRequest(req: CommandRequest): boolean {
  return req.p === 0 && req.data.length === 0 && req.def.reply.decode(Buffer.alloc(0)) !== undefined;
}

function discardedTotal(d: ReadonlyMap<ReaderDiscardReason, number>): number {
  let n = 0;
  for (const b of d.values()) n += b;
  return n;
}

/** "612 byte(s) (oversize 600, checksum 12)", or "" when nothing was discarded. */
export function discardedText(d: ReadonlyMap<ReaderDiscardReason, number>): string {
  const n = discardedTotal(d);
  if (n === 0) return "";
  const parts = [...d].map(([reason, bytes]) => `${reason} ${bytes}`);
  return `${n} byte(s) (${parts.join(", ")})`;
}
