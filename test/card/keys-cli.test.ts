import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { empty0019 } from "../../sim/card/card-files.js";
import { createCardFromSpec } from "../../sim/card/card-spec.js";
import {
  defaultCardKeysPath,
  deriveCardKeys,
  loadCardKeys,
  parseCardKeys,
  TEST_KEYS_MARKER,
} from "../../sim/card/crypto/keys.js";
import { createPsam } from "../../sim/card/sim-psam.js";
import { registerTac } from "../../sim/cli/commands/tac.js";
import { captureOutput } from "../helpers/cli.js";

const keys = loadCardKeys();
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-card-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isEtcError(e) ? e.code : `non-EtcError: ${String(e)}`;
  }
  return undefined;
}

describe("card key files", () => {
  it("the repository's test keys load, marked test-only", () => {
    expect(defaultCardKeysPath()).toMatch(/config\/keys\/card-test-keys\.json$/);
    expect(keys).toMatchObject({ testOnly: true, algId: 0, keyIndex: 1, keyVersion: 1, levels: 2 });
    expect(keys.purchaseMasterKey.length).toBe(16);
    expect(keys.tacMasterKey.length).toBe(16);
    expect(keys.purchaseMasterKey.equals(keys.tacMasterKey)).toBe(false);
  });

  it("refuses a file without the TEST KEYS ONLY marker unless explicitly allowed", () => {
    const raw = { purchaseMasterKey: "00".repeat(16), tacMasterKey: "11".repeat(16) };
    const p = write("unmarked.json", JSON.stringify(raw));
    expect(codeOf(() => loadCardKeys(p))).toBe("E702_CARD_KEYS_UNMARKED");
    expect(codeOf(() => parseCardKeys({ ...raw, marker: "test keys" }))).toBe("E702_CARD_KEYS_UNMARKED");
    const k = loadCardKeys(p, { allowUnmarked: true });
    expect(k.testOnly).toBe(false);
    expect(k.source).toBe(p);
  });

  it("rejects malformed files with E701 naming the field", () => {
    const m = { marker: TEST_KEYS_MARKER };
    expect(
      codeOf(() => parseCardKeys({ ...m, purchaseMasterKey: "00", tacMasterKey: "11".repeat(16) })),
    ).toBe("E701_CARD_KEYS_INVALID");
    expect(() => parseCardKeys({ ...m, purchaseMasterKey: "00", tacMasterKey: "11".repeat(16) })).toThrow(
      /purchaseMasterKey: expected 32 hex digits/,
    );
    expect(() => parseCardKeys({ ...m, purchaseMasterKey: "00".repeat(16) })).toThrow(/tacMasterKey/);
    expect(() => parseCardKeys({ ...m, ...keysHex(), extra: 1 })).toThrow(/extra|Unrecognized/i);
    expect(() => parseCardKeys({ ...m, ...keysHex(), algorithm: "3des", algId: 4 })).toThrow(
      /does not match/,
    );
    expect(codeOf(() => loadCardKeys(join(dir, "missing.json")))).toBe("E701_CARD_KEYS_INVALID");
    expect(codeOf(() => loadCardKeys(write("broken.json", "{ not json")))).toBe("E701_CARD_KEYS_INVALID");
  });

  it("SM4 key files load but cannot derive keys yet (E703)", () => {
    const sm4 = parseCardKeys({ marker: TEST_KEYS_MARKER, ...keysHex(), algorithm: "sm4" });
    expect(sm4.algId).toBe(4);
    expect(codeOf(() => deriveCardKeys(sm4, "bafec4cf43010001", "1234567890123456"))).toBe(
      "E703_CARD_ALGORITHM_UNSUPPORTED",
    );
  });
});

function keysHex(): { purchaseMasterKey: string; tacMasterKey: string } {
  return {
    purchaseMasterKey: keys.purchaseMasterKey.toString("hex"),
    tacMasterKey: keys.tacMasterKey.toString("hex"),
  };
}

