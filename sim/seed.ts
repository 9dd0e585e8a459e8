/**
 * What a simulator seed is, for the options, scenario files and APIs that take one. The RSU's generator
 * (Rng, sim/rsu/clock.ts: mulberry32) makes every uint32 its own stream, so an RSU run takes
 * 0..4294967295. The reader's cards draw their INIT random numbers from xorshift32
 * (sim/card/card-store.ts), which cannot run from 0, so a reader run takes 1..4294967295. The card store
 * beside the RSU (`etc-sim rsu --reader-pty`) takes the RSU's seed, 0 included, not run as 1: seed 0's first
 * card starts from the fixed nonzero state 0x9e3779b9, so it draws what seed 2654435769's first card draws
 * (2^32 seeds onto 2^32-1 states, the others unchanged), its next cards as no other seed's. Outside its range a seed would
 * silently repeat another seed's run (1.5 as 1, 4294967296 as 0, -1 as 4294967295), so it is refused.
 */
import { z } from "zod";

export interface SeedRange {
  min: number;
  max: number;
}

/** The seeds of an RSU run (`etc-sim rsu --seed`, a scenario's `seed`, RsuSimulatorOptions.seed). */
export const RSU_SEEDS: SeedRange = { min: 0, max: 0xffff_ffff };

/** The seeds of a reader run (`etc-sim reader --seed`, a reader scenario's `seed`). */
export const READER_SEEDS: SeedRange = { min: 1, max: 0xffff_ffff };

/** What a seed in `range` is, for an error naming the option or field before it. */
export function seedExpected(range: SeedRange): string {
  return `expected an integer ${range.min}..${range.max}`;
}

/** Whether `v` is a seed in `range`. */
export function isSeed(v: unknown, range: SeedRange): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= range.min && v <= range.max;
}

/** A scenario file's `seed` in `range`: an error names the field (by its path) and the range. */
export function seedSchema(range: SeedRange) {
  const error = (i: { input?: unknown }): string => `${seedExpected(range)}, got ${JSON.stringify(i.input)}`;
  return z.number({ error }).int({ error }).min(range.min, { error }).max(range.max, { error });
}
