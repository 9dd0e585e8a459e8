/**
 * The lane's audit key in its data directory (src/audit/lane-key.ts, docs/audit.md "Keys"): created on the
 * first start only. A missing audit-key.pem beside the public key, or beside a trail that holds a
 * checkpoint (or the station's word on one), is refused with E623 naming the file and the key id to
 * restore: before, the lane silently made a new key, kept the old public key beside it, and every later
 * checkpoint failed `audit verify` and was refused by the station (AUDIT_ROLLBACK every 10 minutes).
 */

import { generateKeyPairSync } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import {
  AUDIT_KEY_FILE,
  AUDIT_PUBLIC_KEY_FILE,
  CHECKPOINT_TYPE,
  type CheckpointStatement,
  checkpointHash,
  keyIdOf,
} from "../../src/audit/checkpoint.js";
import { AuditErrorCodes } from "../../src/audit/errors.js";
import { openJournalTrail } from "../../src/audit/journal-trail.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import {
  entries,
  forgeAppend,
  LANE,
  openBoundTrail,
  openLaneJournal,
  openTrail,
  tempDir,
  verifyLane,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-key-"));
});

afterEach(() => cleanup());

/** What opening the lane's trail in `dir` throws (null: it opened, and is closed again). */
async function openError(): Promise<Error | null> {
  const journal = openLaneJournal(dir);
  try {
    const trail = openJournalTrail(journal, {
      dataDir: dir,
      lane: LANE,
      utcOffsetMinutes: 480,
      checkpointIntervalMs: 0,
      retentionCheckMs: 0,
    });
    await trail.close();
    return null;
  } catch (e) {
    return e as Error;
  } finally {
    await journal.close();
  }
}

/** A lane that ran and sealed a checkpoint; returns its key id. */
async function ranOnce(): Promise<string> {
  const l = openBoundTrail(dir);
  l.trail.append({ type: "lane.notice", severity: "info", message: "one" });
  await l.trail.checkpointNow();
  const id = l.trail.key.keyId;
  await l.close();
  expect(verifyLane(dir).ok).toBe(true);
  return id;
}

const read = (f: string): string => readFileSync(join(dir, f), "utf8");

