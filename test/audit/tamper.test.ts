/**
 * Every way of changing a trail that the design says `audit verify` detects, tried on a small real trail
 * (three segment files, records, events, checkpoints): each byte toggled (as journald's bit-fiddling test
 * does), each line deleted, inserted elsewhere, swapped with its neighbour, each file truncated at every
 * length, a re-seal with the lane's own key after an edit, a re-seal without it (checkpoints rewritten
 * around their old or random signatures, a retention cut's anchor so rewritten or left without one), and
 * verification with a wrong key or none. Each time the first problem must name the record. One cut is no tampering: the newest file, which
 * holds only its anchor (a copy of the previous file's last line), emptied; that is what a power cut
 * during a rotation leaves, and nothing the trail held is lost (test/audit/rotation-power-cut.test.ts:
 * emptied when the head copy or the station proves it held more, it is tampering).
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUDIT_KEY_FILE,
  type CheckpointStatement,
  checkpointHash,
  keyIdOf,
  statementBytes,
} from "../../src/audit/checkpoint.js";
import { type AuditEntry, buildLine } from "../../src/audit/entry.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { allLines, binding, laneKey, openTrail, segmentPaths, tempDir, verify } from "./helpers.js";

interface Fixture {
  dir: string;
  spool: MemoryAuditSpool;
  files: { path: string; bytes: Buffer }[];
}

let fx: Fixture;
/** signatures checked once per process: the loops below verify the same checkpoints thousands of times */
const cache = new Map<string, boolean>();

async function buildTrail(dir: string, acknowledge = 0): Promise<MemoryAuditSpool> {
  const spool = new MemoryAuditSpool();
  const t = openTrail(dir, spool, { checkpointEvery: 2, segmentMaxBytes: 700 });
  for (let i = 1; i <= 5; i++) {
    if (i % 3 === 0) {
      const b = binding(i);
      t.bindRecord(b, (slot) => spool.putRow(b.jseq, slot, b.json));
    } else
      t.append({ type: "lane.alarm", severity: "alarm", message: `alarm ${i}`, data: { code: `X${i}` } });
    await t.flush();
  }
  t.append({
    type: "lane.stop",
    severity: "info",
    message: "lane stopped: closed",
    data: { reason: "closed" },
  });
  if (acknowledge > 0) t.witness.acknowledged(acknowledge);
  await t.close();
  return spool;
}

function restore(): void {
  for (const f of fx.files) writeFileSync(f.path, f.bytes);
}

function where(dir: string): { path: string; file: string; starts: number[] }[] {
  return segmentPaths(dir).map((path) => {
    const b = readFileSync(path);
    const starts = [0];
    for (let i = 0; i < b.length; i++) if (b[i] === 10 && i + 1 < b.length) starts.push(i + 1);
    return { path, file: path.split("/").pop()!, starts };
  });
}

let cleanupFixture: () => void;
afterAll(() => cleanupFixture());

beforeAll(async () => {
  const { dir, cleanup } = tempDir("etc-audit-tamper-");
  cleanupFixture = cleanup;
  const spool = await buildTrail(dir);
  fx = { dir, spool, files: segmentPaths(dir).map((path) => ({ path, bytes: readFileSync(path) })) };
  // the fixture is what the tests below assume
  expect(fx.files.length).toBeGreaterThanOrEqual(3);
  expect(verify(fx.dir, fx.spool, { cache })).toMatchObject({ ok: true, problems: [] });
});

describe("changing any single byte", () => {
  it("is detected, naming the line that holds the byte", () => {
    const layout = where(fx.dir);
    const misses: string[] = [];
    for (const [fi, f] of fx.files.entries()) {
      const isLastFile = fi === fx.files.length - 1;
      for (let at = 0; at < f.bytes.length; at++) {
        const b = Buffer.from(f.bytes);
        b[at] = b[at]! ^ 0x01;
        writeFileSync(f.path, b);
        const r = verify(fx.dir, fx.spool, { cache });
        const line = layout[fi]!.starts.filter((s) => s <= at).length;
        const p = r.problems[0];
        const finalNewline = isLastFile && at === f.bytes.length - 1;
        // the newest file's last newline turns its last line into a torn fragment: the head copy catches it
        const named =
          (p?.file === layout[fi]!.file && p?.line === line) ||
          (finalNewline && /head copy names seq/.test(p?.what ?? ""));
        if (r.ok || !named)
          misses.push(`${layout[fi]!.file} byte ${at} (line ${line}): ${JSON.stringify(p ?? null)}`);
      }
      writeFileSync(f.path, f.bytes);
    }
    expect(misses).toEqual([]);
  });
});

