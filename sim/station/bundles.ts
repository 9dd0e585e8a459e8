/**
 * Status-list bundles served by the station simulator, from a directory of files named
 *   full-<version>.bundle          a full list at <version>
 *   delta-<base>-<version>.bundle  an increment from <base> (a full or delta version) to <version>
 * A name carries the bundle's own version, the one in its header: yyyyMMddhhmm for fulls and deltas alike.
 * The versions come from the names alone (versions of digits compare as numbers): a delta whose version
 * is not after its base (delta-V-V, delta-V5-V0) is not served; the chain starts from the version the lane
 * holds (or that of the full list sent with it), each next delta on the previous one's version, and stops
 * at a version it already reached.
 * The bytes are opaque here: the lane's status-list module verifies their signature.
 * The directory itself must be one that can be read when the station starts (statusListDirProblem, checked
 * by startStation in ./station.ts and by `etc-sim station --status-list-dir`); if it stops being readable
 * while the station runs, manifests offer no bundle and onDirUnreadable is told once, until it is read again.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, readSync, type Stats, statSync } from "node:fs";
import { join } from "node:path";

export const FULL_RE = /^full-([0-9A-Za-z_.]+)\.bundle$/;
export const DELTA_RE = /^delta-([0-9A-Za-z_.]+)-([0-9A-Za-z_.]+)\.bundle$/;

export interface BundleInfo {
  name: string;
  kind: "full" | "delta";
  /** for a delta, the version it applies on top of */
  base: string | null;
  version: string;
  bytes: number;
  sha256: string;
  pageSize: number;
  pages: number;
}

export interface Manifest {
  /** a newer full list than the lane holds, or null */
  full: BundleInfo | null;
  /** increments to apply in order after `full` (or on top of what the lane holds) */
  deltas: BundleInfo[];
  /** the newest versions the station has: of its full lists, and of its deltas (whatever their base) */
  latest: { full: string | null; delta: string | null };
}

/** The largest bundle page the simulator serves (one page is one buffer): 1 GiB. */
export const MAX_PAGE_SIZE = 2 ** 30;

/**
 * Why `dir` cannot serve as the directory of status-list bundles (missing, not a directory, not
 * readable: the error of reading it, e.g. "ENOENT: no such file or directory, scandir '...'"), or null.
 */
