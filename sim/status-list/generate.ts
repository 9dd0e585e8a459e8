/**
 * Synthetic national-size status lists for benchmarks, and a small one for tests. Streaming: ids are
 * produced already in key order (ascending serials with random gaps per card network, then ascending OBU
 * ids), so 30M rows need a few MB of memory, not GBs.
 */
import { readFileSync } from "node:fs";
import type { Logger } from "../../firmware-bridge/log.js";
import { OP_ADD, type RawRecord } from "../../src/status-list/bundle.js";
import { StatusListCache } from "../../src/status-list/cache.js";
import { formatCardId, formatObuId } from "../../src/status-list/ids.js";
import {
  BundleFileWriter,
  buildBundle,
  type ListRow,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
  versionAt,
} from "./bundle-builder.js";

/** Card network numbers (province 2 digits + 01), as on real cards. */
export const NETWORKS = [
  1101, 1201, 1301, 1401, 1501, 2101, 2201, 2301, 3101, 3201, 3301, 3401, 3501, 3601, 3701, 4101, 4201, 4301,
  4401, 4501, 4601, 5001, 5101, 5201, 5301, 5401, 6101, 6201, 6301, 6401, 6501,
];

export const SYNTHETIC_REASONS = ["挂失", "欠费", "透支", "注销", "OBU拆卸", "违规使用", "追缴", "其他"];

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenerateOptions {
  cards: number;
  obus: number;
  seed?: number;
  /** keep every n-th card/OBU id (for benchmarks: known hits); 0 = none */
  sampleEvery?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface GeneratedRecord {
  rec: RawRecord;
  /** the id as text, only when `wantId` returned true (keeps 30M rows cheap) */
  id?: string;
}

/**
 * Yield the records of a synthetic full list in key order. About 1% of ids carry two list types
 * (status + arrears). `wantId(i)` asks for the id text of record i.
 */
export function* syntheticRecords(
  o: GenerateOptions,
  wantId: (i: number) => boolean,
): Generator<GeneratedRecord> {
  const rnd = prng(o.seed ?? 1);
  const rec: RawRecord = { kind: 1, op: OP_ADD, listType: 1, net: 0, reason: 0, hi32: 0, lo32: 0 };
  let i = 0;
  const perNet = Math.ceil(o.cards / NETWORKS.length);
  let left = o.cards;
  for (const net of NETWORKS) {
    const n = Math.min(perNet, left);
    left -= n;
    // gaps average 4.5e15/n, so even n maximal gaps stay below 10^16 (16 digits)
    const avgGap = Math.max(2, Math.floor(4.5e15 / Math.max(1, n)));
    let cur = 0;
    for (let j = 0; j < n; j++) {
      cur += 1 + Math.floor(rnd() * (2 * avgGap - 1));
      const hi = Math.floor(cur / 4294967296);
      const lo = cur - hi * 4294967296;
      const two = rnd() < 0.01 && j < n - 1;
      const types = two ? [1, 2] : [rnd() < 0.9 ? 1 : 2];
      for (const lt of types) {
        if (lt === 2 && two) j++;
        rec.kind = 1;
        rec.net = net;
        rec.hi32 = hi;
        rec.lo32 = lo;
        rec.listType = lt;
        rec.reason = Math.floor(rnd() * SYNTHETIC_REASONS.length);
        yield wantId(i) ? { rec, id: formatCardId(net, (BigInt(hi) << 32n) | BigInt(lo)) } : { rec };
        i++;
      }
    }
  }
  // OBU ids are contract serials: 16 decimal digits, stored as their 8 BCD bytes (the digits read as
  // hex; docs/status-list.md section 2), the only OBU ids a lane ever looks up. Ascending serials with
  // random gaps (as the cards': even n maximal gaps stay below 9 * 10^15 < 2^53), so ascending keys.
  const obuGap = Math.max(2, Math.floor(4.5e15 / Math.max(1, o.obus)));
  let cur = 0;
  for (let j = 0; j < o.obus; j++) {
    cur += 1 + Math.floor(rnd() * (2 * obuGap - 1));
    const hi8 = Math.floor(cur / 1e8);
    const hi = bcd8(hi8);
    const lo = bcd8(cur - hi8 * 1e8);
    rec.kind = 2;
    rec.net = 0;
    rec.hi32 = hi;
    rec.lo32 = lo;
    rec.listType = rnd() < 0.9 ? 1 : 2;
    rec.reason = Math.floor(rnd() * SYNTHETIC_REASONS.length);
    yield wantId(i) ? { rec, id: formatObuId((BigInt(hi) << 32n) | BigInt(lo)) } : { rec };
    i++;
  }
}

/** The 4 BCD bytes of an 8-digit decimal number, as a 32-bit integer (12345678 -> 0x12345678). */
export function bcd8(x: number): number {
  let r = 0;
  let m = 1;
  for (let k = 0; k < 8; k++) {
    r += (x % 10) * m;
    x = Math.floor(x / 10);
    m *= 16;
  }
  return r;
}

export interface GenerateResult {
  records: number;
  bytes: number;
  samples: { cards: string[]; obus: string[] };
}

/** Write a signed full bundle of a synthetic list to `out`. */
export function generateBundleFile(
  out: string,
  o: GenerateOptions & { version: string; createdAt?: number; privateKeyPem: string | Buffer },
): GenerateResult {
  const w = new BundleFileWriter(
    out,
    {
      kind: "full",
      version: o.version,
      createdAt: o.createdAt ?? Date.now(),
      privateKeyPem: o.privateKeyPem,
    },
    SYNTHETIC_REASONS,
  );
  const samples = { cards: [] as string[], obus: [] as string[] };
  const every = o.sampleEvery ?? 0;
  const total = o.cards + o.obus;
  try {
    for (const g of syntheticRecords(o, (i) => every > 0 && i % every === 0)) {
      w.write(g.rec);
      if (g.id) (g.rec.kind === 1 ? samples.cards : samples.obus).push(g.id);
      if (o.onProgress && w.records % 1_000_000 === 0) o.onProgress(w.records, total);
    }
    return { records: w.records, bytes: w.finish(), samples };
  } catch (e) {
    w.abort();
    throw e;
  }
}

/** Write a synthetic list as CSV (kind,id,listType,reason) to a stream (stdout or a file), with back-pressure. */
export async function generateCsv(o: GenerateOptions, out: NodeJS.WritableStream): Promise<number> {
  let n = 0;
  let chunk = "kind,id,listType,reason\n";
  for (const g of syntheticRecords(o, () => true)) {
    chunk += `${g.rec.kind === 1 ? "card" : "obu"},${g.id},${g.rec.listType},${SYNTHETIC_REASONS[g.rec.reason]}\n`;
    n++;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
      chunk = "";
    }
  }
  await new Promise<void>((r) => out.write(chunk, () => r()));
  return n;
}