describe("deleting, inserting or reordering a record", () => {
  const lines = (): { path: string; text: string[] }[] =>
    fx.files.map((f) => ({ path: f.path, text: f.bytes.toString("utf8").split("\n").slice(0, -1) }));
  const write = (path: string, text: string[]): void => writeFileSync(path, `${text.join("\n")}\n`);
  const seqOf = (l: string): number => (JSON.parse(l) as AuditEntry).seq;

  it("deleting any line is detected, naming the deleted record or its neighbour", () => {
    const misses: string[] = [];
    for (const f of lines()) {
      for (let i = 0; i < f.text.length; i++) {
        const d = seqOf(f.text[i]!);
        write(
          f.path,
          f.text.filter((_, k) => k !== i),
        );
        const r = verify(fx.dir, fx.spool, { cache });
        const s = r.problems[0]?.seq ?? -1;
        if (r.ok || s < d - 1 || s > d + 1)
          misses.push(`${f.path} line ${i + 1} (seq ${d}): ${JSON.stringify(r.problems[0] ?? null)}`);
        restore();
      }
    }
    expect(misses).toEqual([]);
  });

  it("inserting a copy of any line elsewhere is detected at the inserted line", () => {
    const misses: string[] = [];
    for (const f of lines()) {
      for (let i = 0; i < f.text.length; i++) {
        for (const j of [i - 1, i + 2, f.text.length]) {
          if (j < 0 || j > f.text.length) continue;
          const t = [...f.text];
          t.splice(j, 0, f.text[i]!);
          write(f.path, t);
          const r = verify(fx.dir, fx.spool, { cache });
          const p = r.problems[0];
          if (r.ok || p?.line !== j + 1)
            misses.push(`${f.path}: line ${i + 1} copied to ${j + 1}: ${JSON.stringify(p ?? null)}`);
          restore();
        }
      }
    }
    expect(misses).toEqual([]);
  });

  it("swapping any two neighbouring lines is detected at the first of them", () => {
    const misses: string[] = [];
    for (const f of lines()) {
      for (let i = 0; i + 1 < f.text.length; i++) {
        const t = [...f.text];
        [t[i], t[i + 1]] = [t[i + 1]!, t[i]!];
        write(f.path, t);
        const r = verify(fx.dir, fx.spool, { cache });
        // named as moved (or, a file's first line, as no copy of the previous file's last), never as lines
        // deleted alone: nothing was
        const p = r.problems[0];
        if (r.ok || p?.line !== i + 1 || !/moved|is not a copy of the last line/.test(p.what))
          misses.push(`${f.path}: lines ${i + 1}/${i + 2}: ${JSON.stringify(p ?? null)}`);
        restore();
      }
    }
    expect(misses).toEqual([]);
  });
});

