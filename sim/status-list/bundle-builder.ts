/**
 * The station side of the status-list bundle format: build signed full lists and deltas, in memory
 * (`buildBundle`) or streamed to a file (`BundleFileWriter`, for national-size lists).
 * The keys in config/keys/station-test.*.pem are TEST keys, never for production.
 */
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type BundleKind,
  compareRecords,
  encodeHeader,
  encodeReasons,
  HEADER_LEN,
  isValidVersion,
  MAX_REASON_BYTES,
  MAX_REASONS,
  OP_ADD,
  OP_REMOVE,
  PREFIX_LEN,
  publicKeyIdFromPrivate,
  type RawRecord,
  RECORD_LEN,
  SIG_LEN,
  sha256,
  signHeader,
  writeRecord,
} from "../../src/status-list/bundle.js";
import { parseCardId, parseObuId } from "../../src/status-list/ids.js";
import { LIST_TYPE_NAMES } from "../../src/status-list/types.js";

/** The package root (works from the TypeScript sources and from dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("etc-lane package root not found");
    dir = up;
  }
  return dir;
}

/** The simulator's TEST key pair (never for production). */
export const TEST_PUBLIC_KEY_PATH = join(packageRoot(), "config/keys/station-test.pub.pem");
export const TEST_PRIVATE_KEY_PATH = join(packageRoot(), "config/keys/station-test.key.pem");

export interface ListRow {
  kind: "card" | "obu";
  id: string;
  /** 1 status, 2 arrears, 3 green channel, 4 emergency, 5 two-passenger-one-hazard, 6 other; 1-255 */
  listType: number;
  reason: string;
  /** deltas only; default add */
  op?: "add" | "remove";
  /** the CSV line it was read from (parseListCsv), named in buildBundle's errors; else "row N" */
  line?: number;
}

export interface BundleSpec {
  kind: BundleKind;
  /** yyyyMMddhhmm */
  version: string;
  /** delta: the version it applies on */
  base?: string;
  /** issue time, ms since the epoch (default now) */
  createdAt?: number;
  /** the station's Ed25519 private key (PEM); null builds an unsigned bundle (for tests) */
  privateKeyPem: string | Buffer | null;
}

function checkSpec(spec: BundleSpec): void {
  const created = spec.createdAt;
  // the header holds ms since the epoch, unsigned; a lane refuses more than Number.MAX_SAFE_INTEGER
  if (created !== undefined && !(Number.isSafeInteger(created) && created >= 0))
    throw new RangeError(`createdAt must be whole ms since 1970-01-01 (0 or more), got ${created}`);
  if (!isValidVersion(spec.version))
    throw new RangeError(`version must be yyyyMMddhhmm, got ${spec.version}`);
  if (spec.kind === "delta") {
    if (spec.base === undefined || !isValidVersion(spec.base)) {
      throw new RangeError(`a delta needs a base version yyyyMMddhhmm, got ${spec.base}`);
    }
    if (spec.base >= spec.version)
      throw new RangeError(`delta version ${spec.version} must be after base ${spec.base}`);
  } else if (spec.base !== undefined) throw new RangeError("a full list has no base version");
}

export function rowToRecord(row: ListRow, reasonIndex: number): RawRecord {
  if (!Number.isInteger(row.listType) || row.listType < 1 || row.listType > 255) {
    throw new RangeError(`list type must be 1-255, got ${row.listType}`);
  }
  const op = row.op === "remove" ? OP_REMOVE : OP_ADD;
  if (row.kind === "card") {
    const k = parseCardId(row.id);
    return {
      kind: 1,
      op,
      listType: row.listType,
      net: k.net,
      reason: reasonIndex,
      hi32: Number(k.serial >> 32n),
      lo32: Number(k.serial & 0xffffffffn),
    };
  }
  if (row.kind !== "obu") throw new RangeError(`row kind must be card or obu, got ${String(row.kind)}`);
  const k = parseObuId(row.id);
  return { kind: 2, op, listType: row.listType, net: 0, reason: reasonIndex, hi32: k.hi32, lo32: k.lo32 };
}

function finishHeader(
  spec: BundleSpec,
  counts: { records: number; reasons: number; bodyLength: number; digest: Buffer },
): Buffer {
  const header = encodeHeader({
    kind: spec.kind,
    version: spec.version,
    base: spec.kind === "delta" ? (spec.base as string) : null,
    createdAt: spec.createdAt ?? Date.now(),
    recordCount: counts.records,
    reasonCount: counts.reasons,
    bodyLength: counts.bodyLength,
    digest: counts.digest,
    keyId: spec.privateKeyPem ? publicKeyIdFromPrivate(spec.privateKeyPem) : Buffer.alloc(8),
  });
  const sig = spec.privateKeyPem ? signHeader(header, spec.privateKeyPem) : Buffer.alloc(SIG_LEN);
  return Buffer.concat([header, sig]);
}

