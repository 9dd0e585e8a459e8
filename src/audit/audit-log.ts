/**
 * Tamper-evident audit log for maintenance staff: append-only JSON lines in dataDir/audit.log.
 * Each entry carries the SHA-256 of the previous entry ("prev") and its own hash ("hash", the SHA-256 of the
 * line's exact bytes without the hash field), so editing, deleting or reordering any line breaks the chain
 * from that line on. Every `sealEvery` entries (and on close) an "audit.seal" entry signs the chain head
 * with a per-lane Ed25519 key generated on first start (dataDir/audit-key.pem, mode 0600).
 *
 * What it proves: that the file was not edited casually after the fact. Someone with write access to the
 * data directory AND the key can rewrite the whole chain and re-seal it; it is not proof against root.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify as verifySig,
} from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { JournalErrorCodes } from "../journal/errors.js";

export const AUDIT_FILE = "audit.log";
export const AUDIT_KEY_FILE = "audit-key.pem";
export const AUDIT_PUBLIC_KEY_FILE = "audit-key.pub.pem";
const GENESIS = "0".repeat(64);
const HASH_TAIL = /,"hash":"([0-9a-f]{64})"\}$/;

export type AuditSeverity = "info" | "warn" | "alarm";

export interface AuditEventInput {
  type: string;
  severity: AuditSeverity;
  message: string;
  data?: object;
}

export interface AuditEntry extends AuditEventInput {
  /** 0-based index in the chain (= line number - 1) */
  i: number;
  ts: string;
  prev: string;
  hash: string;
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  /** seals whose signature checked out */
  seals: number;
  /** entries after the last good seal (covered by the hash chain only) */
  unsealed: number;
  firstBadIndex?: number;
  /** 1-based line number of the first bad line */
  line?: number;
  reason?: string;
}

export interface AuditLogOptions {
  dataDir: string;
  logger?: Logger;
  /** seal every N entries; 0 disables seals; default 100 */
  sealEvery?: number;
  /** fsync after each append; default true */
  fsync?: boolean;
  now?: () => Date;
}

const sha256 = (s: string | Buffer): string => createHash("sha256").update(s).digest("hex");

/** Reads a file line by line, synchronously, in 1 MiB chunks. Yields [line, endsWithNewline]. */
function* lines(path: string): Generator<[string, boolean]> {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    let rest = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      let chunk = Buffer.concat([rest, buf.subarray(0, n)]);
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10)) {
        yield [chunk.subarray(0, nl).toString("utf8"), true];
        chunk = chunk.subarray(nl + 1);
      }
      rest = Buffer.from(chunk);
    }
    if (rest.length > 0) yield [rest.toString("utf8"), false];
  } finally {
    closeSync(fd);
  }
}

/** Checks one line against the chain; returns the parsed entry or a reason. */
function checkLine(line: string, index: number, prev: string): { entry: AuditEntry } | { reason: string } {
  const m = HASH_TAIL.exec(line);
  if (!m) return { reason: "no hash field at the end of the line" };
  const body = `${line.slice(0, m.index)}}`;
  if (sha256(body) !== m[1]) return { reason: "hash does not match the line's content (line edited)" };
  let e: AuditEntry;
  try {
    e = JSON.parse(line) as AuditEntry;
  } catch {
    return { reason: "not JSON" };
  }
  if (e.i !== index)
    return { reason: `index ${String(e.i)} where ${index} was expected (line removed or inserted)` };
  if (e.prev !== prev) return { reason: "prev does not match the previous entry's hash (chain broken)" };
  return { entry: e };
}

function loadPublicKey(dataDir: string): KeyObject | null {
  const pub = join(dataDir, AUDIT_PUBLIC_KEY_FILE);
  const priv = join(dataDir, AUDIT_KEY_FILE);
  try {
    if (existsSync(pub)) return createPublicKey(readFileSync(pub));
    if (existsSync(priv)) return createPublicKey(createPrivateKey(readFileSync(priv)));
  } catch (e) {
    throw new EtcError(
      JournalErrorCodes.AuditRead,
      `audit key in ${dataDir} is unreadable: ${(e as Error).message}`,
    );
  }
  return null;
}