describe("truncating a file", () => {
  const nameOf = (path: string): string => path.split("/").pop()!;

  /**
   * What verify must name first for file `fi` cut to `len` bytes: mid-line, that file's incomplete line;
   * whole lines lost, the next file's first line (its seq does not follow); the whole file emptied, its
   * own first line (no longer the copy of the previous file's last). The newest file has no next file:
   * its only line is the previous file's copy, and cut to a part of it, it is no copy; emptied, it is
   * what a power cut during the rotation leaves (its anchor not on the disk yet, the head copy naming the
   * entry before it): null, verify reports the missing anchor and passes.
   */
  function expectedProblem(fi: number, len: number): { file: string; line: number; what: string } | null {
    const f = fx.files[fi]!;
    const name = nameOf(f.path);
    const kept = f.bytes.subarray(0, len);
    const line = kept.filter((b) => b === 10).length + 1; // the first line cut or lost
    const prev = fx.files[fi - 1];
    const next = fx.files[fi + 1];
    const notACopy = (): { file: string; line: number; what: string } => ({
      file: name,
      line: 1,
      what: `the first line of ${name} is not a copy of the last line of ${nameOf(prev!.path)}`,
    });
    if (next === undefined) return len === 0 ? null : notACopy();
    if (len > 0 && f.bytes[len - 1] !== 10)
      return {
        file: name,
        line,
        what: "the file ends with an incomplete line although a newer file follows",
      };
    if (len === 0 && prev !== undefined) return notACopy();
    const lost = (JSON.parse(f.bytes.toString("utf8").split("\n")[line - 1]!) as AuditEntry).seq;
    const nextName = nameOf(next.path);
    const firstOfNext = (JSON.parse(next.bytes.toString("utf8").split("\n")[0]!) as AuditEntry).seq;
    return {
      file: nextName,
      line: 1,
      what: `file ${nextName} starts at seq ${firstOfNext + 1}, but seq ${lost} comes next: entries or files are missing`,
    };
  }

  it("at each line end, next to it and mid-line is detected, naming the cut line or the next file's anchor (the newest file, only its anchor, emptied: reported as a power cut's)", () => {
    // the newest file is one line (the copy that anchors it), so every cut of it loses that copy
    expect(fx.files.at(-1)!.bytes.filter((b) => b === 10)).toHaveLength(1);
    const misses: string[] = [];
    let cases = 0;
    let powerCuts = 0;
    for (const [fi, f] of fx.files.entries()) {
      const cuts = new Set<number>();
      let start = 0;
      for (let i = 0; i < f.bytes.length; i++) {
        if (f.bytes[i] !== 10) continue;
        for (const c of [start, start + 1, (start + i) >> 1, i, i + 1]) if (c < f.bytes.length) cuts.add(c);
        start = i + 1;
      }
      for (const len of cuts) {
        truncateSync(f.path, len);
        const r = verify(fx.dir, fx.spool, { cache });
        const want = expectedProblem(fi, len);
        const got = r.problems[0];
        cases++;
        if (want === null) powerCuts++;
        const asWanted =
          want === null
            ? r.ok && r.anchorMissing?.file === nameOf(f.path)
            : !r.ok && got?.file === want.file && got.line === want.line && got.what === want.what;
        if (!asWanted)
          misses.push(
            `${nameOf(f.path)} cut to ${len} bytes: want ${JSON.stringify(want)}, got ${JSON.stringify(got ?? null)}`,
          );
        writeFileSync(f.path, f.bytes);
      }
    }
    expect(cases).toBeGreaterThan(fx.files.length * 4);
    expect(powerCuts).toBe(1);
    expect(misses).toEqual([]);
  });
});

/**
 * Re-chains every entry after `edit` and rewrites every checkpoint's head and prev to match: a full re-seal.
 * `signWith`: the private key (PEM) each checkpoint is signed again with; "keep": each keeps its old
 * signature (a keyless forger's re-seal); "random": each gets 64 random bytes. The first entry keeps its
 * `prev`, a checkpoint whose head lies before the files (the anchor of a trail retention cut) its head, and
 * the first checkpoint its `prev`.
 */
function reseal(dir: string, signWith: Buffer | "keep" | "random", edit: (e: AuditEntry) => void): void {
  const key = Buffer.isBuffer(signWith) ? createPrivateKey(signWith) : null;
  const byFile = new Map<string, AuditEntry[]>();
  const unique = new Map<number, AuditEntry>();
  for (const l of allLines(dir)) {
    const e = JSON.parse(l.text) as AuditEntry;
    byFile.set(l.path, [...(byFile.get(l.path) ?? []), e]);
    unique.set(e.seq, e);
  }
  const rebuilt = new Map<number, string>();
  const ordered = [...unique.values()].sort((a, b) => a.seq - b.seq);
  let prev = ordered[0]!.prev;
  let prevCp: string | null = null;
  const hashes = new Map<number, string>();
  for (const e of ordered) {
    edit(e);
    if (e.type === "audit.checkpoint") {
      const d = e.data as { checkpoint: CheckpointStatement; sig: string };
      d.checkpoint.head = hashes.get(d.checkpoint.to) ?? d.checkpoint.head;
      d.checkpoint.prev = prevCp ?? d.checkpoint.prev;
      if (key) d.sig = sign(null, statementBytes(d.checkpoint), key).toString("base64");
      else if (signWith === "random") d.sig = randomBytes(64).toString("base64");
      prevCp = checkpointHash(d.checkpoint);
    }
    const b = buildLine(
      e.seq,
      e.time,
      e.utc,
      { type: e.type, severity: e.severity, message: e.message, data: e.data! },
      prev,
    );
    rebuilt.set(e.seq, b.line);
    hashes.set(e.seq, b.hash);
    prev = b.hash;
  }
  for (const [path, es] of byFile) writeFileSync(path, es.map((e) => rebuilt.get(e.seq)!).join(""));
}