/** A ledger of real purchases by a simulated card, as the lane would write it. */
function makeLedgerLines(n: number): Record<string, unknown>[] {
  const card = createCardFromSpec(
    { province: "湖南", cardId: "43011234567890123456", balance: 100_000 },
    keys,
  );
  const psam = createPsam({ terminalNo: "430100000001", serial: 41, keys });
  const lines: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const amount = 1000 + i;
    const out = card.purchase(psam, { amount, transTime: `2024050112300${i}`, record0019: empty0019() });
    if (out.kind !== "done") throw new Error("not done");
    lines.push({
      obuId: "4301000000000001",
      cardId: card.cardId,
      issuerId: card.snapshot().file0015.issuerId,
      amount,
      tac: out.result.tac,
      iccPaySerial: out.result.iccPaySerial,
      psamNo: out.result.psamNo,
      psamTransSerial: out.result.psamTransSerial,
      transTime: out.result.transTime,
    });
  }
  return lines;
}

describe("etc-sim tac verify", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  async function run(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    const io = captureOutput();
    process.exitCode = undefined;
    const program = new Command("etc-sim").exitOverride();
    registerTac(program);
    let code: number;
    try {
      await program.parseAsync(["node", "etc-sim", ...args]);
      code = typeof process.exitCode === "number" ? process.exitCode : 0;
    } catch (e) {
      io.err += String(e);
      code = 2;
    } finally {
      io.restore();
    }
    process.exitCode = undefined;
    return { stdout: io.out, stderr: io.err, code };
  }

  it("passes a ledger of genuine purchases and flags a tampered line with the expected TAC", async () => {
    const lines = makeLedgerLines(3);
    const good = write("good.jsonl", `${lines.map((l) => JSON.stringify(l)).join("\n")}\n\n`);
    const r1 = await run("tac", "verify", "--ledger", good);
    expect(r1.code).toBe(0);
    expect(r1.stdout.trim().split("\n")).toHaveLength(3);
    expect(r1.stdout).toMatch(
      /^ok {2}line 1 obu 4301000000000001 card 43011234567890123456 icc-serial 0 psam 430100000001\/41/,
    );
    expect(r1.stderr).toMatch(/3 record\(s\): 3 ok, 0 bad/);

    const tampered = [...lines];
    tampered[1] = { ...lines[1], amount: 1 };
    const bad = write("bad.jsonl", `${tampered.map((l) => JSON.stringify(l)).join("\n")}\nnot json\n`);
    const r2 = await run("tac", "verify", "--ledger", bad);
    expect(r2.code).toBe(1);
    const outLines = r2.stdout.trim().split("\n");
    expect(outLines[0]).toMatch(/^ok /);
    expect(outLines[1]).toMatch(
      new RegExp(`^BAD line 2 .* tac ${String(lines[1]?.tac)} expected [0-9a-f]{8} \\(TAC mismatch`),
    );
    expect(outLines[2]).toMatch(/^ok /);
    expect(outLines[3]).toMatch(/^BAD line 4 \(not JSON/);
    expect(r2.stderr).toMatch(/4 record\(s\): 2 ok, 2 bad/);
  });

  it("verifies a single JSON record argument, with --json output", async () => {
    const [line] = makeLedgerLines(1);
    const r = await run("tac", "verify", "--json", JSON.stringify(line));
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as { ok: boolean; expected: string };
    expect(v.ok).toBe(true);
    expect(v.expected).toBe(line?.tac);
    const r2 = await run("tac", "verify", JSON.stringify({ ...line, psamTransSerial: 42 }));
    expect(r2.code).toBe(1);
    expect(r2.stdout).toMatch(/^BAD record/);
  });

  it("refuses an unmarked key file unless --allow-unmarked-keys, and needs exactly one input", async () => {
    const [line] = makeLedgerLines(1);
    const unmarked = write("k.json", JSON.stringify(keysHex()));
    const r1 = await run("tac", "verify", "--keys", unmarked, JSON.stringify(line));
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toMatch(/TEST KEYS ONLY/);
    const r2 = await run("tac", "verify", "--keys", unmarked, "--allow-unmarked-keys", JSON.stringify(line));
    expect(r2.code).toBe(0);
    expect(r2.stderr).toMatch(/not marked as test keys/);
    const r3 = await run("tac", "verify");
    expect(r3.stderr).toMatch(/give one record as a JSON argument, or --ledger FILE/);
  });

  it("is registered in the etc-sim binary", () => {
    const [line] = makeLedgerLines(1);
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "sim/cli/etc-sim.ts", "tac", "verify", JSON.stringify(line)],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    expect(r.stderr).toMatch(/1 record\(s\): 1 ok, 0 bad/);
    expect(r.status).toBe(0);
  });
});
