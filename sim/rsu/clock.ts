/**
 * Time and randomness for the simulator. Everything that waits goes through a `SimClock`, so tests can
 * substitute fake timers and long scenarios can run their traffic faster than real time; everything
 * random comes from a seeded generator, so the same scenario and seed replay the same run.
 */

export interface SimClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Run `fn` after `ms` milliseconds; returns a handle for `clear`. */
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/**
 * Real timers. The globals are looked up at call time so `vi.useFakeTimers()` applies. Timers are
 * unref'd only when `unref` is set (the standalone CLI keeps the process alive by its transport).
 */
export function realClock(opts: { unref?: boolean } = {}): SimClock {
  return {
    now: () => performance.now(),
    set(fn, ms) {
      const h = globalThis.setTimeout(fn, Math.max(0, ms));
      if (opts.unref) h.unref?.();
      return h;
    },
    clear(h) {
      globalThis.clearTimeout(h as ReturnType<typeof setTimeout>);
    },
  };
}

/** A seeded PRNG (mulberry32). `fork(label)` gives an independent stream, stable across code changes elsewhere. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    // mulberry32 runs from any state, 0 included: every uint32 seed is its own stream
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(minIncl: number, maxIncl: number): number {
    return minIncl + Math.floor(this.next() * (maxIncl - minIncl + 1));
  }
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
  /** Exponential inter-arrival time with the given mean (Poisson arrivals). */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
  hex(bytes: number): string {
    let s = "";
    for (let i = 0; i < bytes; i++) s += this.int(0, 255).toString(16).padStart(2, "0");
    return s;
  }
  fork(label: string): Rng {
    let h = this.s ^ 0x85ebca6b;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Rng(h);
  }
}
