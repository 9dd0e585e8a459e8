/**
 * Child for lock-holder-ns.test.ts, run in a pid namespace of its own: what this process reads of the
 * data directory <dataDir>'s lock holder (dataDirHolder, holderElsewhere), and a direct command's refusal
 * (acquireDataDirLock, as `etc-lane journal ...` takes it), printed as one JSON line.
 */
import { acquireDataDirLock, dataDirHolder, holderElsewhere } from "../../src/datadir/lock.js";

const dataDir = process.argv[2] as string;
let refusal: { code?: unknown; message: string; elsewhere?: unknown } | null = null;
try {
  acquireDataDirLock(
    dataDir,
    { role: "cli", command: "etc-lane journal settle" },
    { create: false },
  ).release();
} catch (e) {
  const err = e as Error & { code?: unknown; details?: { elsewhere?: unknown } };
  refusal = { code: err.code, message: err.message, elsewhere: err.details?.elsewhere };
}
process.stdout.write(
  `${JSON.stringify({ held: dataDirHolder(dataDir), elsewhere: holderElsewhere(dataDir), refusal })}\n`,
);
