/**
 * A wire capture as a timeline of decoded frames: each port and direction is deframed on its own, in
 * time order, and every frame is shown the way `etc-lane decode` shows one (./analyse.ts), with the
 * time it was complete. Bytes that were not a frame, port state changes and the note of a write that
 * failed are on the timeline too.
 * The booth's card-reader port (`protocol=etc-reader`) is deframed with the reader's framing
 * (docs/reader.md): each frame named as the reader driver's wire log names it, with its fields.
 */
import type { Capture, CapturePort, CaptureRecord } from "../../firmware-bridge/capture/read-capture.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { crcHex } from "../../firmware-bridge/framing/crc.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import type { DeframerEvent } from "../../firmware-bridge/framing/types.js";
import { ReaderDeframer, type ReaderDeframerEvent } from "../../firmware-bridge/reader/deframer.js";
import { READER_CAPTURE_PROTOCOL } from "../../firmware-bridge/reader/frame.js";
import { describeFrame } from "../../firmware-bridge/reader/framed-card-reader.js";
import { checksumMismatch, dataToJson } from "./analyse.js";

export interface TimelineEntry {
  /** ms since the capture's first record */
  t: number;
  /** every key of the printed object, `t` first */
  json: Record<string, unknown>;
  /** a frame decoded fully with a good checksum, or a port state change */
  complete: boolean;
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

/** What one port and direction's bytes print, without the time and place the timeline adds. */
interface Decoded {
  json: Record<string, unknown>;
  complete: boolean;
}

/** The decoder of one port and direction: bytes in as they were captured, lines out. */
interface StreamDecoder {
  push(bytes: Buffer, t: number): Decoded[];
  /** a half frame's expiry: what its deframer drops once `t` is past its last byte + the inter-byte timeout */
  tick(t: number): Decoded[];
  /** a half frame dropped as the port opened again: what its deframer held, `why` being the reason given */
  reset(why: string): Decoded[];
  /**
   * something the inter-byte timeout will end: a half frame buffered, or a too-long frame's span still open
   * with nothing buffered (the deframer's msUntilExpiry is defined), which the lane's link ends on its timer
   * too (firmware-bridge/framing/deframer.ts tick)
   */
  readonly pending: boolean;
  /** the inter-byte timeout its deframer applies (ms) */
  readonly interByteMs: number;
}

/**
 * The limits a port is deframed with when neither the options nor the capture say (a capture written
 * before the lane recorded them): the deframers' default inter-byte timeout
 * (firmware-bridge/framing/deframer.ts, firmware-bridge/reader/deframer.ts) and each framing's largest
 * possible frame.
 */
const INTER_BYTE_MS = 50;
const RSU_MAX_FRAME = 65_536;
const READER_MAX_FRAME = 65_544;

/** Deframer limits for every port, overriding what the capture recorded (`decode --capture` options). */
export interface TimelineOptions {
  interByteMs?: number;
  maxFrameLength?: number;
}

/** The limits a port's deframer applies. */
export interface Limits {
  interByteMs: number;
  maxFrameLength: number;
}

/**
 * The limits `port` is deframed with: those `opts` give, else those its capture recorded (its description's
 * inter-byte-ms / max-frame-length), else INTER_BYTE_MS and its framing's largest frame (`reader`: the booth
 * card reader's framing). `decode --capture` and `etc-sim replay` (sim/replay/replay.ts) both use it.
 */
export function portLimits(
  port: CapturePort | undefined,
  reader: boolean,
  opts: TimelineOptions = {},
): Limits {
  return {
    interByteMs: opts.interByteMs ?? port?.interByteMs ?? INTER_BYTE_MS,
    maxFrameLength:
      opts.maxFrameLength ?? port?.maxFrameLength ?? (reader ? READER_MAX_FRAME : RSU_MAX_FRAME),
  };
}

/** An RSU port, its frames as `etc-lane decode` shows them (./analyse.ts). */
function rsuDecoder(d: Dialect, limits: Limits): StreamDecoder {
  const deframer = createDeframer(d.variant, {
    maxFrameLength: limits.maxFrameLength,
    interByteTimeoutMs: limits.interByteMs,
  });
  const decode = (events: DeframerEvent[]): Decoded[] =>
    events.flatMap((ev): Decoded[] => {
      if (ev.kind === "frame") {
        const w = ev.frame;
        const header = d.variant === "national" ? { ver: w.ver, len: w.data.length } : undefined;
        const r = dataToJson(w.data, w.seq, true, d, header);
        return [{ json: { ...r.json, hex: w.raw.toString("hex") }, complete: r.complete }];
      }
      if (ev.kind === "checksum-error") {
        return [
          {
            json: { discarded: ev.candidate.toString("hex"), why: checksumMismatch(ev, d.variant) },
            complete: false,
          },
        ];
      }
      // a checksum discard is the checksum-error event above, already shown
      if (ev.reason === "checksum") return [];
      return [{ json: { discarded: ev.bytes.toString("hex"), why: ev.reason }, complete: false }];
    });
  return {
    push: (bytes, t) => decode(deframer.push(bytes, t)),
    tick: (t) => decode(deframer.tick(t)),
    reset: (why) => decode(deframer.reset()).map((l) => ({ ...l, json: { ...l.json, why } })),
    get pending() {
      return deframer.msUntilExpiry(0) !== undefined;
    },
    interByteMs: limits.interByteMs,
  };
}

/**
 * The booth card reader's port, with the reader's framing (docs/reader.md): each frame named as the
 * reader driver's wire log names it. The lane's side was captured: tx went to the reader, rx came from it.
 */
function readerDecoder(dir: "tx" | "rx", limits: Limits): StreamDecoder {
  const deframer = new ReaderDeframer({
    maxFrameLength: limits.maxFrameLength,
    interByteTimeoutMs: limits.interByteMs,
  });
  const decode = (events: ReaderDeframerEvent[]): Decoded[] =>
    events.map((ev): Decoded => {
      if (ev.kind === "discarded") {
        const why =
          ev.reason !== "checksum"
            ? ev.reason
            : ev.crc
              ? `CRC mismatch: frame says ${crcHex(ev.crc.frame)}, bytes give ${crcHex(ev.crc.computed)}`
              : "CRC mismatch";
        return { json: { discarded: ev.bytes.toString("hex"), why }, complete: false };
      }
      const f = ev.frame;
      return {
        json: {
          reader: describeFrame(f, dir === "tx" ? "->" : "<-"),
          seq: f.seq,
          cmd: f.cmd,
          p: f.p,
          data: f.data.toString("hex"),
          hex: f.raw.toString("hex"),
        },
        complete: true,
      };
    });
  return {
    push: (bytes, t) => decode(deframer.push(bytes, t)),
    tick: (t) => decode(deframer.tick(t)),
    reset: (why) => decode(deframer.reset()).map((l) => ({ ...l, json: { ...l.json, why } })),
    get pending() {
      return deframer.msUntilExpiry(0) !== undefined;
    },
    interByteMs: limits.interByteMs,
  };
}

/**
 * The timeline of `cap`. `dialectFor` gives the RSU dialect of each port that is not the card reader's
 * (it may throw, e.g. for a port that does not say its protocol). Each port is deframed with the limits
 * `opts` give, else those its capture recorded, else INTER_BYTE_MS and its framing's largest frame.
 *
 * A capture of several runs (firmware-bridge/capture/read-capture.ts) is shown run after run, each
 * starting with a line naming it and its files; each run's ports are deframed as that run's files
 * describe them, by deframers of their own, as the lane started again had new ones.
 */
export function captureTimeline(
  cap: Capture,
  dialectFor: (port: CapturePort) => Dialect,
  opts: TimelineOptions = {},
): TimelineEntry[] {
  return [...timelineEntries(cap, dialectFor, opts)];
}

/** What a timeline is made of: the capture's runs and ports, and its records in order (read as they come). */
export type TimelineSource = Pick<Capture, "runs" | "ports"> & { readonly records: Iterable<CaptureRecord> };

/**
 * The entries of captureTimeline, each as soon as the records it needs were read: the records are taken
 * one at a time and only each port and direction's deframer state is kept (`etc-lane decode --capture`
 * prints each entry as it comes, src/cli/commands/decode.ts).
 */
export function* timelineEntries(
  cap: TimelineSource,
  dialectFor: (port: CapturePort) => Dialect,
  opts: TimelineOptions = {},
): Generator<TimelineEntry> {
  const portKey = (run: number, name: string): string => `${run}/${name}`;
  const ports = new Map(cap.ports.map((p) => [portKey(p.run ?? 0, p.name), p]));
  const readerPorts = new Set(
    cap.ports.filter((p) => p.speaks === READER_CAPTURE_PROTOCOL).map((p) => portKey(p.run ?? 0, p.name)),
  );
  const dialects = new Map(
    [...ports].filter(([key]) => !readerPorts.has(key)).map(([key, p]) => [key, dialectFor(p)]),
  );
  const limitsOf = (key: string): Limits => portLimits(ports.get(key), readerPorts.has(key), opts);
  interface Stream {
    port: string;
    dir: "tx" | "rx";
    decoder: StreamDecoder;
    /** the last chunk's times */
    lastT: number;
    lastWallMs: number;
  }
  /** the current run's streams, by port and direction */
  const streams = new Map<string, Stream>();
  const out: TimelineEntry[] = [];
  const emit = (t: number, wallMs: number, port: string, dir: "tx" | "rx", lines: Decoded[]): void => {
    const where = { t: round3(t), time: new Date(wallMs).toISOString(), port, dir };
    for (const l of lines) out.push({ t, json: { ...where, ...l.json }, complete: l.complete });
  };
  /**
   * Every half frame whose inter-byte timeout ran out before `t` is dropped, and every too-long span
   * ended, as the lane's link does on its timer (firmware-bridge/link/frame-channel.ts), in the order the
   * timeouts ran out, each stamped with the moment it ran out: its stream's last byte + the inter-byte
   * timeout.
   */
  const expireBefore = (t: number): void => {
    const due = [...streams.values()]
      .filter((s) => s.decoder.pending && t - s.lastT > s.decoder.interByteMs)
      .sort((a, b) => a.lastT + a.decoder.interByteMs - (b.lastT + b.decoder.interByteMs));
    for (const s of due) {
      const ms = s.decoder.interByteMs;
      emit(s.lastT + ms, s.lastWallMs + ms, s.port, s.dir, s.decoder.tick(t));
    }
  };
  const runs = cap.runs ?? [];
  /** A capture of several runs says where each starts, naming it and its files. */
  const announce = (i: number): void => {
    const r = runs[i];
    if (runs.length < 2 || r === undefined) return;
    const time = r.wallMs !== undefined ? { time: new Date(r.wallMs).toISOString() } : {};
    out.push({ t: r.t, json: { t: round3(r.t), ...time, run: r.name, files: r.files }, complete: true });
  };
  /** the run whose records are being read */
  let current: number | undefined;
  /**
   * The records of `run` come next: the run before it is over (its half frames expire after its last
   * record, as at the end of the capture), and every run up to it is announced.
   */
  const enter = (run: number): void => {
    if (run === current) return;
    if (current !== undefined) {
      expireBefore(Number.POSITIVE_INFINITY);
      streams.clear();
    }
    for (let i = (current ?? -1) + 1; i <= run; i++) announce(i);
    current = run;
  };
  /** What record `r` adds to the timeline, in `out`. */
  const take = (r: CaptureRecord): void => {
    const run = r.run ?? 0;
    enter(run);
    expireBefore(r.t);
    if (r.dir === "state") {
      out.push({
        t: r.t,
        json: { t: round3(r.t), time: new Date(r.wallMs).toISOString(), port: r.port, state: r.state },
        complete: true,
      });
      // The lane drops a half frame when the port opens (again): its link's and its reader channel's
      // receivers start afresh (firmware-bridge/link/rsu-link.ts, firmware-bridge/reader/framed-card-reader.ts).
      if (r.state === "open") {
        for (const dir of ["tx", "rx"] as const) {
          const s = streams.get(`${r.port}/${dir}`);
          if (s?.decoder.pending) emit(r.t, r.wallMs, r.port, dir, s.decoder.reset("port reopened"));
        }
      }
      return;
    }
    const key = `${r.port}/${r.dir}`;
    let s = streams.get(key);
    if (!s) {
      const port = portKey(run, r.port);
      const decoder = readerPorts.has(port)
        ? readerDecoder(r.dir, limitsOf(port))
        : rsuDecoder(dialects.get(port) as Dialect, limitsOf(port));
      s = { port: r.port, dir: r.dir, decoder, lastT: r.t, lastWallMs: r.wallMs };
      streams.set(key, s);
    }
    if (r.bytes.length > 0) {
      s.lastT = r.t;
      s.lastWallMs = r.wallMs;
    }
    if (r.note !== undefined) {
      // a chunk the lane wrote whose write failed ("write failed: why"): its bytes may have reached the peer
      out.push({
        t: r.t,
        json: {
          t: round3(r.t),
          time: new Date(r.wallMs).toISOString(),
          port: r.port,
          dir: r.dir,
          note: r.note,
        },
        complete: true,
      });
    }
    if (r.cutFrom !== undefined) {
      // A chunk cut to a snap length (editcap -s): its bytes are not the ones that crossed the port, so they
      // are shown as such and not deframed; the half frame before them cannot be completed.
      if (s.decoder.pending)
        emit(r.t, r.wallMs, r.port, r.dir, s.decoder.reset("the next chunk was cut short by the capture"));
      emit(r.t, r.wallMs, r.port, r.dir, [
        {
          json: {
            discarded: r.bytes.toString("hex"),
            why: `cut short by the capture (snap length): ${r.bytes.length} of the ${r.cutFrom} bytes that crossed the port were kept, not decoded`,
          },
          complete: false,
        },
      ]);
      return;
    }
    emit(r.t, r.wallMs, r.port, r.dir, s.decoder.push(r.bytes, r.t));
  };
  for (const r of cap.records) {
    take(r);
    // each entry as soon as it is known: the next record is not read before
    yield* out;
    out.length = 0;
  }
  // Runs with no record at the end are announced too.
  enter(Math.max(current ?? 0, runs.length - 1));
  // Half frames still buffered at the end of the capture: their timeouts ran out after it.
  expireBefore(Number.POSITIVE_INFINITY);
  yield* out;
}
