/**
 * Option values several `etc-sim` commands take alike, checked alike: `--seed` (sim/seed.ts gives each
 * run's range) and `--port PATH`, each refused with a usage error naming the option.
 */
import { UsageError } from "../../src/cli/run-cli.js";
import { isSeed, type SeedRange, seedExpected } from "../seed.js";

/** `--seed`: an integer in `range`, or undefined when not given. */
export function seedOption(v: string | undefined, range: SeedRange): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !isSeed(n, range))
    throw new UsageError(`--seed: ${seedExpected(range)}, got "${v}"`);
  return n;
}

/** `--port`: the path of a serial port; an empty one (`--port=$UNSET_VARIABLE`) is refused. */
export function portOption(v: string): string {
  if (!v) throw new UsageError('--port: expected the PATH of a serial port, e.g. /dev/ttyUSB0, got ""');
  return v;
}