describe("re-sealing and keys", () => {
  it("an edit re-sealed with the lane's own key is caught by the checkpoint the station acknowledged", async () => {
    const { dir, cleanup } = tempDir("etc-audit-reseal-");
    try {
      const spool = await buildTrail(dir, 2);
      const station = spool.witness()!;
      const cp2 = allLines(dir)
        .map((l) => JSON.parse(l.text) as AuditEntry)
        .find(
          (e) =>
            e.type === "audit.checkpoint" && (e.data as { checkpoint: { n: number } }).checkpoint.n === 2,
        )!;
      reseal(dir, readFileSync(join(dir, AUDIT_KEY_FILE)), (e) => {
        if (e.seq === 1) e.message = "nothing to see here";
      });
      const withoutWitness = verify(dir, null);
      expect(withoutWitness.problems).toEqual([]); // the key holder's forgery checks out on its own...
      const r = verify(dir, spool); // ...but not against what the station acknowledged
      expect(r.ok).toBe(false);
      expect(r.problems[0]).toMatchObject({ seq: cp2.seq });
      expect(r.problems[0]!.what).toMatch(new RegExp(`checkpoint #${station.n} .*station acknowledged`));
    } finally {
      cleanup();
    }
  });

  it("verifying with a wrong key fails, naming the first checkpoint", () => {
    const wrong = generateKeyPairSync("ed25519").publicKey;
    const r = verify(fx.dir, fx.spool, { key: wrong });
    expect(r.ok).toBe(false);
    expect(r.problems[0]!.what).toMatch(
      /checkpoint #1 is signed with key [0-9a-f]{16}; the key used to verify is/,
    );
  });

  it("verifying with no key fails closed", () => {
    const r = verify(fx.dir, fx.spool, { key: null });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.what)).toContain(
      "no public key: the checkpoints' signatures cannot be checked",
    );
  });

  it("with no key and a changed byte, the first problem is still the changed record, the key's absence after it", () => {
    const f = fx.files[1]!;
    const layout = where(fx.dir)[1]!;
    const b = Buffer.from(f.bytes);
    const at = layout.starts[1]! + 3;
    b[at] = b[at]! ^ 0x01;
    writeFileSync(f.path, b);
    try {
      const r = verify(fx.dir, fx.spool, { key: null, cache });
      expect(r.ok).toBe(false);
      expect(r.problems[0]).toMatchObject({ file: layout.file, line: 2 });
      expect(r.problems.at(-1)!.what).toBe("no public key: the checkpoints' signatures cannot be checked");
    } finally {
      restore();
    }
  });

  it("a trail re-signed with a substituted key passes with the key beside it, fails with the lane's real key", async () => {
    const { dir, cleanup } = tempDir("etc-audit-subst-");
    try {
      const spool = await buildTrail(dir);
      const real = laneKey(dir);
      const forged = generateKeyPairSync("ed25519");
      writeFileSync(join(dir, AUDIT_KEY_FILE), forged.privateKey.export({ type: "pkcs8", format: "pem" }));
      writeFileSync(join(dir, "audit-key.pub.pem"), forged.publicKey.export({ type: "spki", format: "pem" }));
      const forgedId = (await import("../../src/audit/checkpoint.js")).keyIdOf(forged.publicKey);
      reseal(dir, readFileSync(join(dir, AUDIT_KEY_FILE)), (e) => {
        if (e.type === "audit.checkpoint")
          (e.data as { checkpoint: CheckpointStatement }).checkpoint.keyId = forgedId;
      });
      expect(verify(dir, null).ok).toBe(true);
      const r = verify(dir, null, { key: real });
      expect(r.ok).toBe(false);
      expect(r.problems[0]!.what).toMatch(/checkpoint #1 is signed with key/);
      void spool;
    } finally {
      cleanup();
    }
  });
});