export interface DemoList {
  dataDir: string;
  versions: { full: string; delta: string };
  /** ids listed after the delta (for the demo to present) */
  listedCards: string[];
  listedObus: string[];
  /** ids the delta removed again */
  removedCards: string[];
}

/**
 * Create a small signed status list (a few hundred entries) plus one delta in `dataDir`, signed with
 * the simulator's TEST key, and import both (tests; the demo builds its own list, sim/demo/demo.ts).
 */
export async function demoStatusList(
  dataDir: string,
  opts: { entries?: number; now?: number; logger?: Logger } = {},
): Promise<DemoList> {
  const now = opts.now ?? Date.now();
  const n = opts.entries ?? 300;
  const rnd = prng(2024);
  const rows: ListRow[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 2) {
      // a contract serial: 16 decimal digits (a lane looks up no other OBU id)
      const hi = Math.floor(rnd() * 1e8);
      const lo = Math.floor(rnd() * 1e8);
      rows.push({
        kind: "obu",
        id: `${String(hi).padStart(8, "0")}${String(lo).padStart(8, "0")}`,
        listType: 1 + (i % 2),
        reason: SYNTHETIC_REASONS[i % 8] as string,
      });
    } else {
      const net = NETWORKS[i % NETWORKS.length] as number;
      const serial = BigInt(Math.floor(rnd() * 1e15)) * 10n + BigInt(i % 10);
      rows.push({
        kind: "card",
        id: formatCardId(net, serial),
        listType: 1 + (i % 2),
        reason: SYNTHETIC_REASONS[i % 8] as string,
      });
    }
  }
  const key = readFileSync(TEST_PRIVATE_KEY_PATH);
  const fullVersion = versionAt(now - 10 * 60_000);
  const deltaVersion = versionAt(now - 5 * 60_000);
  const removed = rows.filter((r) => r.kind === "card").slice(0, 5);
  const added: ListRow[] = [{ kind: "card", id: "35011234567890123456", listType: 1, reason: "挂失" }];
  const cache = await StatusListCache.open({
    dataDir,
    publicKeyPem: readFileSync(TEST_PUBLIC_KEY_PATH),
    // versionAt writes the station's versions in UTC+8
    utcOffsetMinutes: 8 * 60,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  try {
    const held = cache.versions();
    if (held.full === null || held.full < fullVersion) {
      await cache.applyBundle(
        buildBundle({
          kind: "full",
          version: fullVersion,
          createdAt: now - 10 * 60_000,
          rows,
          privateKeyPem: key,
        }),
      );
      await cache.applyBundle(
        buildBundle({
          kind: "delta",
          version: deltaVersion,
          base: fullVersion,
          createdAt: now - 5 * 60_000,
          rows: [...added, ...removed.map((r) => ({ ...r, op: "remove" as const }))],
          privateKeyPem: key,
        }),
      );
    }
  } finally {
    await cache.close();
  }
  const removedIds = new Set(removed.map((r) => r.id));
  return {
    dataDir,
    versions: { full: fullVersion, delta: deltaVersion },
    listedCards: [...added, ...rows]
      .filter((r) => r.kind === "card" && !removedIds.has(r.id))
      .map((r) => r.id),
    listedObus: rows.filter((r) => r.kind === "obu").map((r) => r.id),
    removedCards: [...removedIds],
  };
}