/** How buildBundle's errors name a row: its CSV line, else its place in `rows` (from 1). */
function rowName(row: ListRow, i: number): string {
  return row.line === undefined ? `row ${i + 1}` : `CSV line ${row.line}`;
}

/**
 * Build a signed bundle in memory. Full lists are sorted; a duplicate (kind, id, list type) is an error,
 * as are a reason longer than MAX_REASON_BYTES and more than MAX_REASONS distinct reasons (every lane
 * refuses such a bundle); each names the row (its CSV line when it has one).
 */
export function buildBundle(spec: BundleSpec & { rows: readonly ListRow[] }): Buffer {
  checkSpec(spec);
  const reasons: string[] = [];
  const reasonIdx = new Map<string, number>();
  let recs = spec.rows.map((row, i) => {
    if (spec.kind === "full" && row.op === "remove")
      throw new RangeError(`${rowName(row, i)}: a full list cannot remove`);
    let idx = reasonIdx.get(row.reason);
    if (idx === undefined) {
      const bytes = Buffer.byteLength(row.reason, "utf8");
      if (bytes > MAX_REASON_BYTES)
        throw new RangeError(`${rowName(row, i)}: reason longer than ${MAX_REASON_BYTES} bytes (${bytes})`);
      if (reasons.length === MAX_REASONS)
        throw new RangeError(
          `${rowName(row, i)}: more than ${MAX_REASONS} distinct reasons, the most a bundle holds`,
        );
      idx = reasons.length;
      reasons.push(row.reason);
      reasonIdx.set(row.reason, idx);
    }
    try {
      return rowToRecord(row, idx);
    } catch (e) {
      throw new RangeError(`${rowName(row, i)}: ${(e as Error).message}`);
    }
  });
  if (spec.kind === "full") {
    // sorted by index, so a duplicate names both rows
    const order = recs.map((_, i) => i);
    order.sort((a, b) => compareRecords(recs[a] as RawRecord, recs[b] as RawRecord) || a - b);
    for (let k = 1; k < order.length; k++) {
      const a = order[k - 1] as number;
      const b = order[k] as number;
      if (compareRecords(recs[a] as RawRecord, recs[b] as RawRecord) === 0) {
        const ra = spec.rows[a] as ListRow;
        const rb = spec.rows[b] as ListRow;
        const where =
          ra.line !== undefined && rb.line !== undefined
            ? `CSV lines ${ra.line} and ${rb.line}`
            : `${rowName(ra, a)} and ${rowName(rb, b)}`;
        throw new RangeError(
          `${where}: ${ra.kind} ${ra.id} list type ${ra.listType} appears twice (a full list names each entry once)`,
        );
      }
    }
    const unsorted = recs;
    recs = order.map((i) => unsorted[i] as RawRecord);
  }
  const reasonBytes = encodeReasons(reasons);
  const body = Buffer.alloc(reasonBytes.length + recs.length * RECORD_LEN);
  reasonBytes.copy(body, 0);
  for (const [i, r] of recs.entries()) writeRecord(body, reasonBytes.length + i * RECORD_LEN, r);
  const prefix = finishHeader(spec, {
    records: recs.length,
    reasons: reasons.length,
    bodyLength: body.length,
    digest: sha256().update(body).digest(),
  });
  return Buffer.concat([prefix, body]);
}

/**
 * Stream a bundle to a file: records go out through a 4 MB buffer while the digest runs; `finish()`
 * writes the signed header at the front. Full lists must be written in key order (checked).
 */
export class BundleFileWriter {
  private readonly fd: number;
  private readonly hash = sha256();
  private readonly buf = Buffer.alloc(4 << 20);
  private used = 0;
  private pos = PREFIX_LEN;
  private bodyLength = 0;
  records = 0;
  private readonly prev: RawRecord = { kind: 0, op: 0, listType: 0, net: 0, reason: 0, hi32: 0, lo32: 0 };

  constructor(
    readonly path: string,
    private readonly spec: BundleSpec,
    private readonly reasons: readonly string[],
  ) {
    checkSpec(spec);
    if (reasons.length > MAX_REASONS)
      throw new RangeError(`${reasons.length} distinct reasons, more than the ${MAX_REASONS} a bundle holds`);
    this.fd = openSync(path, "w");
    writeSync(this.fd, Buffer.alloc(PREFIX_LEN), 0, PREFIX_LEN, 0);
    this.push(encodeReasons(reasons));
  }