export function statusListDirProblem(dir: string): string | null {
  try {
    readdirSync(dir);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export function compareVersions(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    if (a.length !== b.length) return a.length - b.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

export class BundleStore {
  private readonly cache = new Map<string, { mtimeMs: number; size: number; sha256: string }>();
  /** `.bundle` entries already told to `onSkipped` (once each; an unreadable one again once it was served) */
  private readonly skipped = new Set<string>();
  /** the directory could not be read at the last look (told to onDirUnreadable once, when it became so) */
  private dirUnreadable = false;
  constructor(
    readonly dir: string | undefined,
    readonly pageSize: number,
    /**
     * a `.bundle` entry not served: its name is neither full-<version> nor delta-<base>-<version>
     * (`unreadable` null), or it is no regular file that can be read (a dangling link, a directory, a file
     * gone between the directory's read and its own: `unreadable` says why); the others are served
     */
    private readonly onSkipped?: (name: string, unreadable: string | null) => void,
    /** a delta not served since its version is not after its base (told once per file, as onSkipped) */
    private readonly onBackwards?: (name: string, base: string, version: string) => void,
    /**
     * the directory cannot be read (`why`: the error): every manifest offers no bundle meanwhile; told once
     * when it becomes so, not at each request, and again only after it was read in between
     */
    private readonly onDirUnreadable?: (why: string) => void,
  ) {}

  /** Whether `name` is a delta whose version is not after its base: never chained nor served. */
  private static backwards(name: string): { base: string; version: string } | null {
    const d = DELTA_RE.exec(name);
    return d && compareVersions(d[2]!, d[1]!) <= 0 ? { base: d[1]!, version: d[2]! } : null;
  }

  list(): BundleInfo[] {
    if (!this.dir) return [];
    let names: string[];
    try {
      names = readdirSync(this.dir);
      this.dirUnreadable = false;
    } catch (e) {
      if (!this.dirUnreadable) {
        this.dirUnreadable = true;
        this.onDirUnreadable?.((e as Error).message);
      }
      return [];
    }
    const out: BundleInfo[] = [];
    for (const name of names) {
      const f = FULL_RE.exec(name);
      const d = f ? null : DELTA_RE.exec(name);
      if (!f && !d) {
        if (name.endsWith(".bundle") && !this.skipped.has(name)) {
          this.skipped.add(name);
          this.onSkipped?.(name, null);
        }
        continue;
      }
      const back = BundleStore.backwards(name);
      if (back) {
        // offered, a self-loop would fill the chain with itself, a step back would be refused by the lane
        if (!this.skipped.has(name)) {
          this.skipped.add(name);
          this.onBackwards?.(name, back.base, back.version);
        }
        continue;
      }
      // one entry that cannot be read must not fail the whole manifest: the rest is served
      try {
        const st = statSync(join(this.dir, name));
        if (!st.isFile()) throw new Error("not a regular file");
        out.push(this.info(this.dir, name, st));
        this.skipped.delete(name);
      } catch (e) {
        if (!this.skipped.has(name)) {
          this.skipped.add(name);
          this.onSkipped?.(name, (e as Error).message);
        }
      }
    }
    return out;
  }

  /** A bundle file's info; its sha256 is computed once per file version (mtime and size). */
  private info(dir: string, name: string, st: Stats): BundleInfo {
    const f = FULL_RE.exec(name);
    const d = f ? null : DELTA_RE.exec(name);
    let c = this.cache.get(name);
    if (!c || c.mtimeMs !== st.mtimeMs || c.size !== st.size) {
      const sha256 = createHash("sha256")
        .update(readFileSync(join(dir, name)))
        .digest("hex");
      c = { mtimeMs: st.mtimeMs, size: st.size, sha256 };
      this.cache.set(name, c);
    }
    return {
      name,
      kind: f ? "full" : "delta",
      base: d ? d[1]! : null,
      version: f ? f[1]! : d![2]!,
      bytes: st.size,
      sha256: c.sha256,
      pageSize: this.pageSize,
      pages: Math.max(1, Math.ceil(st.size / this.pageSize)),
    };
  }

  manifest(held: { full: string | null; delta: string | null }, maxDeltas = 100): Manifest {
    const all = this.list();
    const fulls = all.filter((b) => b.kind === "full").sort((a, b) => compareVersions(a.version, b.version));
    const deltas = all.filter((b) => b.kind === "delta");
    const latestFull = fulls[fulls.length - 1] ?? null;
    let full: BundleInfo | null = null;
    let cur: string | null = held.delta ?? held.full;
    // a full list only when it is newer than the version the lane holds (its last delta's, else its full
    // list's): the lane refuses any other (src/status-list/version-order.ts), so offering it would only
    // make a refusal on every poll
    if (latestFull && (cur === null || compareVersions(latestFull.version, cur) > 0)) {
      full = latestFull;
      cur = latestFull.version;
    }
    const chain: BundleInfo[] = [];
    // each delta's version is after its base (list), but names can still make a cycle (versions not all of
    // digits compare as text: 2 < 10 as numbers, 10 < 1a < 2 as text): the chain ends at a version seen
    const seen = new Set<string>(cur === null ? [] : [cur]);
    while (cur !== null && chain.length < maxDeltas) {
      const from = cur;
      const next = deltas
        .filter((d) => d.base === from)
        .sort((a, b) => compareVersions(b.version, a.version))[0];
      if (!next || seen.has(next.version)) break;
      chain.push(next);
      seen.add(next.version);
      cur = next.version;
    }
    // the newest of the files, reachable or not: a delta missing from a chain leaves the lane short of it,
    // and `latest` tells it so (src/uplink/status-list-poller.ts)
    const latestDelta =
      deltas
        .map((d) => d.version)
        .sort(compareVersions)
        .at(-1) ?? null;
    return { full, deltas: chain, latest: { full: latestFull?.version ?? null, delta: latestDelta } };
  }

  /**
   * One page of a bundle, or null if there is no such bundle/page. Only that bundle is looked at (not the
   * directory), and only the page's bytes are read, at their offset: a full list of hundreds of MB is
   * served page by page without reading it whole for each page.
   */
  page(name: string, page: number): { data: Buffer; info: BundleInfo } | null {
    if (!this.dir || (!FULL_RE.test(name) && !DELTA_RE.test(name)) || BundleStore.backwards(name))
      return null;
    const path = join(this.dir, name);
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      return null;
    }
    if (!st.isFile()) return null;
    const info = this.info(this.dir, name, st);
    if (!Number.isInteger(page) || page < 0 || page >= info.pages) return null;
    const start = page * this.pageSize;
    const data = Buffer.alloc(Math.max(0, Math.min(this.pageSize, st.size - start)));
    const fd = openSync(path, "r");
    try {
      let got = 0;
      while (got < data.length) {
        const n = readSync(fd, data, got, data.length - got, start + got);
        if (n === 0) break; // the file shrank meanwhile
        got += n;
      }
      return { data: data.subarray(0, got), info };
    } finally {
      closeSync(fd);
    }
  }
}