describe("the lane's audit key", () => {
  it("audit-key.pem missing beside its public key: the start is refused with E623 naming the file and the key id, nothing is written", async () => {
    const id = await ranOnce();
    const pub = read(AUDIT_PUBLIC_KEY_FILE);
    rmSync(join(dir, AUDIT_KEY_FILE));
    const e = await openError();
    expect(e && isEtcError(e, AuditErrorCodes.AuditKey)).toBe(true);
    expect(e?.message).toContain(
      `audit key ${join(dir, AUDIT_KEY_FILE)} is missing, but ${join(dir, AUDIT_PUBLIC_KEY_FILE)} shows the lane's key (id ${id})`,
    );
    expect(e?.message).toContain(`restore ${AUDIT_KEY_FILE} from its backup (the key of id ${id})`);
    expect(read(AUDIT_PUBLIC_KEY_FILE)).toBe(pub);
    expect(() => read(AUDIT_KEY_FILE)).toThrow();
    expect(verifyLane(dir).ok).toBe(true);
  });

  it("both key files missing while the trail holds a checkpoint: refused, naming the checkpoint's key id", async () => {
    const id = await ranOnce();
    rmSync(join(dir, AUDIT_KEY_FILE));
    rmSync(join(dir, AUDIT_PUBLIC_KEY_FILE));
    const e = await openError();
    expect(e && isEtcError(e, AuditErrorCodes.AuditKey)).toBe(true);
    expect(e?.message).toMatch(
      new RegExp(
        `is missing, but the trail's checkpoint #\\d+ \\(seq \\d+\\) shows the lane's key \\(id ${id}\\)`,
      ),
    );
  });

  it("both key files missing, no checkpoint in the files, but the station's word on one in the spool: refused", () => {
    const spool = new MemoryAuditSpool();
    spool.setWitness({
      state: "acknowledged",
      n: 3,
      to: 10,
      head: "a".repeat(64),
      hash: "b".repeat(64),
      at: new Date().toISOString(),
    });
    expect(() => openTrail(dir, spool)).toThrow(
      /is missing, but the station's word on checkpoint #3 \(journal\.db meta\.audit_witness\) shows the lane's key/,
    );
  });

  it("restored from its backup, the lane starts again with the same key and the trail verifies", async () => {
    const id = await ranOnce();
    const backup = join(dir, "backup.pem");
    renameSync(join(dir, AUDIT_KEY_FILE), backup);
    expect(await openError()).not.toBeNull();
    renameSync(backup, join(dir, AUDIT_KEY_FILE));
    const l = openBoundTrail(dir);
    expect(l.trail.key.keyId).toBe(id);
    await l.trail.checkpointNow();
    await l.close();
    expect(verifyLane(dir).ok).toBe(true);
  });

  it("audit-key.pem replaced by another key beside the old public key: refused, naming both ids", async () => {
    const id = await ranOnce();
    const other = generateKeyPairSync("ed25519").privateKey;
    writeFileSync(join(dir, AUDIT_KEY_FILE), other.export({ type: "pkcs8", format: "pem" }));
    const e = await openError();
    expect(e && isEtcError(e, AuditErrorCodes.AuditKey)).toBe(true);
    expect(e?.message).toMatch(
      new RegExp(
        `is key [0-9a-f]{16}, but .*${AUDIT_PUBLIC_KEY_FILE} holds key ${id}: one of them was replaced`,
      ),
    );
  });

  it("both key files replaced by another pair (a hardware swap that copied the trail but not the keys): refused, naming both ids", async () => {
    const id = await ranOnce();
    const other = generateKeyPairSync("ed25519");
    writeFileSync(join(dir, AUDIT_KEY_FILE), other.privateKey.export({ type: "pkcs8", format: "pem" }));
    writeFileSync(join(dir, AUDIT_PUBLIC_KEY_FILE), other.publicKey.export({ type: "spki", format: "pem" }));
    const otherId = keyIdOf(other.publicKey);
    const pub = read(AUDIT_PUBLIC_KEY_FILE);
    const e = await openError();
    expect(e && isEtcError(e, AuditErrorCodes.AuditKey)).toBe(true);
    expect(e?.message).toMatch(
      new RegExp(
        `audit key .*${AUDIT_KEY_FILE} is key ${otherId}, but the trail's checkpoint #\\d+ \\(seq \\d+\\) names key ${id}: put back the pair`,
      ),
    );
    expect(read(AUDIT_PUBLIC_KEY_FILE)).toBe(pub);
  });

  it("audit-key.pem replaced by another key with audit-key.pub.pem gone: refused, and no public key is written from the foreign key", async () => {
    const id = await ranOnce();
    const other = generateKeyPairSync("ed25519");
    rmSync(join(dir, AUDIT_PUBLIC_KEY_FILE));
    writeFileSync(join(dir, AUDIT_KEY_FILE), other.privateKey.export({ type: "pkcs8", format: "pem" }));
    const e = await openError();
    expect(e && isEtcError(e, AuditErrorCodes.AuditKey)).toBe(true);
    expect(e?.message).toMatch(
      new RegExp(
        `is key ${keyIdOf(other.publicKey)}, but the trail's checkpoint #\\d+ \\(seq \\d+\\) names key ${id}`,
      ),
    );
    expect(() => read(AUDIT_PUBLIC_KEY_FILE)).toThrow();
  });

  it("a chained, self-hashed checkpoint line naming another key appended after the lane's own (the key files untouched): refused naming that line as not the lane's and the older checkpoint signed with the lane's key, not sending staff to put back a pair", async () => {
    const id = await ranOnce();
    const own = entries(dir).filter((e) => e.type === CHECKPOINT_TYPE);
    const last = own[own.length - 1]!;
    const s = (last.data as { checkpoint: CheckpointStatement }).checkpoint;
    const otherId = keyIdOf(generateKeyPairSync("ed25519").publicKey);
    const planted = forgeAppend(dir, {
      type: CHECKPOINT_TYPE,
      severity: "info",
      message: "checkpoint",
      data: {
        checkpoint: {
          ...s,
          keyId: otherId,
          n: s.n + 1,
          from: s.to + 1,
          to: last.seq,
          prev: checkpointHash(s),
        },
        sig: Buffer.alloc(64).toString("base64"),
      },
    });
    const e = await openError();
    expect(e && isEtcError(e, AuditErrorCodes.AuditKey)).toBe(true);
    expect(e?.message).toContain(
      `is key ${id}, but the trail's checkpoint #${s.n + 1} (seq ${planted.seq}) names key ${otherId}, ` +
        `while checkpoint #${s.n} (seq ${last.seq}) before it is signed with this lane's key ${id}: ` +
        "that checkpoint line is not the lane's (forged or copied in)",
    );
    expect(e?.message).not.toContain("put back the pair");
  });

  it("the first start creates both files; a public key file deleted alone is written again from the private key", async () => {
    const id = await ranOnce();
    expect(read(AUDIT_KEY_FILE)).toContain("PRIVATE KEY");
    rmSync(join(dir, AUDIT_PUBLIC_KEY_FILE));
    const l = openBoundTrail(dir);
    expect(l.trail.key.keyId).toBe(id);
    await l.close();
    expect(read(AUDIT_PUBLIC_KEY_FILE)).toContain("PUBLIC KEY");
    expect(verifyLane(dir).ok).toBe(true);
  });

  it("an empty key file (a power cut during its first write) is written again: the public one from the private key; the private one while nothing shows a key signed", async () => {
    const id = await ranOnce();
    writeFileSync(join(dir, AUDIT_PUBLIC_KEY_FILE), "");
    const l = openBoundTrail(dir);
    expect(l.trail.key.keyId).toBe(id);
    await l.close();
    expect(read(AUDIT_PUBLIC_KEY_FILE)).toContain("PUBLIC KEY");
    expect(verifyLane(dir).ok).toBe(true);
    // a first start cut short: an empty private key file, no public key, no checkpoint
    const fresh = tempDir("etc-audit-key-fresh-");
    try {
      writeFileSync(join(fresh.dir, AUDIT_KEY_FILE), "");
      const again = openBoundTrail(fresh.dir);
      expect(again.trail.key.keyId).toMatch(/\S/);
      await again.close();
      expect(readFileSync(join(fresh.dir, AUDIT_KEY_FILE), "utf8")).toContain("PRIVATE KEY");
    } finally {
      fresh.cleanup();
    }
  });
});
