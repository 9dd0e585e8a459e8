/**
 * `etc-sim reader` as a program: usage and scenario errors, and (over a pty pair) the whole booth
 * purchase driven by a FramedCardReader on the lane end, the card presented through stdin.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { FramedCardReader } from "../../firmware-bridge/reader/framed-card-reader.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import { loadCardKeys } from "../../sim/card/crypto/keys.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { describeEvent } from "../../sim/cli/commands/reader.js";
import { describeReaderEvent, vehicleStep } from "../../sim/cli/reader-beside.js";
import type { LedgerEntry } from "../../sim/ledger/ledger.js";
import type { ReaderSimEvent, ReaderSimulator } from "../../sim/reader/reader-simulator.js";
import { loadReaderScenarioFile } from "../../sim/reader/scenario.js";
import { runStepsFrom } from "../../sim/reader/script.js";
import type { RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { exitRecord0019, preparePsam, purchase, readCard } from "./booth-purchase.js";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/**
 * `etc-sim ARGS` as a child process (killed at the end of the test), its stdout as lines: `line(re)` is
 * the first line matching `re`, and fails at once if the program exits first.
 */
function spawnSim(
  args: string[],
  name: string,
): {
  child: ChildProcess;
  lines: string[];
  line: (re: RegExp) => Promise<string>;
  exited: Promise<number | null>;
} {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "sim/cli/etc-sim.ts", ...args], {
    cwd: PROJECT_ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const gone = exited.then((code) => {
    throw new Error(`${name} exited (${code}); stdout: ${lines.join(" | ")}`);
  });
  gone.catch(() => {});
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  });
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    lines.push(l);
    const i = waiters.findIndex((w) => w.re.test(l));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(l);
  });
  const line = (re: RegExp): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return Promise.race([new Promise<string>((resolve) => waiters.push({ re, resolve })), gone]);
  };
  return { child, lines, line, exited };
}

describe("etc-sim reader: stdout lines", () => {
  it("a fault when armed and when it fires, also one that fires on an APDU", () => {
    const fault = (detail: string) => describeEvent({ type: "fault", fault: "card-mute", detail });
    expect(fault(JSON.stringify({ kind: "card-mute" }))).toBe("fault card-mute armed");
    expect(fault("applied")).toBe("fault card-mute applied");
    expect(fault("applied at card INS 54")).toBe("fault card-mute applied at card INS 54");
  });

  it("a hold that fired and its release; beside the RSU the same lines, prefixed reader:", () => {
    const held: ReaderSimEvent = {
      type: "held",
      name: "CARD_APDU",
      seq: 9,
      status: "ok",
      ins: [0x54],
      cardId: "43012200000000000001",
    };
    expect(describeEvent(held)).toBe(
      "holding replies: CARD_APDU INS 54 ran (ok) on card 43012200000000000001; nothing answered until released",
    );
    expect(describeEvent({ type: "released", dropped: 3, disarmed: 0 })).toBe(
      "released: 3 reply(ies) held back dropped, 0 hold(s) not fired disarmed",
    );
    expect(describeReaderEvent(held)).toBe(`reader: ${describeEvent(held)}`);
    expect(describeReaderEvent({ type: "fault", fault: "hold", detail: "applied at card INS 54" })).toBe(
      "reader: fault hold applied at card INS 54",
    );
  });
});

describe("etc-sim rsu --reader-pty: the vehicle step on stdin", () => {
  it("adds a vehicle with the spec typed, in order with the other steps; a bad spec or step is said", async () => {
    const specs: unknown[] = [];
    const rsu = {
      addVehicle: (spec: unknown) => {
        specs.push(spec);
        return {
          id: `added${specs.length}`,
          obu: { obuId: "0102030405060708" },
          cardId: "43010000000000000001",
        };
      },
    } as unknown as Pick<RsuSimulator, "addVehicle">;
    const said: string[] = [];
    const input = new PassThrough();
    const fourLines = new Promise<void>((resolve) => {
      runStepsFrom(
        input,
        {} as ReaderSimulator, // no reader step runs: the bad one is refused before it reaches the reader
        (l) => {
          said.push(l);
          if (said.length === 4) resolve();
        },
        Promise.resolve(),
        [vehicleStep(rsu, (l) => said.push(l))],
      );
    });
    input.write("vehicle\nvehicle {balance: 20000, zoneMs: 900}\nvehicle [1]\nbogus 1\n");
    await fourLines;
    expect(specs).toEqual([{}, { balance: 20000, zoneMs: 900 }]);
    expect(said).toEqual([
      'bad step: line: unknown step "bogus" (present, remove, wait, fault, waitFor, release, or a {...} step)',
      "vehicle added: added1 obu 0102030405060708 card 43010000000000000001",
      "vehicle added: added2 obu 0102030405060708 card 43010000000000000001",
      'step failed: vehicle: expected a {...} vehicle spec, got "[1]"',
    ]);
  });
});