/** A trail retention cut without a retention entry: its oldest file deleted, the next one's anchor kept. */
function cutOldest(dir: string): { file: string; anchor: AuditEntry } {
  rmSync(segmentPaths(dir)[0]!);
  const first = allLines(dir)[0]!;
  return { file: first.file, anchor: JSON.parse(first.text) as AuditEntry };
}

describe("a checkpoint rewritten without the key", () => {
  const cpOf = (e: AuditEntry) => e.data as { checkpoint: CheckpointStatement; sig?: unknown };

  it.each([
    ["its old signature", "keep"],
    ["a random 64-byte signature", "random"],
  ] as const)(
    "an edit re-chained, each checkpoint's head and prev rewritten with %s, is named at checkpoint #1: its signature does not verify",
    async (_, sig) => {
      const { dir, cleanup } = tempDir("etc-audit-keyless-");
      try {
        await buildTrail(dir);
        const keyId = keyIdOf(laneKey(dir));
        reseal(dir, sig, (e) => {
          if (e.seq === 1) e.message = "nothing to see here";
        });
        const cp1 = allLines(dir).find(
          (l) => l.text.includes('"audit.checkpoint"') && l.text.includes('"n":1,'),
        )!;
        // the rewrite keeps the lane's key id: the check that can fail is the signature's
        expect(cpOf(JSON.parse(cp1.text) as AuditEntry).checkpoint.keyId).toBe(keyId);
        const r = verify(dir, null);
        expect(r.ok).toBe(false);
        expect(r.problems[0]).toEqual({
          seq: (JSON.parse(cp1.text) as AuditEntry).seq,
          file: cp1.file,
          line: cp1.line,
          what: `checkpoint #1: the signature does not verify with key ${keyId}`,
        });
      } finally {
        cleanup();
      }
    },
  );

  it("the anchor of a trail retention cut, its time moved back and the chain after it rewritten, keeping its signature: its signature does not verify", async () => {
    const { dir, cleanup } = tempDir("etc-audit-keyless-anchor-");
    try {
      await buildTrail(dir);
      const keyId = keyIdOf(laneKey(dir));
      const { file, anchor } = cutOldest(dir);
      const n = cpOf(anchor).checkpoint.n;
      reseal(dir, "keep", (e) => {
        if (e.seq === anchor.seq) cpOf(e).checkpoint.time = "2020-01-01T00:00:00.000Z";
      });
      const r = verify(dir, null);
      expect(r.ok).toBe(false);
      expect(r.problems[0]).toEqual({
        seq: anchor.seq,
        file,
        line: 1,
        what: `the anchor checkpoint #${n}: the signature does not verify with key ${keyId}`,
      });
    } finally {
      cleanup();
    }
  });

  it.each([
    ["without a signature", undefined],
    ["with a number for a signature", 0],
    ["with an object for a signature", {}],
  ])(
    "the anchor of a trail retention cut %s (its own hash recomputed) is named as malformed; verify does not throw",
    async (_, sig) => {
      // before: Buffer.from(sig, "base64") threw a TypeError out of verify, which named no record
      const { dir, cleanup } = tempDir("etc-audit-anchor-sig-");
      try {
        await buildTrail(dir);
        const { file, anchor } = cutOldest(dir);
        const data = cpOf(anchor);
        if (sig === undefined) delete data.sig;
        else data.sig = sig;
        const path = segmentPaths(dir)[0]!;
        const rest = readFileSync(path, "utf8").split("\n").slice(1).join("\n");
        const line = buildLine(
          anchor.seq,
          anchor.time,
          anchor.utc,
          { type: anchor.type, severity: anchor.severity, message: anchor.message, data: anchor.data! },
          anchor.prev,
        ).line;
        writeFileSync(path, line + rest);
        const r = verify(dir, null);
        expect(r.ok).toBe(false);
        expect(r.problems[0]).toEqual({
          seq: anchor.seq,
          file,
          line: 1,
          what: "the anchor checkpoint is malformed: no signature",
        });
      } finally {
        cleanup();
      }
    },
  );
});
