/**
 * Bench data for the lane benchmarks: a national-size status list built once and kept under
 * <root>/bench-out/lane/sl-<entries>/ (gitignored; about 500 MB at 30M entries), and a 100,000-entry
 * delta that chains on whatever version the cached list holds now, so every run applies a fresh one.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatCardId, formatObuId } from "../../src/status-list/ids.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { SUBDIR } from "../../src/status-list/store.js";
import { NETWORKS, prng } from "../status-list/generate.js";
import {
  buildBundle,
  generateBundleFile,
  type ListRow,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../status-list/index.js";

/** Rebuild the cached list when it is older than this (its staleness alarm fires at 48 h). */
const MAX_AGE_MS = 40 * 3600_000;

const pad = (n: number): string => String(n).padStart(2, "0");
function stamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;
}
function parseStamp(v: string): number {
  return Date.UTC(+v.slice(0, 4), +v.slice(4, 6) - 1, +v.slice(6, 8), +v.slice(8, 10), +v.slice(10, 12));
}

export interface LaneBenchData {
  /** the lane's data directory: the cached status list, no journal, no audit log */
  dataDir: string;
  entries: number;
  /** false when this run built the list */
  reused: boolean;
  buildSeconds: number;
}

/**
 * The lane data directory with an imported list of `entries` entries (two thirds cards, one third
 * OBUs), reused when present and fresh; everything else in the directory (journal, audit log) is
 * deleted so every run starts with an empty journal.
 */
export async function laneBenchData(
  root: string,
  entries: number,
  log: (l: string) => void,
): Promise<LaneBenchData> {
  const dataDir = join(root, "bench-out", "lane", `sl-${entries}`);
  const marker = join(dataDir, "bench-list.json");
  let reused = false;
  let buildSeconds = 0;
  if (existsSync(marker)) {
    const m = JSON.parse(readFileSync(marker, "utf8")) as { createdAt: number };
    reused = Date.now() - m.createdAt < MAX_AGE_MS;
    if (!reused) log(`  cached ${entries.toLocaleString("en-US")}-entry list is older than 40 h: rebuilding`);
  }
  if (!reused) {
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    const createdAt = Date.now() - 60_000;
    const bundle = join(dataDir, "full.bin");
    const t = performance.now();
    log(`  generating a ${entries.toLocaleString("en-US")}-entry status list (cached in ${dataDir})`);
    const cards = Math.round((entries * 2) / 3);
    generateBundleFile(bundle, {
      cards,
      obus: entries - cards,
      seed: 7,
      version: stamp(createdAt - 3600_000),
      createdAt,
      privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
    });
    const cache = await StatusListCache.open({ dataDir, publicKeyPem: readFileSync(TEST_PUBLIC_KEY_PATH) });
    log("  importing it");
    await cache.applyBundle(bundle);
    await cache.close();
    rmSync(bundle);
    buildSeconds = (performance.now() - t) / 1000;
    writeFileSync(marker, JSON.stringify({ createdAt, entries }));
  }
  for (const f of readdirSync(dataDir)) {
    if (f !== SUBDIR && f !== "bench-list.json") rmSync(join(dataDir, f), { recursive: true, force: true });
  }
  return { dataDir, entries, reused, buildSeconds };
}

/** Size of the cached list's files in MB (database, WAL, filter). */
export function listMegabytes(dataDir: string): number {
  const dir = join(dataDir, SUBDIR);
  let bytes = 0;
  for (const f of readdirSync(dir)) bytes += statSync(join(dir, f)).size;
  return bytes / 1e6;
}

/**
 * A signed delta of `n` entries (adds of random cards and OBUs) that chains on `holds` (the version
 * the lane holds now), written to `path`.
 */
export function writeDelta(
  path: string,
  holds: string,
  n: number,
  seed: number,
): { version: string; rows: number } {
  const version = stamp(Math.max(Date.now(), parseStamp(holds) + 60_000));
  const rnd = prng(seed);
  const rows: ListRow[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 2) {
      const hi = Math.floor(rnd() * 2 ** 32);
      const lo = Math.floor(rnd() * 2 ** 32);
      rows.push({
        kind: "obu",
        id: formatObuId((BigInt(hi) << 32n) | BigInt(lo)),
        listType: 2,
        reason: "新增欠费",
      });
    } else {
      const net = NETWORKS[Math.floor(rnd() * NETWORKS.length)] as number;
      rows.push({
        kind: "card",
        id: formatCardId(net, BigInt(Math.floor(rnd() * 9e15))),
        listType: 1,
        reason: "新增挂失",
      });
    }
  }
  const bytes = buildBundle({
    kind: "delta",
    version,
    base: holds,
    createdAt: Date.now(),
    rows,
    privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
  });
  writeFileSync(path, bytes);
  return { version, rows: rows.length };
}
