/**
 * Replaying a wire capture's RSU side against a lane (`etc-sim replay`, docs/capture.md): the bytes the
 * RSU sent, exactly as recorded (noise and damaged frames included), at the recorded pace. Where the
 * recorded RSU was answering the lane, the replay waits for the lane under test to send the same frame
 * types first and then takes the RSU's recorded response time; bytes the RSU sent on its own
 * (heartbeats, an OBU's first B2, repeats) follow the recorded gap. So a fault seen at a plaza plays
 * out on a bench against the same or another lane, and any place where the lane behaves differently
 * from the recorded one is reported.
 */
import { type Observable, Subject, type Subscription } from "rxjs";
import type { Capture, CaptureRecord } from "../../firmware-bridge/capture/read-capture.js";
import { decodeData, encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { createDeframer, type Deframer, type DeframerEvent } from "../../firmware-bridge/framing/index.js";
import { FrameChannel } from "../../firmware-bridge/link/frame-channel.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { type Limits, portLimits } from "../../src/rsu/analyse-capture.js";

/** A lane frame as the replay matches it: its type ("C1", "ACK", "0x9a" when unknown). */
export interface LaneFrameRef {
  type: string;
  /** recorded time, ms since the capture's first record */
  t: number;
}

/** Bytes of a step that are an RSU repeat, or the part of one that arrived in that step. */
export interface RepeatBytes {
  /** the repeat's bytes are the step's `bytes.subarray(from, to)` */
  from: number;
  to: number;
  /** which repeat (numbered in the script): one that arrived in several steps is left out or sent whole */
  id: number;
  /** its frame type ("B4") */
  frame: string;
}

export interface ReplayStep {
  /** ms since the capture's first record */
  t: number;
  /** what the RSU sent, as recorded */
  bytes: Buffer;
  /** the lane frames the recorded lane sent since the previous step: the replay waits for them */
  after: LaneFrameRef[];
  /** recorded gap from the previous step, or from the last of `after`, to these bytes */
  delayMs: number;
  /**
   * true: the first step of a run after the first (firmware-bridge/capture/read-capture.ts): the recorded
   * lane had started again, so nothing before it is joined to it, and its gap is counted from the run's
   * start, never across the runs' clocks
   */
  newRun?: boolean;
  /**
   * the step's bytes that are an RSU repeat: a whole frame, deframed across the steps it arrived in, byte
   * for byte the RSU's frame just before it (no byte and no lane frame between), whose first byte arrived
   * in a later step than that frame's last (a frame and its copy handed to the lane together are sent
   * together, as recorded). The recorded RSU sent it again because the recorded lane had not answered
   * yet: run() leaves those bytes out when the lane under test already has, and sends the rest of the step.
   */
  repeats?: RepeatBytes[];
  /** true: every byte of the step is a repeat's (`repeats`) */
  repeat?: boolean;
  /**
   * on the first step of each run: the limits the capture recorded for the port in that run (the
   * defaults when it recorded none), as `etc-lane decode --capture` takes them
   * (src/rsu/analyse-capture.ts portLimits): run() names the frames it sends with a deframer of that
   * largest frame. Absent: the defaults.
   */
  limits?: Limits;
}

export interface ReplayScript {
  port: string;
  steps: ReplayStep[];
  /** lane frames after the RSU's last bytes */
  trailing: LaneFrameRef[];
}

function frameType(data: Buffer, d: Dialect): string {
  const r = decodeData(data, d);
  return r.ok ? r.frame.type : r.partial.type;
}

/** The deframer of one side of the port, with the limits the capture recorded for it. */
function deframerOf(d: Dialect, limits: Limits | undefined): Deframer {
  const l = limits ?? portLimits(undefined, false);
  return createDeframer(d.variant, { maxFrameLength: l.maxFrameLength, interByteTimeoutMs: l.interByteMs });
}

/**
 * The RSU side of `port` as steps. `rsuSide` says which direction the RSU's bytes are: "rx" when the
 * lane took the capture (the default: the lane reads what the RSU sends), "tx" when the RSU side did.
 * Both sides are deframed, as `etc-lane decode --capture` deframes them, with the limits the capture
 * recorded for the port in each run (its inter-byte timeout and largest frame). The records are read once,
 * in order, and only `port`'s kept (as steps): `cap.records` may be read one at a time (`etc-sim replay`
 * gives openCapture's records(), firmware-bridge/capture/read-capture.ts), so the other ports' records are
 * never all in memory.
 */
export function replayScript(
  cap: Pick<Capture, "ports" | "runs"> & { readonly records: Iterable<CaptureRecord> },
  d: Dialect,
  port = "rsu",
  rsuSide: "rx" | "tx" = "rx",
): ReplayScript {
  const laneSide = rsuSide === "rx" ? "tx" : "rx";
  const limitsOf = (run: number): Limits =>
    portLimits(
      cap.ports.find((p) => (p.run ?? 0) === run && p.name === port),
      false,
    );
  let limits = limitsOf(0);
  let deframer = deframerOf(d, limits);
  const steps: ReplayStep[] = [];
  let pending: LaneFrameRef[] = [];
  let prevT = 0;
  /** the run of the records read, and whether a step of it was made */
  let run = 0;
  let runHasStep = true;
  /** lane frames seen so far */
  let laneFrames = 0;

  // The RSU's bytes, deframed to find its repeats: a frame read in several chunks (a serial port hands a
  // long B4 over in several reads) is one frame, whichever steps its chunks went to. Positions count the
  // run's RSU bytes from its first.
  let rsuDeframer = deframerOf(d, limits);
  /** the RSU bytes of the run so far */
  let rsuLength = 0;
  /** the run's RSU bytes from position `tailAt` on: those the deframer's events have yet to account for */
  let tail = Buffer.alloc(0);
  let tailAt = 0;
  /** the position up to which the RSU deframer's events accounted for the bytes */
  let cursor = 0;
  /** the RSU's last frame, when nothing came after it: where it ends, and the lane frames seen by then */
  let lastRsu:
    | {
        raw: Buffer;
        end: number;
        laneFrames: number;
        /** when it is itself a repeat: its index in `found` */
        repeat?: number;
      }
    | undefined;
  /** per step: its run, and the position of its first byte in that run's RSU bytes */
  const stepRun: number[] = [];
  const stepStart: number[] = [];
  /**
   * the repeats found: where they are, where the frame they repeat ends, and that frame's index here when it
   * is a repeat itself (`prev`; null: the frame the RSU sent as new)
   */
  const found: {
    run: number;
    start: number;
    end: number;
    originalEnd: number;
    prev: number | null;
    frame: string;
  }[] = [];
  const rsuEvents = (events: DeframerEvent[]): void => {
    for (const ev of events) {
      // a checksum failure's bytes come as a discarded run too
      if (ev.kind === "checksum-error") continue;
      if (ev.kind === "discarded") {
        cursor += ev.bytes.length;
        lastRsu = undefined;
        continue;
      }
      const raw = ev.frame.raw;
      // Where the frame starts: at the position reached, or just after it (a legacy ETX the deframer kept
      // and dropped unreported), or one byte before it (a legacy frame starting on the previous frame's
      // ETX: firmware-bridge/framing/legacy.ts).
      const index = tail.indexOf(raw, Math.max(0, cursor - 1 - tailAt));
      if (index < 0) {
        lastRsu = undefined;
        continue;
      }
      const start = tailAt + index;
      const end = start + raw.length;
      if (lastRsu && lastRsu.end === start && lastRsu.laneFrames === laneFrames && lastRsu.raw.equals(raw)) {
        const prev = lastRsu.repeat ?? null;
        found.push({ run, start, end, originalEnd: lastRsu.end, prev, frame: frameType(ev.frame.data, d) });
        lastRsu = { raw, end, laneFrames, repeat: found.length - 1 };
      } else lastRsu = { raw, end, laneFrames };
      cursor = end;
    }
    // every byte not held by the deframer is accounted for (the ETX it keeps is a frame's: not held)
    cursor = rsuLength - rsuDeframer.buffered;
    const keep = Math.max(tailAt, cursor - 1);
    tail = tail.subarray(keep - tailAt);
    tailAt = keep;
  };

  for (const r of cap.records) {
    if (r.port !== port) continue;
    if ((r.run ?? 0) !== run) {
      // A run after the first (the lane started again): its clock is its own, so its first step's gap is
      // counted from its start, as the first run's is from the capture's; a half frame of the run before
      // is gone with the lane that read it.
      run = r.run ?? 0;
      prevT = cap.runs?.[run]?.t ?? r.t;
      limits = limitsOf(run);
      deframer = deframerOf(d, limits);
      rsuDeframer = deframerOf(d, limits);
      rsuLength = 0;
      tail = Buffer.alloc(0);
      tailAt = 0;
      cursor = 0;
      lastRsu = undefined;
      runHasStep = false;
    }
    if (r.dir === laneSide) {
      // A half frame older than the inter-byte timeout goes first, as the lane's timer drops it
      // (push() never expires: firmware-bridge/framing/types.ts).
      for (const ev of [...deframer.tick(r.t), ...deframer.push(r.bytes, r.t)]) {
        if (ev.kind !== "frame") continue;
        pending.push({ type: frameType(ev.frame.data, d), t: r.t });
        laneFrames++;
      }
    } else if (r.dir === rsuSide) {
      const prev = runHasStep ? steps.at(-1) : undefined;
      if (prev && pending.length === 0 && r.t - prevT < 1) {
        // Less than 1 ms after the previous bytes with no lane frame between: they arrived together
        // (a duplicated frame, a frame split in two reads) and go out as one write.
        prev.bytes = Buffer.concat([prev.bytes, r.bytes]);
      } else {
        const from = Math.max(prevT, pending.at(-1)?.t ?? 0);
        const step: ReplayStep = { t: r.t, bytes: r.bytes, after: pending, delayMs: Math.max(0, r.t - from) };
        if (!runHasStep && steps.length > 0) step.newRun = true;
        if (!runHasStep || steps.length === 0) step.limits = limits;
        steps.push(step);
        stepRun.push(run);
        stepStart.push(rsuLength);
        pending = [];
        prevT = r.t;
        runHasStep = true;
      }
      // as the lane's timer would, a half frame older than the inter-byte timeout goes first
      rsuEvents(rsuDeframer.tick(r.t));
      rsuLength += r.bytes.length;
      tail = Buffer.concat([tail, r.bytes]);
      rsuEvents(rsuDeframer.push(r.bytes, r.t));
    }
  }

  // Each repeat's bytes, marked in the steps they arrived in (decided once every chunk is in its step).
  /** the step holding byte `at` of `run`'s RSU bytes */
  const stepOf = (inRun: number, at: number): number =>
    stepRun.findLastIndex((x, i) => x === inRun && (stepStart[i] as number) <= at);
  /** per repeat: the id it is marked with (undefined: not marked, it goes out with the frame it repeats) */
  const ids: (number | undefined)[] = [];
  for (const [k, f] of found.entries()) {
    const first = stepOf(f.run, f.start);
    let id: number = k;
    if (first === stepOf(f.run, f.originalEnd - 1)) {
      // starting in the step where the frame it repeats ends: a frame and its copy handed over together go
      // out together, and a copy of a copy marked to be left out shares its fate (one decision)
      const joined = f.prev === null ? undefined : ids[f.prev];
      ids[k] = joined;
      if (joined === undefined) continue;
      id = joined;
    } else ids[k] = id; // a step of its own: judged when it comes up, as the lane under test stands then
    for (let i = first; i <= stepOf(f.run, f.end - 1); i++) {
      const step = steps[i] as ReplayStep;
      const at = stepStart[i] as number;
      const from = Math.max(f.start, at) - at;
      const to = Math.min(f.end, at + step.bytes.length) - at;
      if (to > from) step.repeats = [...(step.repeats ?? []), { from, to, id, frame: f.frame }];
    }
  }
  for (const step of steps) {
    const n = step.repeats?.reduce((sum, x) => sum + x.to - x.from, 0) ?? 0;
    if (n > 0 && n === step.bytes.length) step.repeat = true;
  }
  return { port, steps, trailing: pending };
}

export type ReplayEvent =
  /** a step's bytes went out: `bytes` of them (fewer than recorded when a repeat in it was left out) */
  | { type: "sent"; at: number; step: number; recordedT: number; frames: string[]; bytes: number }
  /** an RSU repeat left out: the lane under test had already sent `answer` (a real RSU stops repeating then) */
  | { type: "skipped"; at: number; step: number; recordedT: number; frames: string[]; answer: string }
  | { type: "echoed"; at: number; step: number; recorded: string; sent: string }
  /**
   * a C6/C3 of the lane under test that does not decode with the replay's dialect (`why`): its PurchaseTime
   * cannot be read, so the B5 that answers it goes out with its recorded TransTime. Once per replay.
   */
  | { type: "unread"; at: number; frame: string; why: string }
  | { type: "lane"; at: number; frame: string; expected: boolean }
  | { type: "diverged"; at: number; message: string };

export interface ReplayReport {
  steps: number;
  /** lane frames the recorded lane sent and the lane under test sent too */
  matched: number;
  expected: number;
  divergences: string[];
}

export interface ReplayOptions {
  transport: Transport;
  dialect: Dialect;
  script: ReplayScript;
  /** 2 plays twice as fast as recorded. Default 1. */
  speed?: number;
  /** How long to wait for each lane frame the recorded lane sent (after the first). Default 5000 ms. */
  waitMs?: number;
  /** How long to wait for the lane's first frame (a lane still starting). Default: no limit. */
  firstWaitMs?: number;
  /**
   * true (the default): a step that is exactly one B5 frame goes out with its TransTime set to the
   * PurchaseTime (national C3: EnTime) of the last C6/C3 the lane under test sent, the rest of the frame
   * as recorded (see echoPurchaseTime). false: every byte as recorded.
   */
  echoPurchaseTime?: boolean;
}

export class CaptureReplay {
  private readonly channel: FrameChannel;
  private readonly events = new Subject<ReplayEvent>();
  readonly events$: Observable<ReplayEvent> = this.events.asObservable();
  private readonly queue: string[] = [];
  private wake: (() => void) | undefined;
  private readonly subs: Subscription[] = [];
  private stopped = false;
  private t0 = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** the pending sleeps of run(), each with its resolve: stop() ends them */
  private readonly sleeps = new Map<ReturnType<typeof setTimeout>, () => void>();
  /**
   * the PurchaseTime (or national C3 EnTime) of the last C6/C3 the lane under test sent; null before the
   * first and after one that does not decode (an earlier vehicle's time is never echoed)
   */
  private purchaseTime: string | null = null;
  private unreadSaid = false;

  constructor(private readonly opts: ReplayOptions) {
    // the replay plays the RSU: it receives the lane under test's frames (an RSU frame back is an echo)
    this.channel = new FrameChannel({
      transport: opts.transport,
      dialect: opts.dialect,
      receives: "lane-to-rsu",
      channel: "REPLAY",
    });
  }

  private rel(): number {
    return performance.now() - this.t0;
  }

  private onLaneFrame(type: string): void {
    this.queue.push(type);
    this.wake?.();
  }

  async start(): Promise<void> {
    this.t0 = performance.now();
    this.subs.push(
      this.channel.frames$.subscribe((f) => {
        if (f.frame.type === "C6" || f.frame.type === "C3") {
          const g = f.frame as { purchaseTime?: unknown; enTime?: unknown };
          const t = g.purchaseTime ?? g.enTime;
          if (typeof t === "string") this.purchaseTime = t;
        }
        this.onLaneFrame(f.frame.type);
      }),
    );
    this.subs.push(
      this.channel.problems$.subscribe((p) => {
        if (p.kind !== "decode-error") return;
        const type = frameType(p.wire.data, this.opts.dialect);
        if (type === "C6" || type === "C3") {
          this.purchaseTime = null;
          if (!this.unreadSaid) {
            this.unreadSaid = true;
            this.events.next({ type: "unread", at: this.rel(), frame: type, why: p.error.message });
          }
        }
        this.onLaneFrame(type);
      }),
    );
    this.channel.start();
    if (this.opts.transport.status !== "open") await this.opts.transport.open();
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const h = setTimeout(() => {
        this.sleeps.delete(h);
        resolve();
      }, ms);
      // stop() ends the sleep too (a cleared timer alone would leave run() waiting for ever)
      this.sleeps.set(h, resolve);
    });
  }

  /** Waits for a lane frame of `type`; frames of other types before it are reported as extra. */
  private async expect(ref: LaneFrameRef, waitMs: number | undefined): Promise<boolean> {
    const deadline = waitMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + waitMs;
    for (;;) {
      const i = this.queue.indexOf(ref.type);
      if (i >= 0) {
        for (const extra of this.queue.splice(0, i + 1).slice(0, -1)) {
          this.events.next({ type: "lane", at: this.rel(), frame: extra, expected: false });
          this.diverge(`the lane sent ${extra}, which the recorded lane did not send here`);
        }
        this.events.next({ type: "lane", at: this.rel(), frame: ref.type, expected: true });
        return true;
      }
      const recorded = `the recorded lane did at ${(ref.t / 1000).toFixed(3)} s`;
      if (this.stopped) {
        // stopped (SIGINT/SIGTERM) while waiting: there may be no limit (the first frame waits for ever)
        this.diverge(`stopped while waiting for the lane's ${ref.type} (${recorded})`);
        return false;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        this.diverge(`the lane did not send ${ref.type} within ${waitMs} ms (${recorded}); going on`);
        return false;
      }
      await new Promise<void>((resolve) => {
        const h = Number.isFinite(left)
          ? setTimeout(() => {
              this.timers.delete(h as ReturnType<typeof setTimeout>);
              resolve();
            }, left)
          : undefined;
        if (h) this.timers.add(h);
        this.wake = () => {
          if (h) {
            clearTimeout(h);
            this.timers.delete(h);
          }
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  /**
   * A recorded B5 carries the purchase time of the recorded lane's C6, which a lane under test (sending
   * its own clock's) does not send again; a lane that checks the two against each other (etc-lane does:
   * docs/lane.md, "Uncertain debits") would take every replayed B5 for another debit's. So a step that is
   * exactly one B5 frame (re-encoding the recorded frame gives back the recorded bytes: no noise, no
   * second frame, no damage) whose TransTime differs goes out with the lane's PurchaseTime in its place,
   * re-encoded under its recorded sequence number; its TAC, serials and balance stay as recorded. Any
   * other step, a B5 before any C6/C3, and a B5 after a C6/C3 that does not decode with the replay's
   * dialect (its PurchaseTime unread: an "unread" event says so), goes out as recorded.
   */
  private echoPurchaseTime(bytes: Buffer, step: number): Buffer {
    const t = this.purchaseTime;
    if (t === null) return bytes;
    const d = this.opts.dialect;
    const evs = createDeframer(d.variant, { maxFrameLength: this.maxFrameLength }).push(bytes, 0);
    const only = evs.length === 1 && evs[0]!.kind === "frame" ? evs[0]!.frame : null;
    if (!only) return bytes;
    const r = decodeData(only.data, d);
    if (!r.ok || r.frame.type !== "B5") return bytes;
    const b5 = r.frame as Frame & { transTime?: string };
    if (typeof b5.transTime !== "string" || b5.transTime === t) return bytes;
    if (!encodeFrame(r.frame, only.seq, d).equals(bytes)) return bytes;
    const echoed = encodeFrame({ ...b5, transTime: t } as Frame, only.seq, d);
    this.events.next({ type: "echoed", at: this.rel(), step, recorded: b5.transTime, sent: t });
    return echoed;
  }

  /** the largest frame of the run being played, as the capture recorded it (ReplayStep.limits) */
  private maxFrameLength = portLimits(undefined, false).maxFrameLength;

  /**
   * What the recorded lane answered repeat `id` (first in step `i`) with: the first frame it sent after
   * the step holding the repeat's last byte, past steps that are nothing but repeats.
   */
  private answerTo(id: number, i: number): LaneFrameRef | undefined {
    const { steps, trailing } = this.opts.script;
    let last = i;
    while (steps[last + 1]?.repeats?.some((r) => r.id === id)) last++;
    const next = steps.slice(last + 1).find((s) => !s.repeat);
    return next ? next.after[0] : trailing[0];
  }

  private readonly divergences: string[] = [];
  private diverge(message: string): void {
    this.divergences.push(message);
    this.events.next({ type: "diverged", at: this.rel(), message });
  }

  /** Plays the script; resolves when the RSU's last bytes went out and the lane's last frames came. */
  async run(): Promise<ReplayReport> {
    const { script } = this.opts;
    const speed = this.opts.speed ?? 1;
    const waitMs = this.opts.waitMs ?? 5000;
    let expected = 0;
    let matched = 0;
    let first = true;
    const wait = async (refs: LaneFrameRef[]): Promise<void> => {
      for (const ref of refs) {
        expected++;
        // once stopped, the frames still awaited are counted, not reported one by one
        if (this.stopped) continue;
        if (await this.expect(ref, first ? this.opts.firstWaitMs : waitMs)) matched++;
        first = false;
      }
    };
    const d = this.opts.dialect;
    this.maxFrameLength = (script.steps[0]?.limits ?? portLimits(undefined, false)).maxFrameLength;
    let deframer = deframerOf(d, script.steps[0]?.limits);
    /** per repeat (RepeatBytes.id): whether it is left out, decided at its first bytes for all of them */
    const leftOut = new Map<number, boolean>();
    for (const [i, step] of script.steps.entries()) {
      if (this.stopped) break;
      await wait(step.after);
      await this.sleep(step.delayMs / speed);
      if (this.stopped) break;
      // the recorded RSU's bytes of a new run are named without a half frame of the run before, with the
      // limits the capture recorded for that run
      if (step.newRun) {
        deframer = deframerOf(d, step.limits);
        this.maxFrameLength = (step.limits ?? portLimits(undefined, false)).maxFrameLength;
      }
      // The recorded RSU repeated a frame because the recorded lane had not answered it yet. A lane under
      // test that already sent the answer (the first frame the recorded lane sent after the repeat) would
      // get the repeat after its answer and send that answer again, which the recorded lane never did; and
      // an RSU that has its answer does not repeat. So the repeat's bytes are left out then, in every step
      // it arrived in, and the rest of the step (another frame the RSU sent right after it) goes out.
      // Sent or left out, the lane under test sends the same frames.
      const kept: Buffer[] = [];
      let from = 0;
      for (const r of step.repeats ?? []) {
        let out = leftOut.get(r.id);
        if (out === undefined) {
          const answer = this.answerTo(r.id, i);
          out = answer !== undefined && this.queue.includes(answer.type);
          leftOut.set(r.id, out);
          if (answer !== undefined && out) {
            this.events.next({
              type: "skipped",
              at: this.rel(),
              step: i,
              recordedT: step.t,
              frames: [r.frame],
              answer: answer.type,
            });
          }
        }
        if (!out) continue;
        kept.push(step.bytes.subarray(from, r.from));
        from = r.to;
      }
      const recorded = from === 0 ? step.bytes : Buffer.concat([...kept, step.bytes.subarray(from)]);
      if (recorded.length === 0 && step.bytes.length > 0) continue;
      const frames = deframer
        .push(recorded, step.t)
        .flatMap((ev) => (ev.kind === "frame" ? [frameType(ev.frame.data, d)] : []));
      const bytes = this.opts.echoPurchaseTime === false ? recorded : this.echoPurchaseTime(recorded, i);
      try {
        await this.opts.transport.write(bytes);
        this.events.next({
          type: "sent",
          at: this.rel(),
          step: i,
          recordedT: step.t,
          frames,
          bytes: bytes.length,
        });
      } catch (e) {
        this.diverge(`could not send step ${i}: ${(e as Error).message}`);
      }
    }
    if (!this.stopped) await wait(script.trailing);
    return { steps: script.steps.length, matched, expected, divergences: [...this.divergences] };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const h of this.timers) clearTimeout(h);
    this.timers.clear();
    for (const [h, resolve] of this.sleeps) {
      clearTimeout(h);
      resolve();
    }
    this.sleeps.clear();
    this.wake?.();
    for (const s of this.subs) s.unsubscribe();
    this.channel.stop();
    await this.opts.transport.close().catch(() => {});
    this.events.complete();
  }
}
