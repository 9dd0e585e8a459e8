/** Shared fixtures for the status-list tests: keys, temp dirs, small signed lists, a state snapshot. */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildBundle,
  type ListRow,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../../sim/status-list/index.js";
import type { StatusListCache } from "../../src/status-list/index.js";

export const stationKey = readFileSync(TEST_PRIVATE_KEY_PATH);
export const stationPub = readFileSync(TEST_PUBLIC_KEY_PATH);

export function otherKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }) as string,
  };
}

export function tempDir(prefix = "etc-sl-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }) };
}

export function card(n: number, net = 3201): string {
  return `${net}${String(n).padStart(16, "0")}`;
}

export function obu(n: number): string {
  return n.toString(16).toUpperCase().padStart(16, "0");
}

/** `n` card rows and `n / 2` OBU rows, ids derived from `tag` so lists differ per tag. */
export function sampleRows(n: number, tag = 0): ListRow[] {
  const rows: ListRow[] = [];
  for (let i = 0; i < n; i++)
    rows.push({ kind: "card", id: card(tag * 1_000_000 + i), listType: 1 + (i % 2), reason: `r${i % 5}` });
  for (let i = 0; i < n / 2; i++)
    rows.push({ kind: "obu", id: obu(0xa000_0000 + tag * 1_000_000 + i), listType: 1, reason: "欠费" });
  return rows;
}

export function full(
  version: string,
  rows: ListRow[],
  opts: { key?: string | Buffer | null; createdAt?: number } = {},
): Buffer {
  return buildBundle({
    kind: "full",
    version,
    rows,
    createdAt: opts.createdAt ?? Date.now(),
    privateKeyPem: opts.key === undefined ? stationKey : opts.key,
  });
}

export function delta(
  version: string,
  base: string,
  rows: ListRow[],
  opts: { key?: string | Buffer | null; createdAt?: number } = {},
): Buffer {
  return buildBundle({
    kind: "delta",
    version,
    base,
    rows,
    createdAt: opts.createdAt ?? Date.now(),
    privateKeyPem: opts.key === undefined ? stationKey : opts.key,
  });
}

/**
 * A bundle signed with the station's test key that lists one card (list type 1, reason "lost"), written to
 * `dir` as `<kind>-<version>.bundle`: a file for `etc-lane status-list import`. Its path.
 */
export function bundleFile(
  dir: string,
  cardId: string,
  kind: "full" | "delta",
  version: string,
  base?: string,
): string {
  const path = join(dir, `${kind}-${version}.bundle`);
  writeFileSync(
    path,
    buildBundle({
      kind,
      version,
      ...(base ? { base } : {}),
      privateKeyPem: stationKey,
      rows: [{ kind: "card", id: cardId, listType: 1, reason: "lost" }],
    }),
  );
  return path;
}

/** Everything observable about the active list: versions, counts, answers for probe ids, files on disk. */
export function snapshot(cache: StatusListCache, probes: { cardId?: string; obuId?: string }[]): unknown {
  const info = cache.info();
  return {
    versions: cache.versions(),
    db: info.db,
    counts: info.counts,
    answers: probes.map((p) => {
      const r = cache.lookup(p);
      return { listed: r.listed, entries: r.entries, versions: r.versions };
    }),
    files: readdirSync(cache.dir).sort(),
  };
}