  private push(b: Buffer): void {
    this.flush();
    this.hash.update(b);
    writeSync(this.fd, b, 0, b.length, this.pos);
    this.pos += b.length;
    this.bodyLength += b.length;
  }

  private flush(): void {
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off, this.pos + off);
    this.pos += chunk.length;
    this.bodyLength += chunk.length;
    this.used = 0;
  }

  write(r: RawRecord): void {
    if (r.reason >= this.reasons.length)
      throw new RangeError(`reason index ${r.reason} not in the reason table`);
    if (this.spec.kind === "full") {
      // as buildBundle refuses it: every lane refuses a full list that removes
      if (r.op !== OP_ADD) throw new RangeError(`record ${this.records}: a full list cannot remove`);
      if (this.records > 0 && compareRecords(this.prev, r) >= 0) {
        throw new RangeError(
          `record ${this.records}: a full list must be written in strictly increasing key order`,
        );
      }
      Object.assign(this.prev, r);
    }
    if (this.used + RECORD_LEN > this.buf.length) this.flush();
    writeRecord(this.buf, this.used, r);
    this.used += RECORD_LEN;
    this.records++;
  }

  /** Write the header and signature, close the file; returns the file size. */
  finish(): number {
    this.flush();
    const prefix = finishHeader(this.spec, {
      records: this.records,
      reasons: this.reasons.length,
      bodyLength: this.bodyLength,
      digest: this.hash.digest(),
    });
    writeSync(this.fd, prefix, 0, HEADER_LEN + SIG_LEN, 0);
    closeSync(this.fd);
    return this.pos;
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** List type from a CSV cell: a number 1-255 or a name (status, arrears, ...). */
export function parseListType(cell: string): number {
  const t = cell.trim();
  if (/^[0-9]+$/.test(t)) return Number(t);
  const hit = Object.entries(LIST_TYPE_NAMES).find(([, name]) => name === t.toLowerCase());
  if (!hit) throw new RangeError(`unknown list type ${JSON.stringify(cell)}`);
  return Number(hit[0]);
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quoted) throw new RangeError("unterminated quote");
  out.push(cur);
  return out;
}

/**
 * Parse CSV rows `kind,id,listType,reason[,op]`: kind card|obu, listType a number or name, op add|remove
 * (default add; deltas only). "#" lines and blank lines are ignored wherever they are; an optional header
 * line starting with "kind", the first line that is neither, is skipped (after a comment an export tool
 * wrote, say); reasons with commas are double-quoted.
 */
export function parseListCsv(text: string): ListRow[] {
  const rows: ListRow[] = [];
  const lines = text.split(/\r?\n/);
  let first = true;
  lines.forEach((line, i) => {
    if (line.trim() === "" || line.startsWith("#")) return;
    const header = first && /^\s*kind\s*,/i.test(line);
    first = false;
    if (header) return;
    try {
      const cells = splitCsv(line);
      if (cells.length < 4 || cells.length > 5)
        throw new RangeError(`expected 4 or 5 columns, got ${cells.length}`);
      const kind = (cells[0] as string).trim().toLowerCase();
      if (kind !== "card" && kind !== "obu")
        throw new RangeError(`kind must be card or obu, got ${cells[0]}`);
      const op = (cells[4] ?? "add").trim().toLowerCase() || "add";
      if (op !== "add" && op !== "remove") throw new RangeError(`op must be add or remove, got ${cells[4]}`);
      const row: ListRow = {
        kind,
        id: (cells[1] as string).trim(),
        listType: parseListType(cells[2] as string),
        reason: cells[3] as string,
        op,
        line: i + 1,
      };
      const reasonBytes = Buffer.byteLength(row.reason, "utf8");
      if (reasonBytes > MAX_REASON_BYTES)
        throw new RangeError(`reason longer than ${MAX_REASON_BYTES} bytes (${reasonBytes})`);
      // validate the id now, with the line number. A card of network 0000 a lane takes, counts and alarms
      // (src/status-list/ids.ts cardWithoutNetwork), and it matches no card: refused here, where nothing
      // else is lost, so the CSV is put right before a bundle exists (docs/status-list.md section 2)
      if (rowToRecord(row, 0).net === 0 && kind === "card")
        throw new RangeError(
          `card ${row.id}: network 0000 (a card id is its 0015 network, 4 digits, then its 16-digit serial; an entry without the network matches no card on any lane)`,
        );
      rows.push(row);
    } catch (e) {
      throw new RangeError(`CSV line ${i + 1}: ${(e as Error).message}`);
    }
  });
  return rows;
}

/** yyyyMMddhhmm of a time, in UTC+8 (China Standard Time, as the station issues versions). */
export function versionAt(ms: number): string {
  const d = new Date(ms + 8 * 3600_000);
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}