// review (session 41): `sim.done` had resolved at once for a scenario without vehicles, so the RSU exited
// before the vehicle typed on stdin had even entered
describe("etc-sim rsu --reader-pty --exit-when-done", () => {
  it("exits once stdin has ended and the vehicle it added has left the zone", async () => {
    const r = await runCli("etc-sim", ["rsu", "--pty", "--reader-pty", "--exit-when-done"], {
      input: "vehicle {zoneMs: 200}\n",
    });
    const lines = r.stdout.split("\n");
    expect(r.code, r.stderr).toBe(0);
    expect(lines.find((l) => l.startsWith("vehicle added: "))).toMatch(/^vehicle added: added1 obu /);
    const left = lines.findIndex((l) => / added1 left obu /.test(l));
    const stopped = lines.findIndex((l) => l.startsWith("stopped: "));
    expect([left > 0, stopped > left]).toEqual([true, true]);
  });

  // review (session 41): with stdin left open, or a step the lane never answers, it waited in silence
  it("says what it waits for once every vehicle has passed: stdin to end, then the step still running", async () => {
    const { child, lines, line } = spawnSim(
      ["rsu", "--pty", "--reader-pty", "--exit-when-done"],
      "etc-sim rsu",
    );
    child.stdin!.write("waitFor CARD_APDU\n"); // the pipe stays open
    await line(/^all vehicles passed; waiting for stdin to end \(Ctrl-D\) to exit/);
    child.stdin!.end();
    await line(/^all vehicles passed; waiting for step/);
    expect(lines.filter((l) => l.startsWith("all vehicles passed; waiting for step"))).toEqual([
      'all vehicles passed; waiting for step "waitFor CARD_APDU" (stdin) to finish to exit',
    ]);
    expect(child.exitCode).toBe(null); // the step never ends (no lane): it waits, and now says so
  });
});

describe("etc-sim reader: errors", () => {
  it("needs exactly one of --port and --pty", async () => {
    const r = await runCli("etc-sim", ["reader"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/give exactly one of --port PATH, --pty/);
  });

  it("a bad scenario is refused naming the field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-sim-reader-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "psams:\n  - { slot: 1, terminalNo: xyz }\n");
    const r = await runCli("etc-sim", ["reader", "--port", "/dev/null", "--scenario", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/psams\.0\.terminalNo: expected 12 hex digits/);
    writeFileSync(file, "cards:\n  - { cardId: '43012200000000000001', province: 湖南, balance: -5 }\n");
    const r2 = await runCli("etc-sim", ["reader", "--port", "/dev/null", "--scenario", file]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/cards\[0\]: card spec: balance/);
    // before, accepted, and the INFO encoder threw on the lane's first INFO: an uncaught exception
    writeFileSync(file, `reader: { vendor: ${"读".repeat(86)} }\n`);
    const r3 = await runCli("etc-sim", ["reader", "--port", "/dev/null", "--scenario", file]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/reader\.vendor: expected at most 255 bytes in UTF-8 .*got 258/);
  });

  it("a scenario that is not YAML is refused naming the file (ConfigInvalid)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-sim-reader-"));
    const file = join(dir, "broken.yaml");
    writeFileSync(file, "cards:\n  - { cardId: 1\n{ nope\n");
    expect(() => loadReaderScenarioFile(file)).toThrow(
      expect.objectContaining({
        code: "E401_CONFIG_INVALID",
        message: expect.stringContaining(`reader scenario ${file} is not valid YAML: `),
      }),
    );
    const r = await runCli("etc-sim", ["reader", "--port", "/dev/null", "--scenario", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`reader scenario ${file} is not valid YAML: `);
  });
});

describe("etc-sim reader --pty", () => {
  it("prints lane-port first, takes steps on stdin, runs a booth purchase, writes the ledger", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-sim-reader-"));
    const ledger = join(dir, "ledger.jsonl");
    const { child, lines, line, exited } = spawnSim(
      ["reader", "--pty", "--scenario", "config/scenarios/reader-booth.yaml", "--ledger", ledger],
      "etc-sim reader",
    );
    const first = await line(/^lane-port: /);
    expect(lines[0]).toBe(first);
    // newuser finding 5: the scenario has no script, and the second line said `script done` before any step
    await line(/^(no script|script done)/);
    expect(lines[1]).toBe("no script; reading steps from stdin");
    const lanePath = first.slice("lane-port: ".length);
    const reader = new FramedCardReader({
      transport: createSerialTransport({ path: lanePath, lock: false }),
    });
    cleanup.push(() => reader.close());
    const info = await reader.open();
    expect(info).toMatchObject({ vendor: "etc-sim", model: "desk-reader", serial: "SIM00001" });
    const inserted = new Promise<void>((r) => {
      const sub = reader.cardEvents$.subscribe((e) => {
        if (e.kind !== "inserted") return;
        sub.unsubscribe();
        r();
      });
    });
    child.stdin!.write("present 43012200000000000001\n");
    await inserted;
    const psam = await preparePsam(reader, 1);
    const card = await readCard(reader);
    const out = await purchase(reader, 1, psam, card, 1500, "20250102100005", exitRecord0019());
    expect(out.mac2Verified).toBe(true);
    await line(new RegExp(`paid 1500 tac ${out.tac} serial 3 \\(done\\)`));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(lines.at(-1)).toBe("stopped: 1 debit(s), 1500 fen");
    const entries = readFileSync(ledger, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as LedgerEntry);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ path: "booth", command: "DEBIT", amount: 1500, tac: out.tac });
    expect(verifyTac(entries[0]!, loadCardKeys()).ok).toBe(true);
  });
});

describe("etc-sim rsu --reader-pty --reader-latency-ms", () => {
  it("the latency is a setting, not a fault: a slow fault armed on stdin applies (its WAIT frames reach the host)", async () => {
    const { child, line, exited } = spawnSim(
      ["rsu", "--pty", "--reader-pty", "--reader-latency-ms", "25"],
      "etc-sim rsu",
    );
    const where = await line(/^reader-port: /);
    const reader = new FramedCardReader({
      transport: createSerialTransport({ path: where.slice("reader-port: ".length), lock: false }),
      options: { pingIntervalMs: 0, stillWorkingMs: 5000 },
    });
    cleanup.push(() => reader.close());
    await reader.open();
    child.stdin!.write("{fault: {kind: slow, delayMs: 600, waitEveryMs: 200}}\n");
    await line(/^reader: fault slow armed/);
    await reader.signal({ beep: 0 });
    expect(reader.counters.waits).toBe(2);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