/** Verifies the chain and seals of dataDir/audit.log without opening it for writing. */
export function verifyAuditLog(dataDir: string): AuditVerifyResult {
  const path = join(dataDir, AUDIT_FILE);
  if (!existsSync(path)) return { ok: true, entries: 0, seals: 0, unsealed: 0 };
  const key = loadPublicKey(dataDir);
  let prev = GENESIS;
  let index = 0;
  let seals = 0;
  let lastSealEnd = 0;
  const bad = (reason: string): AuditVerifyResult => ({
    ok: false,
    entries: index,
    seals,
    unsealed: index - lastSealEnd,
    firstBadIndex: index,
    line: index + 1,
    reason,
  });
  for (const [line, complete] of lines(path)) {
    if (!complete) return bad("last line is incomplete (torn write)");
    const r = checkLine(line, index, prev);
    if ("reason" in r) return bad(r.reason);
    const e = r.entry;
    if (e.type === "audit.seal") {
      const d = e.data as { head?: string; sig?: string } | undefined;
      if (!d?.head || !d.sig || d.head !== prev) return bad("seal does not name the chain head before it");
      if (key) {
        if (!verifySig(null, Buffer.from(d.head, "hex"), key, Buffer.from(d.sig, "base64"))) {
          return bad("seal signature does not verify with the lane's audit key");
        }
        seals++;
        lastSealEnd = index + 1;
      }
    }
    prev = e.hash;
    index++;
  }
  return { ok: true, entries: index, seals, unsealed: index - lastSealEnd };
}

/** Reads entries (for `etc-lane audit list`); stops quietly at the first line that is not JSON. */
export function* readAuditLog(dataDir: string, opts: { since?: Date } = {}): Generator<AuditEntry> {
  const path = join(dataDir, AUDIT_FILE);
  if (!existsSync(path)) return;
  for (const [line] of lines(path)) {
    let e: AuditEntry;
    try {
      e = JSON.parse(line) as AuditEntry;
    } catch {
      return;
    }
    if (opts.since && new Date(e.ts) < opts.since) continue;
    yield e;
  }
}

export class AuditLog {
  private fd: number;
  private prev: string;
  private nextIndex: number;
  private sinceSeal = 0;
  private readonly key: KeyObject | null;
  private readonly log: Logger;
  private readonly sealEvery: number;
  private readonly doFsync: boolean;
  private readonly now: () => Date;
  readonly path: string;

  private constructor(
    opts: AuditLogOptions,
    fd: number,
    prev: string,
    nextIndex: number,
    key: KeyObject | null,
  ) {
    this.fd = fd;
    this.prev = prev;
    this.nextIndex = nextIndex;
    this.key = key;
    this.path = join(opts.dataDir, AUDIT_FILE);
    this.log = (opts.logger ?? silentLogger).child({ module: "audit" });
    this.sealEvery = opts.sealEvery ?? 100;
    this.doFsync = opts.fsync ?? true;
    this.now = opts.now ?? (() => new Date());
  }

  static open(opts: AuditLogOptions): AuditLog {
    const path = join(opts.dataDir, AUDIT_FILE);
    let fd: number;
    try {
      mkdirSync(opts.dataDir, { recursive: true });
      fd = openSync(path, "a+", 0o640);
    } catch (e) {
      throw new EtcError(
        JournalErrorCodes.AuditWrite,
        `audit log ${path}: cannot open: ${(e as Error).message}`,
        { path },
      );
    }
    const sealEvery = opts.sealEvery ?? 100;
    let key: KeyObject | null = null;
    if (sealEvery > 0) key = AuditLog.loadOrCreateKey(opts.dataDir);

    // find the chain head: the last complete line
    const size = fstatSync(fd).size;
    let prev = GENESIS;
    let next = 0;
    const notes: AuditEventInput[] = [];
    if (size > 0) {
      const tailLen = Math.min(size, 1 << 20);
      const tail = Buffer.alloc(tailLen);
      readSync(fd, tail, 0, tailLen, size - tailLen);
      let end = tail.length;
      if (tail[tail.length - 1] !== 10) {
        // a torn last write (crash mid-append): cut it off, and say so in the chain
        const lastNl = tail.lastIndexOf(10);
        const cut = lastNl + 1;
        const torn = tail.subarray(cut);
        ftruncateSync(fd, size - tailLen + cut);
        end = cut;
        notes.push({
          type: "audit.torn-tail",
          severity: "warn",
          message: `an incomplete last line (${torn.length} bytes) was cut off at start-up`,
          data: { bytes: torn.length, sha256: sha256(torn) },
        });
      }
      const body = tail.subarray(0, end);
      const lastLineStart = body.lastIndexOf(10, body.length - 2) + 1;
      const lastLine = body
        .subarray(lastLineStart, Math.max(lastLineStart, body.length - 1))
        .toString("utf8");
      if (lastLine.length > 0) {
        const m = HASH_TAIL.exec(lastLine);
        let parsed: AuditEntry | null = null;
        try {
          parsed = JSON.parse(lastLine) as AuditEntry;
        } catch {
          parsed = null;
        }
        if (m && parsed && Number.isInteger(parsed.i)) {
          prev = m[1]!;
          next = parsed.i + 1;
        } else {
          // cannot continue the chain from a damaged line: continue from its raw hash; verify() still flags it
          prev = sha256(lastLine);
          let count = 0;
          for (const _ of lines(path)) count++;
          next = count;
          notes.push({
            type: "audit.chain-damaged",
            severity: "alarm",
            message: "the last audit line is damaged; the chain continues from its raw hash",
            data: { line: count },
          });
        }
      }
    }
    const a = new AuditLog(opts, fd, prev, next, key);
    for (const n of notes) a.append(n);
    return a;
  }

