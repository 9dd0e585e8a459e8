/**
 * Fakes for testing a frame channel (firmware-bridge/link/frame-channel.ts,
 * firmware-bridge/reader/reader-channel.ts) without a port: a transport whose reads the test delivers,
 * and a logger that keeps the warn and debug lines, for the line-noise tests
 * (firmware-bridge/noise-log.ts).
 */
import { BehaviorSubject, Subject } from "rxjs";
import { afterEach, beforeEach, vi } from "vitest";
import type { Logger } from "../../firmware-bridge/log.js";
import type { Transport, TransportState } from "../../firmware-bridge/transport/types.js";

/** A transport, open, whose reads the test delivers; what is written goes nowhere. */
export function fakeTransport(): Transport & { deliver(b: Buffer): void } {
  const data = new Subject<Buffer>();
  return {
    name: "fake",
    data$: data.asObservable(),
    state$: new BehaviorSubject<TransportState>({ status: "open" }).asObservable(),
    status: "open",
    open: async () => {},
    write: async () => {},
    close: async () => {},
    deliver: (b) => data.next(b),
  };
}

export interface Line {
  level: "warn" | "debug";
  msg: string;
  obj: Record<string, unknown>;
}

/** A logger that pushes its warn and debug lines onto `lines` and drops the other levels. */
export function recorder(lines: Line[]): Logger {
  const noop = (): void => {};
  const l: Logger = {
    trace: noop,
    info: noop,
    error: noop,
    debug: (o, m) => lines.push({ level: "debug", msg: m ?? "", obj: o as Record<string, unknown> }),
    warn: (o, m) => lines.push({ level: "warn", msg: m ?? "", obj: o as Record<string, unknown> }),
    child: () => l,
    isLevelEnabled: () => true,
  };
  return l;
}

/** The discarded runs, bytes and checksum errors that the NoiseLog summary lines report, added up. */
export function summedSummaries(summaries: Line[]): { runs: number; bytes: number; cs: number } {
  return summaries.reduce(
    (a, s) => ({
      runs: a.runs + (s.obj.discardedRuns as number),
      bytes: a.bytes + (s.obj.discardedBytes as number),
      cs: a.cs + (s.obj.checksumErrors as number),
    }),
    { runs: 0, bytes: 0, cs: 0 },
  );
}

/**
 * A channel made by `make` on a fake transport and a recording logger, started; `warns()` is the warn
 * lines logged so far.
 */
export function recordedChannel<C extends { start(): void }>(
  make: (transport: Transport, logger: Logger) => C,
): { t: ReturnType<typeof fakeTransport>; ch: C; lines: Line[]; warns: () => Line[] } {
  const t = fakeTransport();
  const lines: Line[] = [];
  const ch = make(t, recorder(lines));
  ch.start();
  return { t, ch, lines, warns: () => lines.filter((l) => l.level === "warn") };
}

/** Each test of the file on vitest's fake timers, real timers put back after it. */
export function eachTestOnFakeTimers(): void {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** The messages of the warn lines that `act` adds to `warns()`. */
export function warnsDuring(warns: () => Line[], act: () => void): string[] {
  const before = warns().length;
  act();
  return warns()
    .slice(before)
    .map((l) => l.msg);
}
