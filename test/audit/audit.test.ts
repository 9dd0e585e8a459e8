import { createHash } from "node:crypto";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AUDIT_FILE, AuditLog, readAuditLog, verifyAuditLog } from "../../src/audit/audit-log.js";
import { tempDir } from "../journal/helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-"));
});
afterEach(() => cleanup());

const file = (): string => join(dir, AUDIT_FILE);
const readLines = (): string[] => readFileSync(file(), "utf8").split("\n").filter(Boolean);

function fill(n: number, sealEvery = 0): void {
  const a = AuditLog.open({ dataDir: dir, sealEvery });
  for (let i = 0; i < n; i++)
    a.append({ type: "test.event", severity: "info", message: `event ${i}`, data: { i } });
  a.close();
}

describe("audit log hash chain", () => {
  it("appends, survives reopen, and verifies", () => {
    fill(5);
    const a = AuditLog.open({ dataDir: dir, sealEvery: 0 });
    const e = a.append({ type: "uplink.state", severity: "alarm", message: "offline" });
    expect(e.i).toBe(5);
    expect(a.verify()).toEqual({ ok: true, entries: 6, seals: 0, unsealed: 6 });
    a.close();
    expect([...readAuditLog(dir)].map((x) => x.message)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `event ${i}`).concat("offline"),
    );
  });

  it("an edited line breaks the chain at that line", () => {
    fill(6);
    const lines = readLines();
    lines[3] = lines[3]!.replace("event 3", "event 9");
    writeFileSync(file(), `${lines.join("\n")}\n`);
    const r = verifyAuditLog(dir);
    expect(r).toMatchObject({ ok: false, firstBadIndex: 3, line: 4 });
    expect(r.reason).toMatch(/hash/);
  });

  it("a deleted line is detected", () => {
    fill(6);
    const lines = readLines();
    lines.splice(2, 1);
    writeFileSync(file(), `${lines.join("\n")}\n`);
    expect(verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadIndex: 2 });
  });

  it("a torn last write is cut off at open, noted in the chain, and the log verifies again", () => {
    fill(3);
    appendFileSync(file(), '{"i":3,"ts":"2026-');
    expect(verifyAuditLog(dir)).toMatchObject({
      ok: false,
      firstBadIndex: 3,
      reason: expect.stringMatching(/torn/),
    });
    const a = AuditLog.open({ dataDir: dir, sealEvery: 0 });
    a.close();
    const entries = [...readAuditLog(dir)];
    expect(entries.map((e) => e.type)).toEqual(["test.event", "test.event", "test.event", "audit.torn-tail"]);
    expect(verifyAuditLog(dir).ok).toBe(true);
  });
});

describe("audit seals (Ed25519)", () => {
  it("seals every N entries and on close; signatures verify", () => {
    fill(7, 3);
    const types = [...readAuditLog(dir)].map((e) => e.type);
    expect(types.filter((t) => t === "audit.seal")).toHaveLength(3); // after 3, after 6, on close
    expect(verifyAuditLog(dir)).toMatchObject({ ok: true, seals: 3, unsealed: 0 });
  });

  it("re-hashing the whole chain after an edit is caught by the seal signature", () => {
    fill(4, 2);
    // an editor without the key recomputes every hash after changing one message
    const lines = readLines().map((l) => JSON.parse(l) as Record<string, unknown>);
    lines[0]!.message = "nothing happened";
    let prev = "0".repeat(64);
    const out: string[] = [];
    for (const e of lines) {
      delete e.hash;
      e.prev = prev;
      if (e.type === "audit.seal") (e.data as { head: string }).head = prev;
      const body = JSON.stringify(e);
      const hash = createHash("sha256").update(body).digest("hex");
      out.push(`${body.slice(0, -1)},"hash":"${hash}"}`);
      prev = hash;
    }
    writeFileSync(file(), `${out.join("\n")}\n`);
    const r = verifyAuditLog(dir);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/signature/);
  });
});