  private static loadOrCreateKey(dataDir: string): KeyObject {
    const privPath = join(dataDir, AUDIT_KEY_FILE);
    try {
      if (existsSync(privPath)) return createPrivateKey(readFileSync(privPath));
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      writeFileSync(privPath, privateKey.export({ type: "pkcs8", format: "pem" }), {
        mode: 0o600,
        flag: "wx",
      });
      writeFileSync(join(dataDir, AUDIT_PUBLIC_KEY_FILE), publicKey.export({ type: "spki", format: "pem" }), {
        mode: 0o644,
      });
      return privateKey;
    } catch (e) {
      throw new EtcError(JournalErrorCodes.AuditRead, `audit key ${privPath}: ${(e as Error).message}`, {
        path: privPath,
      });
    }
  }

  /** Appends one entry (fsync'd unless disabled) and returns it. Throws E621_AUDIT_WRITE on failure. */
  append(ev: AuditEventInput): AuditEntry {
    const entry = this.write(ev);
    if (ev.type !== "audit.seal" && this.key && this.sealEvery > 0 && ++this.sinceSeal >= this.sealEvery)
      this.seal();
    return entry;
  }

  /** Signs the current chain head (no-op without a key or with nothing new since the last seal). */
  seal(): void {
    if (!this.key || this.nextIndex === 0) return;
    const sig = sign(null, Buffer.from(this.prev, "hex"), this.key).toString("base64");
    this.write({
      type: "audit.seal",
      severity: "info",
      message: `seal over entries 0..${this.nextIndex - 1}`,
      data: { head: this.prev, upTo: this.nextIndex - 1, sig },
    });
    this.sinceSeal = 0;
  }

  private write(ev: AuditEventInput): AuditEntry {
    if (this.fd < 0) throw new EtcError(JournalErrorCodes.AuditWrite, `audit log ${this.path} is closed`);
    const base = {
      i: this.nextIndex,
      ts: this.now().toISOString(),
      type: ev.type,
      severity: ev.severity,
      message: ev.message,
      ...(ev.data !== undefined ? { data: ev.data } : {}),
      prev: this.prev,
    };
    const body = JSON.stringify(base);
    const hash = sha256(body);
    const line = `${body.slice(0, -1)},"hash":"${hash}"}\n`;
    try {
      writeSync(this.fd, line);
      if (this.doFsync) fsyncSync(this.fd);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "audit append failed");
      throw new EtcError(
        JournalErrorCodes.AuditWrite,
        `audit log ${this.path}: ${(e as Error).message}`,
        { path: this.path },
        { cause: e },
      );
    }
    this.prev = hash;
    this.nextIndex++;
    return { ...base, hash };
  }

  verify(): AuditVerifyResult {
    return verifyAuditLog(join(this.path, ".."));
  }

  get entries(): number {
    return this.nextIndex;
  }

  close(): void {
    if (this.fd < 0) return;
    if (this.sinceSeal > 0) this.seal();
    closeSync(this.fd);
    this.fd = -1;
  }
}
